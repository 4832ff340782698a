"""Atomic outputs: a result appears complete or not at all (standard library only).

Commands writing into a user-named folder own only the files they list in a marker file
(:func:`owned_directory`); everything else there is kept.

Everything is written under a hidden temporary sibling name and renamed into place, so a
crash or ``kill -9`` never leaves a half-written file that looks complete and never
destroys the previous result.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from fisbe_bench.errors import FisbeError


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{uuid.uuid4().hex[:8]}")


def write_bytes(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (``fsync`` first when asked); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; return the path."""
    return write_bytes(path, text.encode("utf-8"))


def replace_directory(source: Path, dest: Path) -> None:
    """Move the folder ``source`` to ``dest``; an existing ``dest`` is swapped out, then
    deleted, and restored if the move fails."""
    if not dest.exists():
        os.replace(source, dest)
        return
    old = _sibling(dest, "old")
    os.replace(dest, old)
    try:
        os.replace(source, dest)
    except BaseException:
        os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        yield tmp
        replace_directory(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def owned_files(path: str | Path, marker: str) -> list[str] | None:
    """Files that the ``marker`` file in folder ``path`` lists as written by its command;
    ``None`` when there is no marker (an empty or missing folder lists nothing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FisbeError("output exists and is not a folder", path)
    try:
        data = json.loads((path / marker).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [] if not path.exists() or not any(path.iterdir()) else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FisbeError(f"cannot read {marker}: {err}", path) from err
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(_plain_name(f) for f in files):
        raise FisbeError(f"{marker} does not list plain file names", path)
    return files


def check_output_folder(path: str | Path, marker: str, *, overwrite: bool) -> list[str]:
    """The files an earlier run listed in ``path/marker``. A non-empty folder without the
    marker is refused unless ``overwrite`` (then nothing in it counts as owned)."""
    files = owned_files(path, marker)
    if files is None and not overwrite:
        raise FisbeError(
            f"output folder is not empty and was not written by this command ({marker} is"
            " missing); choose another folder or pass --overwrite (only its own files are"
            " replaced)",
            path,
        )
    return files or []


@contextlib.contextmanager
def owned_directory(
    path: str | Path, marker: str, info: dict[str, str], *, overwrite: bool, last: str
) -> Iterator[Path]:
    """Yield an empty temporary sibling of folder ``path``; on success move each file written
    there into ``path`` and record them in ``path/marker`` (with ``info``).

    Only the command's own files are touched: those written now (``last`` is moved last and
    removed first, so its presence means a complete set) and those the marker lists from an
    earlier run (deleted when not written again). Anything else in ``path`` is kept.
    """
    path = Path(path)
    previous = check_output_folder(path, marker, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(path, "tmp")
    try:
        tmp.mkdir()
        yield tmp
        written = sorted(p.name for p in tmp.iterdir())
        path.mkdir(exist_ok=True)

        def record(files: list[str]) -> None:
            write_text(path / marker, json.dumps({**info, "files": files}, indent=2) + "\n")

        record(sorted({*previous, *written}))  # a crash from here on leaves them all owned
        (path / last).unlink(missing_ok=True)
        for name in sorted(set(previous) - set(written)):
            (path / name).unlink(missing_ok=True)
        for name in sorted(written, key=lambda n: n == last):
            os.replace(tmp / name, path / name)
        record(written)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name

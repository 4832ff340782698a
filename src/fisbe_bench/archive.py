"""Safe extraction of a FISBe archive into ``resources/<dataset>/<set>``.

Every member is checked before anything is written: absolute paths, ``..`` components,
symbolic links and names that would land outside the destination are refused. The
archive is unpacked into a temporary sibling of the destination, which is moved into
place only once it holds ``{train,val,test}/<sample>.zarr``, so no partial output ever
appears where a complete one is expected.
"""

from __future__ import annotations

import argparse
import shutil
import stat
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Literal

from fisbe_bench.atomic import replace_directory
from fisbe_bench.contract import SETS, SPLITS
from fisbe_bench.errors import FisbeError

LabelledSet = Literal["completely", "partly"]
MAX_ROOT_DEPTH = 3


def check_member(info: zipfile.ZipInfo, root: Path) -> Path:
    """Target of a member below ``root``; ValueError names why an unsafe member is refused."""
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ValueError("absolute path")
    if ".." in parts:
        raise ValueError("'..' path component")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ValueError("symbolic link")
    if "\\" in name:
        raise ValueError("backslash in member name")
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise ValueError("target outside the destination (zip slip)")
    return target


def extract(zip_path: str | Path, dest_dir: str | Path, *, expect_set: LabelledSet) -> Path:
    """Extract the ``expect_set`` folder of a FISBe zip into ``dest_dir``, atomically.

    The archive may hold ``<set>/{train,val,test}`` at its root or below a wrapper folder
    (``fisbe_v1.0/<set>/...``). ``dest_dir`` ends up holding ``{train,val,test}``; an
    existing ``dest_dir`` is replaced only after the new content is complete.
    """
    if expect_set not in SETS:
        raise ValueError(f"expect_set must be one of {SETS}, not {expect_set!r}")
    return _unpack(zip_path, dest_dir, lambda root: find_set_dir(root, expect_set, zip_path))


def extract_predictions(zip_path: str | Path, dest_dir: str | Path) -> Path:
    """Extract a zip of ``<sample>.{zarr,hdf,h5,tif,tiff}`` predictions into ``dest_dir``.

    The predictions may sit at the archive's root or inside one wrapper folder; the
    folder is replaced atomically, only once it holds at least one prediction.
    """
    from fisbe_bench.volumes import VOLUME_SUFFIXES

    def predictions_in(folder: Path) -> bool:
        return any(path.suffix.lower() in VOLUME_SUFFIXES for path in folder.iterdir())

    def locate(root: Path) -> Path:
        entries = list(root.iterdir())
        if len(entries) == 1 and entries[0].is_dir() and not predictions_in(root):
            root = entries[0]  # one wrapper folder
        if not predictions_in(root):
            raise FisbeError(
                f"no <sample>{{{','.join(VOLUME_SUFFIXES)}}} predictions at the archive's root "
                "or in its single top folder",
                zip_path,
            )
        return root

    return _unpack(zip_path, dest_dir, locate)


def _unpack(zip_path: str | Path, dest_dir: str | Path, locate: Callable[[Path], Path]) -> Path:
    """Check every member, extract into a temp sibling of ``dest_dir``, then move
    ``locate(temp)`` into place; nothing is left behind on failure."""
    zip_path, dest_dir = Path(zip_path), Path(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest_dir.with_name(f".{dest_dir.name}.extract-{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            tmp.mkdir()
            root = tmp.resolve()
            members = []
            for info in archive.infolist():
                try:
                    members.append((info, check_member(info, root)))
                except ValueError as err:
                    raise FisbeError(f"refusing member {info.filename!r}: {err}", zip_path) from err
            for info, target in members:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        replace_directory(locate(tmp), dest_dir)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as err:
        raise FisbeError(f"not a readable zip archive: {err}", zip_path) from err
    except OSError as err:
        raise FisbeError(
            f"cannot extract into {dest_dir}: {err.strerror or err}", zip_path
        ) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest_dir


def find_set_dir(root: Path, expect_set: str, zip_path: str | Path) -> Path:
    """The folder named ``expect_set`` holding split folders with at least one ``.zarr``."""
    candidates = sorted(
        path
        for depth in range(MAX_ROOT_DEPTH)
        for path in root.glob("/".join(["*"] * depth + [expect_set]))
        if path.is_dir() and any((path / split).is_dir() for split in SPLITS)
    )
    if not candidates:
        raise FisbeError(
            f"no '{expect_set}/{{train,val,test}}' folder in the archive (is it the "
            f"{expect_set} labelled set?)",
            zip_path,
        )
    if len(candidates) > 1:
        found = ", ".join(str(path.relative_to(root)) for path in candidates)
        raise FisbeError(f"several '{expect_set}' folders in the archive: {found}", zip_path)
    set_dir = candidates[0]
    if not any(path.is_dir() for split in SPLITS for path in (set_dir / split).glob("*.zarr")):
        raise FisbeError(f"'{set_dir.relative_to(root)}' holds no <split>/<sample>.zarr", zip_path)
    return set_dir


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fisbe-bench extract``."""
    parser.add_argument("zip", type=Path, help="FISBe archive (.zip)")
    parser.add_argument(
        "--out", required=True, type=Path, help="destination, e.g. resources/<dataset>/<set>"
    )
    parser.add_argument("--set", required=True, choices=SETS, help="labelled set to extract")


def run(args: argparse.Namespace) -> int:
    """Extract one labelled set of an archive."""
    extract(args.zip, args.out, expect_set=args.set)
    return 0

"""Resumable, checksum-verified HTTP downloads (stdlib ``urllib``), and the checksum table.

Importable with the standard library alone (the Snakefile reads the checksum table).

Bytes go to ``<dest>.part`` first; an interrupted transfer resumes from there with a
``Range`` request. Only a file whose checksum matches is moved to ``dest``, so a
partial or corrupt download never sits where a complete one is expected.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from fisbe_bench import __version__
from fisbe_bench.errors import FisbeError

Algorithm = Literal["md5", "sha256"]
DIGEST_LENGTH = {"md5": 32, "sha256": 64}
CHUNK_SIZE = 1 << 20
MAX_BACKOFF_S = 60.0
TABLE_COLUMNS = ["name", "url", "size", "md5"]
_TRANSIENT_4XX = {408, 429}
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


@dataclass(frozen=True)
class Entry:
    """One row of the checksum table; ``size`` and ``md5`` are None when unknown."""

    name: str
    url: str
    size: int | None
    md5: str | None


class _Retry(Exception):
    """A transient failure: the next attempt resumes from the ``.part`` file."""


def read_checksum_table(path: str | Path) -> dict[str, Entry]:
    """Read a tab-separated checksum table (name, url, size, md5; ``#`` comments).

    Empty size or md5 cells mean "unknown". Returns the entries keyed by name.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise FisbeError(f"cannot read checksum table: {err}", path) from err
    rows = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    rows = [(n, line) for n, line in rows if not line.lstrip().startswith("#")]
    if not rows or [c.strip() for c in rows[0][1].split("\t")] != TABLE_COLUMNS:
        raise FisbeError(f"header must be the tab-separated columns {TABLE_COLUMNS}", path)
    entries: dict[str, Entry] = {}
    for number, line in rows[1:]:
        cells = [cell.strip() for cell in line.split("\t")]
        cells += [""] * (len(TABLE_COLUMNS) - len(cells))
        name, url, size, md5 = cells[: len(TABLE_COLUMNS)]
        problem = None
        if len(cells) > len(TABLE_COLUMNS):
            problem = f"expected {len(TABLE_COLUMNS)} tab-separated columns, got {len(cells)}"
        elif not name or not url:
            problem = "name and url must not be empty"
        elif name in entries:
            problem = f"duplicate name {name!r}"
        elif size and not size.isdigit():
            problem = f"size {size!r} is not a whole number of bytes"
        elif md5 and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            problem = f"md5 {md5!r} is not 32 hexadecimal digits"
        if problem:
            raise FisbeError(f"line {number}: {problem}", path)
        entries[name] = Entry(name, url, int(size) if size else None, md5.lower() or None)
    return entries


def file_digest(path: str | Path, algorithm: Algorithm = "md5") -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | Path,
    *,
    checksum: str,
    algorithm: Algorithm = "md5",
    retries: int = 5,
    timeout: float = 60.0,
    progress: bool = True,
    size: int | None = None,
    backoff: float = 1.0,
) -> Path:
    """Download ``url`` to ``dest``, resuming and retrying, and verify its checksum.

    Transient failures (connection errors, timeouts, HTTP 5xx, truncated bodies) are
    retried up to ``retries`` times with exponential backoff starting at ``backoff``
    seconds; an attempt that extends the ``.part`` file does not use up a retry.
    HTTP 4xx, a checksum or size mismatch and a full disk raise :class:`FisbeError`.
    A full disk keeps the ``.part`` for resuming; a size or checksum mismatch deletes it.
    An existing ``dest`` whose checksum matches is kept without any network access.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if algorithm not in DIGEST_LENGTH:
        raise ValueError(f"unsupported checksum algorithm {algorithm!r}")
    if not re.fullmatch(rf"[0-9a-fA-F]{{{DIGEST_LENGTH[algorithm]}}}", checksum or ""):
        raise FisbeError(f"{checksum!r} is not a valid {algorithm} checksum", dest)
    checksum = checksum.lower()
    if dest.is_file() and file_digest(dest, algorithm) == checksum:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)

    failures, largest = 0, _size(part)
    while True:
        try:
            _fetch(url, part, timeout=timeout, progress=progress, dest=dest)
            break
        except _Retry as err:
            grown = _size(part) > largest
            largest = max(largest, _size(part))
            failures += 0 if grown else 1
            if failures > retries:
                raise FisbeError(
                    f"download of {url} failed after {retries} retries: {err} "
                    f"(partial download kept in {part.name} for resuming)",
                    dest,
                ) from err
            time.sleep(min(backoff * 2 ** max(failures - 1, 0), MAX_BACKOFF_S))

    received = _size(part)
    if size is not None and received != size:
        part.unlink(missing_ok=True)
        raise FisbeError(
            f"size mismatch for {dest.name}: expected {size} bytes, got {received} "
            "(the partial download was deleted)",
            dest,
        )
    actual = file_digest(part, algorithm)
    if actual != checksum:
        part.unlink(missing_ok=True)
        raise FisbeError(
            f"{algorithm} mismatch for {dest.name}: expected {checksum}, got {actual} "
            "(the download was deleted)",
            dest,
        )
    os.replace(part, dest)
    return dest


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _fetch(url: str, part: Path, *, timeout: float, progress: bool, dest: Path) -> None:
    """One attempt: append the rest of ``url`` to ``part``; raise ``_Retry`` if transient."""
    from tqdm import tqdm  # imported on use: the Snakefile reads the checksum table stdlib-only

    offset = _size(part)
    headers = {"User-Agent": f"fisbe-bench/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            match = _CONTENT_RANGE.fullmatch(err.headers.get("Content-Range", "").strip())
            if match and match.group(3) == str(offset):
                return  # the .part already holds the whole file
            part.unlink(missing_ok=True)
            raise _Retry(f"HTTP 416: {part.name} does not fit the remote file; restarting") from err
        if 400 <= err.code < 500 and err.code not in _TRANSIENT_4XX:
            raise FisbeError(f"HTTP {err.code} {err.reason} for {url}", dest) from err
        raise _Retry(f"HTTP {err.code} {err.reason}") from err
    except (http.client.HTTPException, OSError) as err:  # URLError is an OSError
        raise _Retry(f"cannot connect: {getattr(err, 'reason', err)}") from err

    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not match or match.group(1) != str(offset):
                part.unlink(missing_ok=True)
                raise _Retry("server answered a different byte range; restarting")
            total = int(match.group(3)) if match.group(3) != "*" else None
        elif status == 200:
            offset = 0  # no range asked, or the server ignored it: start over
            total = expected
        else:
            raise FisbeError(f"unexpected HTTP {status} {response.reason} for {url}", dest)
        received = 0
        with (
            _disk_errors(part, dest),
            open(part, "ab" if offset else "wb") as handle,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
                leave=False,
                mininterval=0.5 if sys.stderr.isatty() else 30.0,
            ) as bar,
        ):
            while True:
                try:
                    chunk = response.read(CHUNK_SIZE)
                except (http.client.HTTPException, OSError) as err:
                    raise _Retry(f"connection lost after {offset + received} bytes: {err}") from err
                if not chunk:
                    break
                _write_chunk(handle, chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received != expected:
        raise _Retry(f"body truncated: got {received} of {expected} bytes")


def _write_chunk(handle: BinaryIO, chunk: bytes) -> None:
    handle.write(chunk)


@contextlib.contextmanager
def _disk_errors(part: Path, dest: Path) -> Iterator[None]:
    """Turn an OSError from writing ``part`` into one clear line (disk full: resume later)."""
    try:
        yield
    except OSError as err:
        raise _disk_error(err, part, dest) from err


def _disk_error(err: OSError, part: Path, dest: Path) -> FisbeError:
    if err.errno in _DISK_FULL:
        return FisbeError(
            f"disk full while writing {part}; free space and rerun to resume from "
            f"{_size(part)} bytes",
            dest,
        )
    return FisbeError(f"cannot write {part}: {err.strerror or err}", dest)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fisbe-bench download``."""
    parser.add_argument("url", help="http(s) URL to download")
    parser.add_argument("--out", required=True, type=Path, help="file to write")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--md5", help="expected md5 of the file")
    source.add_argument("--sha256", help="expected sha256 of the file")
    source.add_argument(
        "--checksum-table",
        type=Path,
        help="TSV (name, url, size, md5) to look the URL, or the output's file name, up in",
    )
    parser.add_argument("--retries", type=int, default=5, help="retries of transient failures")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Download one file, verified against a checksum (given or from the table)."""
    algorithm: Algorithm
    checksum, algorithm, size = args.md5, "md5", None
    if args.sha256:
        checksum, algorithm = args.sha256, "sha256"
    if args.checksum_table:
        entries = read_checksum_table(args.checksum_table)
        by_url = {entry.url: entry for entry in entries.values()}
        entry = by_url.get(args.url) or entries.get(args.out.name)
        if entry is None:
            raise FisbeError(
                f"neither {args.url} nor {args.out.name!r} is in the checksum table",
                args.checksum_table,
            )
        if entry.md5 is None:
            raise FisbeError(
                f"no md5 for {entry.name!r}; refusing an unverifiable download (fill it in, "
                "e.g. from `fisbe-bench zenodo-pin`)",
                args.checksum_table,
            )
        checksum, size = entry.md5, entry.size
    download(
        args.url,
        args.out,
        checksum=checksum,
        algorithm=algorithm,
        retries=args.retries,
        timeout=args.timeout,
        progress=not args.no_progress,
        size=size,
    )
    return 0

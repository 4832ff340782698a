"""The Zenodo record as the source of truth for the real FISBe files (standard library only).

The record's metadata, ``{api}/records/{record}``, lists every file with its ``key``,
``size``, ``checksum`` (``md5:<hex>``) and ``links.self`` (the download URL). The workflow
keeps it as ``resources/<dataset>/downloads/record.json`` and fetches each file from its
``links.self``, accepting it only when size and md5 equal the record's. The committed
checksum table is a pin: a size or md5 it holds must equal the record's, an empty cell
takes the record's value.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from fisbe_bench import __version__
from fisbe_bench.atomic import write_bytes
from fisbe_bench.download import MAX_BACKOFF_S, TABLE_COLUMNS, Entry, download
from fisbe_bench.errors import FisbeError

DEFAULT_API = "https://zenodo.org/api"
FISBE_RECORD = "10875063"
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_MD5 = re.compile(r"md5:([0-9a-fA-F]{32})")
_TRANSIENT_4XX = {408, 429}


@dataclass(frozen=True)
class RecordFile:
    """One file of a Zenodo record: name (``key``), size in bytes, md5 and download URL."""

    name: str
    size: int
    md5: str
    url: str


def record_url(api: str, record: str) -> str:
    """URL of a record's metadata: ``{api}/records/{record}``."""
    if not re.fullmatch(r"\d+", record):
        raise FisbeError(f"Zenodo record id must be digits, not {record!r}")
    return f"{api.rstrip('/')}/records/{record}"


def parse_record(data: bytes, source: str | Path) -> dict[str, RecordFile]:
    """The files of a record's JSON, keyed by name; malformed metadata raises :class:`FisbeError`
    naming ``source`` (the URL or file it came from)."""
    try:
        record = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FisbeError(f"malformed Zenodo record JSON: {err}", source) from err
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, list) or not files:
        raise FisbeError("malformed Zenodo record JSON: no 'files' list", source)
    parsed: dict[str, RecordFile] = {}
    for number, item in enumerate(files):
        problem = _file_problem(item)
        if problem is None and item["key"] in parsed:
            problem = f"file {item['key']!r} is listed twice"
        if problem:
            raise FisbeError(f"malformed Zenodo record JSON: files[{number}]: {problem}", source)
        md5 = cast(re.Match[str], _MD5.fullmatch(item["checksum"])).group(1).lower()
        parsed[item["key"]] = RecordFile(item["key"], item["size"], md5, item["links"]["self"])
    return parsed


def _file_problem(item: object) -> str | None:
    """Why one entry of ``files`` is unusable, or None."""
    if not isinstance(item, dict):
        return "not an object"
    links = item.get("links")
    url = links.get("self") if isinstance(links, dict) else None
    size = item.get("size")
    if not isinstance(item.get("key"), str) or not item["key"]:
        return "missing 'key'"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"{item['key']}: missing or invalid 'size'"
    if not isinstance(item.get("checksum"), str) or not _MD5.fullmatch(item["checksum"]):
        return f"{item['key']}: 'checksum' must be 'md5:<32 hex digits>'"
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        return f"{item['key']}: 'links.self' must be an http(s) URL"
    return None


def read_record(path: str | Path) -> dict[str, RecordFile]:
    """The files of a kept ``record.json``."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise FisbeError(f"cannot read the Zenodo record: {err.strerror or err}", path) from err
    return parse_record(data, path)


def get(url: str, *, retries: int = 5, timeout: float = 60.0, backoff: float = 1.0) -> bytes:
    """The body of ``url``; connection errors, 5xx, 408 and 429 are retried with back-off."""
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": f"fisbe-bench/{__version__}"}
    )
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            err.close()
            problem = f"HTTP {err.code} {err.reason}"
            if 400 <= err.code < 500 and err.code not in _TRANSIENT_4XX:
                raise FisbeError(f"cannot read the Zenodo record: {problem}", url) from err
        except (http.client.HTTPException, OSError) as err:  # URLError is an OSError
            problem = f"cannot connect: {getattr(err, 'reason', err)}"
        if attempt < retries:
            time.sleep(min(backoff * 2**attempt, MAX_BACKOFF_S))
    raise FisbeError(f"cannot read the Zenodo record after {retries} retries: {problem}", url)


def select(
    files: dict[str, RecordFile],
    names: list[str],
    pins: Mapping[str, Entry] | None = None,
    source: str | Path | None = None,
) -> list[RecordFile]:
    """The record's entries of ``names``, checked against the pinned checksum table.

    A name the record does not list raises :class:`FisbeError` listing the record's files; a
    size or md5 that ``pins`` (rows of the checksum table) holds must equal the record's
    ("the record changed").
    """
    unknown = [name for name in names if name not in files]
    if unknown:
        raise FisbeError(
            f"{', '.join(unknown)} not in the Zenodo record, which lists: {', '.join(files)}",
            source,
        )
    chosen = [files[name] for name in names]
    for entry in chosen:
        pin = (pins or {}).get(entry.name)
        for field in ("size", "md5") if pin else ():
            held = getattr(pin, field)
            if held is not None and held != getattr(entry, field):
                raise FisbeError(
                    f"the record changed: {entry.name} {field} is pinned as {held} "
                    f"but the record says {getattr(entry, field)}",
                    source,
                )
    return chosen


def fetch_record(
    api: str,
    record: str,
    dest: str | Path,
    names: list[str],
    pins: Mapping[str, Entry] | None = None,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> dict[str, RecordFile]:
    """Read a record's metadata, check ``names`` and ``pins`` against it, keep it in ``dest``.

    ``dest`` is written atomically and only once the record is valid, lists every name and
    agrees with the pins.
    """
    url = record_url(api, record)
    data = get(url, retries=retries, timeout=timeout, backoff=backoff)
    files = parse_record(data, url)
    select(files, names, pins, url)
    write_bytes(dest, data)
    return files


def fetch_file(
    record_json: str | Path,
    name: str,
    downloads: str | Path,
    pins: Mapping[str, Entry] | None = None,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download the record's file ``name`` into the folder ``downloads`` (resumed, retried),
    accepted only when its size and md5 equal the record's; returns its path."""
    if not SAFE_NAME.fullmatch(name):
        raise FisbeError(f"unsafe file name {name!r} (letters, digits, '_.-' only)", record_json)
    (entry,) = select(read_record(record_json), [name], pins, record_json)
    return download(
        entry.url,
        Path(downloads) / name,
        checksum=entry.md5,
        size=entry.size,
        retries=retries,
        timeout=timeout,
        backoff=backoff,
        progress=progress,
    )


def pin_table(files: dict[str, RecordFile]) -> str:
    """The record's files as a checksum table (the columns of :data:`TABLE_COLUMNS`)."""
    rows = [TABLE_COLUMNS] + [[f.name, f.url, str(f.size), f.md5] for f in files.values()]
    return "".join("\t".join(row) + "\n" for row in rows)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fisbe-bench zenodo-pin``."""
    parser.add_argument("--record", default=FISBE_RECORD, help="Zenodo record id")
    parser.add_argument("--api", default=DEFAULT_API, help="Zenodo REST API base URL")
    parser.add_argument("--retries", type=int, default=5, help="retries of transient failures")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")


def run(args: argparse.Namespace) -> int:
    """Print a record's files as a checksum table, to pin them in the repository."""
    url = record_url(args.api, args.record)
    files = parse_record(get(url, retries=args.retries, timeout=args.timeout), url)
    print(f"# Zenodo record {url}\n{pin_table(files)}", end="")
    return 0

"""The Zenodo record as source of truth, against a stand-in of the Zenodo API on 127.0.0.1:
record validation, pins, per-file downloads and their failures, and the real FISBe config
run end to end through Snakemake."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import CORES, OFFICIAL_SPLIT, REPO
from standin import RECORD, FlakyServer, release_zip, serving, tiny_sample

from fisbe_bench import download as download_module
from fisbe_bench.cli import main
from fisbe_bench.download import Entry, read_checksum_table
from fisbe_bench.errors import FisbeError
from fisbe_bench.splits import parse_split_file
from fisbe_bench.zenodo import fetch_file, fetch_record, read_record

COMPLETELY, PARTLY, SPLIT = (
    "fisbe_v1.0_completely.zip",
    "fisbe_v1.0_partly.zip",
    "sample_list_per_split.txt",
)
FAST = {"retries": 1, "backoff": 0.0, "timeout": 10.0}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyServer]:
    monkeypatch.setattr(download_module, "CHUNK_SIZE", 4096)  # transfers span many writes
    with serving() as httpd:
        yield httpd


@pytest.fixture
def files() -> dict[str, bytes]:
    """Three small files under the release's names (contents need not be archives here)."""
    return {
        COMPLETELY: os.urandom(50_000),
        PARTLY: os.urandom(30_000),
        SPLIT: OFFICIAL_SPLIT.read_bytes(),
    }


def record(server: FlakyServer, tmp_path: Path, names: list[str] | None = None, **kw) -> Path:
    """Fetch the stand-in's record into ``tmp_path/downloads/record.json``."""
    dest = tmp_path / "downloads" / "record.json"
    fetch_record(server.api, RECORD, dest, names or [COMPLETELY, PARTLY, SPLIT], **kw, **FAST)
    return dest


def pins(tmp_path: Path, rows: list[tuple[str, str, str]]) -> dict[str, Entry]:
    """Rows (name, size, md5) of a checksum table, as read from a file."""
    lines = ["name\turl\tsize\tmd5", *(f"{n}\thttp://pinned/{n}\t{s}\t{m}" for n, s, m in rows)]
    path = tmp_path / "pins.tsv"
    path.write_text("\n".join(lines) + "\n")
    return read_checksum_table(path)


def get(record_json: Path, name: str, **kwargs: object) -> Path:
    downloads = record_json.parent
    return fetch_file(record_json, name, downloads, **{**FAST, "progress": False, **kwargs})


def test_record_is_kept_and_every_file_comes_from_its_links(
    server: FlakyServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    server.publish(files)
    kept = record(server, tmp_path)
    assert json.loads(kept.read_bytes()) == json.loads(server.files[f"/api/records/{RECORD}"])
    assert sorted(read_record(kept)) == sorted(files)
    for name, body in files.items():
        assert get(kept, name).read_bytes() == body
    assert sorted(p.name for p in kept.parent.iterdir()) == sorted([*files, "record.json"])
    assert [path for path, _ in server.requests[1:]] == [server.content_path(n) for n in files]
    server.requests.clear()
    get(kept, COMPLETELY)  # verified file kept: no network
    assert server.requests == []


def test_empty_pin_takes_the_record_value_and_a_held_one_must_match(
    server: FlakyServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    server.publish(files)
    body = files[COMPLETELY]
    good = pins(tmp_path, [(COMPLETELY, str(len(body)), hashlib.md5(body).hexdigest())])
    kept = record(server, tmp_path, pins=good)
    assert get(kept, COMPLETELY, pins=good).read_bytes() == body
    wrong = "0" * 32
    changed = pins(tmp_path, [(COMPLETELY, "", wrong), (PARTLY, "", "")])
    with pytest.raises(FisbeError, match="the record changed") as caught:
        record(server, tmp_path / "again", pins=changed)
    assert wrong in str(caught.value) and hashlib.md5(body).hexdigest() in str(caught.value)
    assert not (tmp_path / "again").exists()
    with pytest.raises(
        FisbeError, match=f"{PARTLY} size is pinned as 7 .* says {len(files[PARTLY])}"
    ):
        get(kept, PARTLY, pins=pins(tmp_path, [(PARTLY, "7", "")]))


def test_unknown_name_lists_the_record(
    server: FlakyServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    server.publish(files)
    with pytest.raises(FisbeError) as caught:
        record(server, tmp_path, [COMPLETELY, "fisbe_partly.zip"])
    message = str(caught.value)
    assert "fisbe_partly.zip not in the Zenodo record, which lists:" in message
    assert all(name in message for name in files) and "\n" not in message
    assert not (tmp_path / "downloads").exists()


@pytest.mark.parametrize(
    ("change", "expected", "actual"),
    [
        ({"checksum": "md5:" + "0" * 32}, "0" * 32, None),  # corrupted bytes
        ({"size": 50_001}, "50001 bytes", "got 50000"),
    ],
    ids=["corrupted", "wrong-size"],
)
def test_mismatch_removes_the_file_and_keeps_earlier_downloads(
    server: FlakyServer,
    files: dict[str, bytes],
    tmp_path: Path,
    change: dict[str, object],
    expected: str,
    actual: str | None,
) -> None:
    server.publish(files, **{COMPLETELY: change})
    kept = record(server, tmp_path)
    get(kept, SPLIT)
    with pytest.raises(FisbeError, match="mismatch for fisbe_v1.0_completely.zip") as caught:
        get(kept, COMPLETELY)
    message = str(caught.value)
    assert expected in message and "\n" not in message
    assert (actual or hashlib.md5(files[COMPLETELY]).hexdigest()) in message
    assert sorted(p.name for p in kept.parent.iterdir()) == ["record.json", SPLIT]


def test_truncated_transfer_is_resumed(
    server: FlakyServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    server.publish(files)
    kept = record(server, tmp_path)
    server.plan = ["truncate"]
    assert get(kept, COMPLETELY).read_bytes() == files[COMPLETELY]
    path = server.content_path(COMPLETELY)
    assert server.requests[-2:] == [(path, None), (path, f"bytes={len(files[COMPLETELY]) // 2}-")]


def test_missing_file_is_one_line(
    server: FlakyServer, files: dict[str, bytes], tmp_path: Path
) -> None:
    server.publish(files)
    kept = record(server, tmp_path)
    get(kept, SPLIT)
    del server.files[server.content_path(PARTLY)]
    with pytest.raises(FisbeError, match="HTTP 404") as caught:
        get(kept, PARTLY)
    assert server.content_path(PARTLY) in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(p.name for p in kept.parent.iterdir()) == ["record.json", SPLIT]


def test_unreachable_api(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FisbeError, match="cannot read the Zenodo record after 1 retries: cannot"):
        fetch_record(f"http://127.0.0.1:{port}/api", RECORD, tmp_path / "r.json", [], **FAST)
    assert list(tmp_path.iterdir()) == []


def test_missing_record_fails_at_once(server: FlakyServer, tmp_path: Path) -> None:
    with pytest.raises(FisbeError, match=f"/api/records/{RECORD}: cannot read .* HTTP 404"):
        record(server, tmp_path)
    assert len(server.requests) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>maintenance</html>", "Expecting value"),
        (b'{"hits": []}', "no 'files' list"),
        (
            b'{"files": [{"key": "a.zip", "size": 3, "links": {"self": "http://x/a"}}]}',
            "'checksum'",
        ),
        (b'{"files": [{"key": "a.zip", "checksum": "md5:' + b"0" * 32 + b'"}]}', "'size'"),
        (
            b'{"files": [{"key": "a.zip", "size": 3, "checksum": "md5:'
            + b"0" * 32
            + b'", "links": {"self": "file:///etc/passwd"}}]}',
            "'links.self' must be an http(s) URL",
        ),
    ],
    ids=["not-json", "no-files", "no-checksum", "no-size", "file-url"],
)
def test_malformed_record_is_one_line_and_not_kept(
    server: FlakyServer, tmp_path: Path, body: bytes, words: str
) -> None:
    server.files[f"/api/records/{RECORD}"] = body
    with pytest.raises(FisbeError, match="malformed Zenodo record JSON") as caught:
        record(server, tmp_path, ["a.zip"])
    message = str(caught.value)
    assert words in message and f"{server.api}/records/{RECORD}" in message
    assert "\n" not in message and not (tmp_path / "downloads").exists()
    kept = tmp_path / "record.json"
    kept.write_bytes(body)
    with pytest.raises(FisbeError, match=f"{kept}: malformed Zenodo record JSON"):
        get(kept, "a.zip")


def test_unsafe_name_is_refused(server: FlakyServer, tmp_path: Path) -> None:
    server.publish({"..": b"x"})
    kept = record(server, tmp_path, [".."])
    with pytest.raises(FisbeError, match="unsafe file name '..'"):
        get(kept, "..")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads"]


def test_zenodo_pin_prints_a_checksum_table(
    server: FlakyServer,
    files: dict[str, bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.publish(files)
    assert main(["zenodo-pin", "--record", RECORD, "--api", server.api]) == 0
    table_path = tmp_path / "pins.tsv"
    table_path.write_text(capsys.readouterr().out)
    table = read_checksum_table(table_path)
    assert sorted(table) == sorted(files)
    for name, body in files.items():
        assert table[name].size == len(body) and table[name].md5 == hashlib.md5(body).hexdigest()
        assert table[name].url == f"{server.api}/records/{RECORD}/files/{name}/content"
    assert main(["zenodo-pin", "--record", "1", "--api", server.api, "--retries", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


# --- the real FISBe config through Snakemake, against the stand-in ------------------------


def release(
    tmp_path: Path, *, wrapped: tuple[str, ...] = ("completely", "partly"), drop: str | None = None
) -> dict[str, bytes]:
    """The three release files, 101 tiny samples under the official names (``drop`` left out);
    the archives of the sets in ``wrapped`` hold them under a top folder."""
    sample = tiny_sample(tmp_path)
    entries = [e for e in parse_split_file(OFFICIAL_SPLIT) if e.sample != drop]
    archives = {
        f"fisbe_v1.0_{s}.zip": release_zip(
            s, [(e.sample, e.split) for e in entries if e.set == s], sample, wrapped=s in wrapped
        )
        for s in ("completely", "partly")
    }
    return {**archives, SPLIT: OFFICIAL_SPLIT.read_bytes()}


def snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *CORES]
    return subprocess.run(
        [*command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )


def override(tmp_path: Path, server: FlakyServer, **dataset: str) -> list[str]:
    """``config/fisbe.yaml`` with the stand-in's API and B0 as the only method.

    Snakemake merges config files key by key, so a second file could add methods but not
    remove the real config's learned ones: the test writes one derived file instead.
    """
    config = yaml.safe_load((REPO / "config/fisbe.yaml").read_text())
    config["datasets"]["fisbe"].update(zenodo_api=server.api, **dataset)
    config["methods"] = {"threshold_cc": {"kind": "threshold_cc"}}
    config["leaderboard"] = {"bootstrap": 100, "seed": 0}
    path = tmp_path / "standin.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--configfile", str(path)]


@pytest.mark.slow
def test_real_config_runs_end_to_end(tmp_path: Path) -> None:
    """One archive with a top folder, one without; the run started elsewhere with ``-d``, the
    report and the rerun check in the working directory: download, extraction, splits, B0,
    evaluation, leaderboard, report."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    with serving() as server:
        server.publish(release(tmp_path, wrapped=("completely",)))
        configs = override(tmp_path, server)
        start = time.monotonic()
        proc = snakemake(tmp_path, "-d", str(workdir), *configs)
        assert proc.returncode == 0, proc.stderr[-6000:]
        report = workdir / "results/fisbe/report.zip"
        proc = snakemake(workdir, *configs, "--report", str(report))
        assert proc.returncode == 0, proc.stderr[-6000:]
        wall = time.monotonic() - start
        proc = snakemake(workdir, *configs, "-n")
        assert "Nothing to be done" in proc.stdout + proc.stderr
    print(f"stand-in run (both archive layouts, -d): {wall:.1f} s wall")
    with open(workdir / "results/fisbe/leaderboard/leaderboard.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["method"] for r in rows} == {"threshold_cc"}
    assert {r["set"] for r in rows} == {"completely", "partly", "combined"}
    kept = workdir / "resources/fisbe/downloads/record.json"
    assert sorted(read_record(kept)) == sorted([COMPLETELY, PARTLY, SPLIT])
    assert report.stat().st_size > 0
    fetched = [path for path, _ in server.requests]
    assert sorted(fetched) == sorted(
        [f"/api/records/{RECORD}", *(server.content_path(n) for n in (COMPLETELY, PARTLY, SPLIT))]
    )


@pytest.mark.slow
def test_archive_missing_a_sample_fails_the_splits_job(tmp_path: Path) -> None:
    missing = "R38F04-20181005_63_G5"
    with serving() as server:
        server.publish(release(tmp_path, drop=missing))
        proc = snakemake(tmp_path, *override(tmp_path, server), "--until", "splits")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert any("1 of 101 samples" in line and missing in line for line in errors), errors
    assert not (tmp_path / "results/fisbe/splits.tsv").exists()
    downloads = tmp_path / "resources/fisbe/downloads"
    assert sorted(p.name for p in downloads.iterdir()) == sorted(
        ["record.json", COMPLETELY, PARTLY, SPLIT]
    )


@pytest.mark.slow
def test_changed_record_fails_before_any_download(tmp_path: Path) -> None:
    with serving() as server:
        server.publish({COMPLETELY: b"a", PARTLY: b"b", SPLIT: b"not the official file"})
        proc = snakemake(tmp_path, *override(tmp_path, server), "--until", "splits")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert any("the record changed: sample_list_per_split.txt size" in line for line in errors)
    assert [path for path, _ in server.requests] == [f"/api/records/{RECORD}"]
    assert not (tmp_path / "resources/fisbe/downloads/record.json").exists()

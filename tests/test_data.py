"""Downloads against a real HTTP server on 127.0.0.1 that can misbehave on demand."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from conftest import OFFICIAL_SPLIT, REPO
from standin import FlakyServer, serving

from fisbe_bench import download as download_module
from fisbe_bench.archive import extract
from fisbe_bench.cli import main
from fisbe_bench.download import download, read_checksum_table
from fisbe_bench.errors import FisbeError


def make_zip() -> bytes:
    """A small FISBe-like archive: ``completely/test/x.zarr`` with an incompressible chunk."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("completely/test/x.zarr/.zgroup", '{"zarr_format": 2}')
        archive.writestr("completely/test/x.zarr/volumes/raw/0.0.0.0", os.urandom(48_000))
    return buffer.getvalue()


@pytest.fixture
def server() -> Iterator[FlakyServer]:
    with serving() as httpd:
        yield httpd


@pytest.fixture
def archive(server: FlakyServer, monkeypatch: pytest.MonkeyPatch) -> tuple[str, bytes, str]:
    """URL, bytes and md5 of a served zip; small chunks so transfers span many writes."""
    monkeypatch.setattr(download_module, "CHUNK_SIZE", 4096)
    body = make_zip()
    server.files["/files/fisbe_test.zip"] = body
    return server.url("/files/fisbe_test.zip"), body, hashlib.md5(body).hexdigest()


def fetch(url: str, dest: Path, md5: str | None, **kwargs: object) -> Path:
    options = {"progress": False, "backoff": 0.0, "timeout": 10.0, **kwargs}
    return download(url, dest, checksum=md5, **options)  # type: ignore[arg-type]


def test_happy_path_verifies_checksum_and_extracts(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    dest = tmp_path / "downloads" / "fisbe.zip"
    assert fetch(url, dest, md5) == dest
    assert dest.read_bytes() == body
    assert not dest.with_name("fisbe.zip.part").exists()
    assert server.requests == [("/files/fisbe_test.zip", None)]
    out = extract(
        dest, tmp_path / "resources" / "synthetic" / "completely", expect_set="completely"
    )
    assert (out / "test" / "x.zarr" / ".zgroup").is_file()


def test_sha256(archive: tuple[str, bytes, str], tmp_path: Path) -> None:
    url, body, _ = archive
    dest = tmp_path / "fisbe.zip"
    download(
        url, dest, checksum=hashlib.sha256(body).hexdigest(), algorithm="sha256", progress=True
    )
    assert dest.read_bytes() == body


def test_existing_verified_file_is_kept_without_network(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    dest = tmp_path / "fisbe.zip"
    dest.write_bytes(body)
    fetch(url, dest, md5)
    assert server.requests == []


def test_wrong_checksum_leaves_no_file(archive: tuple[str, bytes, str], tmp_path: Path) -> None:
    url, _, md5 = archive
    dest = tmp_path / "fisbe.zip"
    wrong = "0" * 32
    with pytest.raises(FisbeError) as caught:
        fetch(url, dest, wrong)
    message = str(caught.value)
    assert "fisbe.zip" in message and wrong in message and md5 in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("checksum", [None, "", "xyz"])
def test_unknown_or_malformed_checksum_refused(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path, checksum: str | None
) -> None:
    with pytest.raises(FisbeError, match="not a valid md5"):
        fetch(archive[0], tmp_path / "f.zip", checksum)
    assert server.requests == [] and list(tmp_path.iterdir()) == []


def test_truncated_body_is_resumed_with_range(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    server.plan = ["truncate"]
    dest = tmp_path / "fisbe.zip"
    fetch(url, dest, md5)
    assert dest.read_bytes() == body
    half = len(body) // 2
    assert server.requests[1] == ("/files/fisbe_test.zip", f"bytes={half}-")


def test_dropped_connection_is_resumed_with_range(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    server.plan = ["drop"]
    dest = tmp_path / "fisbe.zip"
    fetch(url, dest, md5)
    assert dest.read_bytes() == body
    assert len(server.requests) == 2
    resumed = server.requests[1][1]
    assert resumed is not None and re.fullmatch(r"bytes=[1-9]\d*-", resumed)


def test_server_error_then_success(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    server.plan = ["500"]
    dest = tmp_path / "fisbe.zip"
    fetch(url, dest, md5)
    assert dest.read_bytes() == body
    assert len(server.requests) == 2


def test_persistent_server_error_gives_up(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, _, md5 = archive
    server.plan = ["500"] * 10
    with pytest.raises(FisbeError, match="failed after 2 retries: HTTP 500"):
        fetch(url, tmp_path / "fisbe.zip", md5, retries=2)
    assert len(server.requests) == 3


def test_part_is_kept_when_retries_run_out_and_the_next_run_resumes(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    server.plan = ["truncate", "500", "500", "500"]
    dest = tmp_path / "fisbe.zip"
    with pytest.raises(FisbeError, match="partial download kept in fisbe.zip.part"):
        fetch(url, dest, md5, retries=2)
    half = len(body) // 2
    assert dest.with_name("fisbe.zip.part").read_bytes() == body[:half]
    fetch(url, dest, md5)
    assert dest.read_bytes() == body
    assert server.requests[-1] == ("/files/fisbe_test.zip", f"bytes={half}-")


@pytest.mark.parametrize("status", ["404", "403"])
def test_client_errors_fail_at_once(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path, status: str
) -> None:
    url, _, md5 = archive
    server.plan = [status]
    with pytest.raises(FisbeError, match=f"HTTP {status}"):
        fetch(url, tmp_path / "fisbe.zip", md5)
    assert len(server.requests) == 1
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FisbeError, match="cannot connect"):
        fetch(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", "0" * 32, retries=1)


def test_server_ignoring_range_restarts_from_scratch(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    server.ignore_range = True
    dest = tmp_path / "fisbe.zip"
    dest.with_name("fisbe.zip.part").write_bytes(b"stale bytes from another file")
    fetch(url, dest, md5)
    assert dest.read_bytes() == body
    assert server.requests == [("/files/fisbe_test.zip", "bytes=29-")]


def test_complete_part_file_answered_416_is_verified(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    dest = tmp_path / "fisbe.zip"
    dest.with_name("fisbe.zip.part").write_bytes(body)
    fetch(url, dest, md5)
    assert dest.read_bytes() == body
    assert server.requests == [("/files/fisbe_test.zip", f"bytes={len(body)}-")]


def test_oversized_part_file_is_restarted(
    server: FlakyServer, archive: tuple[str, bytes, str], tmp_path: Path
) -> None:
    url, body, md5 = archive
    dest = tmp_path / "fisbe.zip"
    dest.with_name("fisbe.zip.part").write_bytes(body + b"junk")
    fetch(url, dest, md5)
    assert dest.read_bytes() == body
    assert [r[1] for r in server.requests] == [f"bytes={len(body) + 4}-", None]


def test_disk_full_keeps_part_and_resumes(
    server: FlakyServer,
    archive: tuple[str, bytes, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, body, md5 = archive
    real_write = download_module._write_chunk
    calls = []

    def fill_disk(handle: BinaryIO, chunk: bytes) -> None:
        calls.append(len(chunk))
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(handle, chunk)

    monkeypatch.setattr(download_module, "_write_chunk", fill_disk)
    dest = tmp_path / "fisbe.zip"
    part = dest.with_name("fisbe.zip.part")
    with pytest.raises(FisbeError, match="disk full") as caught:
        fetch(url, dest, md5)
    assert "\n" not in str(caught.value)
    assert not dest.exists()
    assert part.read_bytes() == body[:8192]

    monkeypatch.setattr(download_module, "_write_chunk", real_write)
    fetch(url, dest, md5)
    assert dest.read_bytes() == body and not part.exists()
    assert server.requests[-1] == ("/files/fisbe_test.zip", "bytes=8192-")


def test_size_mismatch_is_rejected(archive: tuple[str, bytes, str], tmp_path: Path) -> None:
    url, body, md5 = archive
    with pytest.raises(FisbeError, match=f"expected {len(body) + 1} bytes, got {len(body)}"):
        fetch(url, tmp_path / "fisbe.zip", md5, size=len(body) + 1)
    assert list(tmp_path.iterdir()) == []


def write_table(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = ["# comment", "name\turl\tsize\tmd5", *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_committed_checksum_table() -> None:
    table = read_checksum_table(REPO / "config" / "fisbe_checksums.tsv")
    assert {"fisbe_v1.0_completely.zip", "fisbe_v1.0_mips.zip", "sample_list_per_split.txt"} <= set(
        table
    )
    for entry in table.values():
        assert entry.url == f"https://zenodo.org/api/records/10875063/files/{entry.name}/content"
    split_entry = table["sample_list_per_split.txt"]
    assert split_entry.md5 == hashlib.md5(OFFICIAL_SPLIT.read_bytes()).hexdigest()
    assert split_entry.size == OFFICIAL_SPLIT.stat().st_size


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (("a", "http://x", "12a", ""), "line 3: size '12a'"),
        (("a", "http://x", "", "abc"), "line 3: md5 'abc'"),
        (("a", "", "", ""), "line 3: name and url"),
    ],
)
def test_bad_checksum_table(tmp_path: Path, row: tuple[str, str, str, str], words: str) -> None:
    with pytest.raises(FisbeError, match=words):
        read_checksum_table(write_table(tmp_path / "t.tsv", [row]))


def test_cli_download_with_checksum_table(
    server: FlakyServer,
    archive: tuple[str, bytes, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, body, md5 = archive
    table = write_table(tmp_path / "sums.tsv", [("fisbe.zip", url, str(len(body)), md5)])
    out = tmp_path / "out" / "fisbe.zip"
    argv = ["download", url, "--out", str(out), "--checksum-table", str(table), "--no-progress"]
    assert main(argv) == 0
    assert out.read_bytes() == body

    write_table(table, [("fisbe.zip", url, "", "")])
    out.unlink()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no md5 for 'fisbe.zip'" in err and "zenodo-pin" in err
    assert not out.exists()


def test_cli_errors_are_one_line(
    server: FlakyServer,
    archive: tuple[str, bytes, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _, md5 = archive
    out = str(tmp_path / "f.zip")
    assert main(["download", url, "--out", out, "--md5", "f" * 32, "--no-progress"]) == 2
    assert main(["download", url, "--out", out, "--sha256", md5, "--no-progress"]) == 2
    missing = server.url("/missing.zip")
    assert main(["download", missing, "--out", out, "--md5", md5, "--no-progress"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and "mismatch" in lines[0] and "HTTP 404" in lines[2]

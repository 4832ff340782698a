"""Safe, atomic extraction of FISBe archives."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from fisbe_bench.archive import extract
from fisbe_bench.cli import main
from fisbe_bench.errors import FisbeError


def make_zip(
    path: Path, members: dict[str, bytes | str], symlinks: dict[str, str] | None = None
) -> Path:
    """Write a zip with the given file members and (optionally) symbolic-link members."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


SAMPLE = {
    "completely/train/a.zarr/.zgroup": '{"zarr_format": 2}',
    "completely/train/a.zarr/volumes/raw/0.0.0.0": b"\x00" * 100,
    "completely/test/x.zarr/.zgroup": '{"zarr_format": 2}',
}


def test_extracts_set_folder(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "fisbe.zip", SAMPLE)
    dest = tmp_path / "resources" / "fisbe" / "completely"
    assert extract(zip_path, dest, expect_set="completely") == dest
    assert sorted(p.name for p in dest.iterdir()) == ["test", "train"]
    assert (dest / "train" / "a.zarr" / "volumes" / "raw" / "0.0.0.0").read_bytes() == bytes(100)
    assert [p.name for p in dest.parent.iterdir()] == ["completely"]


def test_archive_with_extra_root_folder(tmp_path: Path) -> None:
    members = {f"fisbe_v1.0/{name}": content for name, content in SAMPLE.items()}
    members["fisbe_v1.0/README.txt"] = "readme"
    zip_path = make_zip(tmp_path / "fisbe.zip", members)
    dest = tmp_path / "out" / "completely"
    extract(zip_path, dest, expect_set="completely")
    assert (dest / "test" / "x.zarr" / ".zgroup").is_file()
    assert not (dest / "README.txt").exists()


def test_replaces_existing_destination(tmp_path: Path) -> None:
    dest = tmp_path / "completely"
    (dest / "stale").mkdir(parents=True)
    extract(make_zip(tmp_path / "f.zip", SAMPLE), dest, expect_set="completely")
    assert not (dest / "stale").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["completely", "f.zip"]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil", "'..' path component"),
        ("completely/train/../../../evil", "'..' path component"),
        ("/abs/evil", "absolute path"),
        ("completely\\..\\evil", "'..' path component"),
    ],
)
def test_refuses_unsafe_members(tmp_path: Path, member: str, reason: str) -> None:
    zip_path = make_zip(tmp_path / "bad.zip", {**SAMPLE, member: "pwned"})
    dest = tmp_path / "work" / "completely"
    with pytest.raises(FisbeError) as caught:
        extract(zip_path, dest, expect_set="completely")
    message = str(caught.value)
    assert str(zip_path) in message and repr(member) in message and reason in message
    assert "\n" not in message
    assert list((tmp_path / "work").iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_refuses_symlink_member(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "bad.zip", SAMPLE, symlinks={"completely/link": "/etc"})
    with pytest.raises(FisbeError, match="'completely/link': symbolic link"):
        extract(zip_path, tmp_path / "completely", expect_set="completely")
    assert not (tmp_path / "completely").exists()


def test_wrong_set_or_no_samples(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "f.zip", SAMPLE)
    with pytest.raises(FisbeError, match="no 'partly/"):
        extract(zip_path, tmp_path / "partly", expect_set="partly")
    empty = make_zip(tmp_path / "e.zip", {"completely/train/readme.txt": "no samples"})
    with pytest.raises(FisbeError, match="holds no <split>/<sample>.zarr"):
        extract(empty, tmp_path / "completely", expect_set="completely")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.zip", "f.zip"]


def test_not_a_zip(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"not a zip at all")
    with pytest.raises(FisbeError, match="not a readable zip"):
        extract(bogus, tmp_path / "completely", expect_set="completely")


def test_corrupt_member_leaves_nothing(tmp_path: Path) -> None:
    zip_path = make_zip(tmp_path / "f.zip", {**SAMPLE, "completely/test/x.zarr/z": b"a" * 5000})
    data = bytearray(zip_path.read_bytes())
    data[data.index(b"a" * 5000) + 10] = ord("b")
    zip_path.write_bytes(bytes(data))
    with pytest.raises(FisbeError, match="not a readable zip"):
        extract(zip_path, tmp_path / "out" / "completely", expect_set="completely")
    assert list((tmp_path / "out").iterdir()) == []


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zip_path = make_zip(tmp_path / "f.zip", SAMPLE)
    dest = tmp_path / "completely"
    assert main(["extract", str(zip_path), "--out", str(dest), "--set", "completely"]) == 0
    assert (dest / "test" / "x.zarr").is_dir()
    bad = make_zip(tmp_path / "bad.zip", {**SAMPLE, "../evil": "x"})
    assert main(["extract", str(bad), "--out", str(dest), "--set", "completely"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert (dest / "test" / "x.zarr").is_dir()

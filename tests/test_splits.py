"""The official split file parser/writer, the sample table and ``fisbe-bench splits``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from conftest import OFFICIAL_SPLIT, REPO

from fisbe_bench.cli import main
from fisbe_bench.errors import FisbeError
from fisbe_bench.splits import (
    SplitEntry,
    parse_split_file,
    sample_sheet,
    split_table,
    write_split_file,
    write_split_table,
)

OFFICIAL = OFFICIAL_SPLIT
SAMPLE_SHEET = REPO / "config" / "fisbe_samples.tsv"

SMALL = """(1) samples for FlyLight completely:

train:
a1
a2

val:
a3

test:
a4

(2) samples for FlyLight partly:

train:
b1

val:

test:
b2

"""


def write(tmp_path: Path, text: str, name: str = "split.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_official_split_counts() -> None:
    entries = parse_split_file(OFFICIAL)
    counts = Counter((entry.set, entry.split) for entry in entries)
    assert counts == {
        ("completely", "train"): 18,
        ("completely", "val"): 5,
        ("completely", "test"): 7,
        ("partly", "train"): 43,
        ("partly", "val"): 12,
        ("partly", "test"): 16,
    }
    assert len({entry.sample for entry in entries}) == 101
    assert entries[0] == SplitEntry("R38F04-20181005_63_G3", "completely", "train")


def test_partly_samples() -> None:
    partly = {e.sample for e in parse_split_file(OFFICIAL) if e.set == "partly"}
    assert len(partly) == 71
    assert "VT062059-20170727_61_D4" in partly
    assert "R38F04-20181005_63_G3" not in partly


def test_committed_sample_sheet_matches_official_split() -> None:
    committed = pd.read_csv(SAMPLE_SHEET, sep="\t", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(committed, sample_sheet(parse_split_file(OFFICIAL)))
    assert committed.groupby("set").size().to_dict() == {"completely": 30, "partly": 71}


def test_write_reproduces_official_file_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "roundtrip.txt"
    write_split_file(parse_split_file(OFFICIAL), out)
    assert out.read_bytes() == OFFICIAL.read_bytes()


def test_round_trip_with_empty_split(tmp_path: Path) -> None:
    entries = parse_split_file(write(tmp_path, SMALL))
    out = tmp_path / "out.txt"
    write_split_file(entries, out)
    assert parse_split_file(out) == entries
    assert out.read_text() == SMALL


def test_tolerates_whitespace_and_blank_lines(tmp_path: Path) -> None:
    messy = "\n\n  (1)  samples for FlyLight completely:  \n\t train :\n  a1  \n\n\n val:\r\na2\n"
    assert parse_split_file(write(tmp_path, messy)) == [
        SplitEntry("a1", "completely", "train"),
        SplitEntry("a2", "completely", "val"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (SMALL.replace("a2\n", "a2 a3x\n"), 5, "malformed line"),
        (SMALL.replace("b2\n", "a1\n"), 21, "duplicate sample 'a1' (first listed on line 4)"),
        (SMALL.replace("val:\na3", "validation:\na3"), 7, "unknown header 'validation:'"),
        (SMALL.replace("FlyLight partly", "FlyLight mostly"), 13, "unknown set 'mostly'"),
        ("train:\na1\n", 1, "before any"),
        ("(1) samples for FlyLight completely:\na1\n", 2, "outside a train:/val:/test: block"),
        (SMALL + "train:\nb9\n", 23, "appears twice"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FisbeError) as caught:
        parse_split_file(path)
    assert caught.value.path == str(path)
    assert f"line {line}:" in str(caught.value)
    assert words in str(caught.value)


def test_empty_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FisbeError, match="no samples"):
        parse_split_file(write(tmp_path, "\n\n"))
    with pytest.raises(FisbeError, match="cannot read"):
        parse_split_file(tmp_path / "absent.txt")


def make_tree(root: Path, entries: list[SplitEntry]) -> None:
    for entry in entries:
        (root / entry.set / entry.split / f"{entry.sample}.zarr").mkdir(parents=True)


def test_split_table(tmp_path: Path) -> None:
    split_file = write(tmp_path, SMALL)
    make_tree(tmp_path / "data", parse_split_file(split_file))
    table = split_table(split_file, tmp_path / "data")
    assert list(table.columns) == ["sample", "set", "split", "path"]
    assert len(table) == 6
    row = table.iloc[-1]
    assert (row["sample"], row["set"], row["split"]) == ("b2", "partly", "test")
    assert row["path"] == str(tmp_path / "data" / "partly" / "test" / "b2.zarr")


def test_split_table_lists_missing_paths(tmp_path: Path) -> None:
    split_file = write(tmp_path, SMALL)
    entries = parse_split_file(split_file)
    make_tree(tmp_path / "data", entries[:2])
    with pytest.raises(FisbeError) as caught:
        split_table(split_file, tmp_path / "data")
    message = str(caught.value)
    assert "4 of 6 samples" in message
    assert "a3.zarr" in message and "b2.zarr" in message
    assert "a1.zarr" not in message


def test_split_table_truncates_long_missing_list(tmp_path: Path) -> None:
    with pytest.raises(FisbeError, match=r"101 of 101 samples .* and 96 more"):
        split_table(OFFICIAL, tmp_path)


def test_cli_writes_table_and_checks_expected_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    split_file = write(tmp_path, SMALL)
    entries = parse_split_file(split_file)
    make_tree(tmp_path / "data", entries)
    expect = tmp_path / "expect.tsv"
    sample_sheet(entries).to_csv(expect, sep="\t", index=False)
    out = tmp_path / "results" / "splits.tsv"
    args = ["splits", "--split-file", str(split_file), "--data-root", str(tmp_path / "data")]
    assert main([*args, "--out", str(out), "--expect", str(expect)]) == 0
    table = pd.read_csv(out, sep="\t", dtype=str)
    assert table["sample"].tolist() == ["a1", "a2", "a3", "a4", "b1", "b2"]
    assert [p.name for p in out.parent.iterdir()] == ["splits.tsv"]

    wrong = sample_sheet(entries[:-1] + [SplitEntry("b2", "partly", "val")])
    wrong.loc[len(wrong)] = ["zz", "partly", "train"]
    wrong.to_csv(expect, sep="\t", index=False)
    out2 = tmp_path / "results" / "splits2.tsv"
    assert main([*args, "--out", str(out2), "--expect", str(expect)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "1 missing: zz" in err and "b2 (partly/test vs expected partly/val)" in err
    assert not out2.exists()


def test_cli_missing_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["splits", "--split-file", str(OFFICIAL), "--data-root", str(tmp_path)]
        + ["--out", str(tmp_path / "t.tsv")]
    )
    assert code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_write_split_table_against_config_rows(tmp_path: Path) -> None:
    split_file = write(tmp_path, SMALL)
    entries = parse_split_file(split_file)
    make_tree(tmp_path / "data", entries)
    rows = [{"sample": e.sample, "set": e.set, "split": e.split} for e in entries]
    out = tmp_path / "splits.tsv"
    table = write_split_table(split_file, tmp_path / "data", out, pd.DataFrame(rows))
    pd.testing.assert_frame_equal(pd.read_csv(out, sep="\t", dtype=str), table)
    with pytest.raises(FisbeError, match="1 unexpected: a1"):
        write_split_table(split_file, tmp_path / "data", tmp_path / "x.tsv", pd.DataFrame(rows[1:]))
    assert not (tmp_path / "x.tsv").exists()


def test_cli_official_split_matches_committed_sheet(tmp_path: Path) -> None:
    make_tree(tmp_path / "fisbe", parse_split_file(OFFICIAL))
    out = tmp_path / "results" / "splits.tsv"
    argv = ["splits", "--split-file", str(OFFICIAL), "--data-root", str(tmp_path / "fisbe")]
    assert main([*argv, "--out", str(out), "--expect", str(SAMPLE_SHEET)]) == 0
    assert len(pd.read_csv(out, sep="\t")) == 101

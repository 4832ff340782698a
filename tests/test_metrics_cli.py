"""``fisbe-bench evaluate`` and ``evaluate_directories``: folders, formats, bad input."""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from fisbe_bench import __version__, sample_io
from fisbe_bench.cli import main
from fisbe_bench.contract import GT_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.metrics.directories import (
    MARKER,
    NO_SET_WARNING,
    evaluate_directories,
    read_split_file,
)

SHAPE = (12, 32, 80)
SPLIT_TEXT = """(1) samples for FlyLight completely:

train:
c_train

test:
c_one
c_two

(2) samples for FlyLight partly:

test:
p_one
"""


def bars(*rows: int) -> np.ndarray:
    """GT channel stack: one 5 x 5 x 60 neurite per row offset (channel i holds i + 1)."""
    stack = np.zeros((len(rows), *SHAPE), np.uint8)
    for i, y in enumerate(rows):
        stack[i, 2:7, y : y + 5, 10:70] = i + 1
    return stack


def labels(stack: np.ndarray) -> np.ndarray:
    return stack.max(axis=0).astype(np.uint32)


@pytest.fixture
def dataset(tmp_path: Path) -> dict[str, Path]:
    """A FISBe-like tree with three test samples, predictions in four formats."""
    root = tmp_path / "resources" / "toy"
    gts = {"c_one": bars(1, 12), "c_two": bars(20), "p_one": bars(3, 24)}
    places = {"c_one": "completely/test", "c_two": "completely/test", "p_one": "partly/test"}
    for name, stack in gts.items():
        sample_io.write_array(root / places[name] / f"{name}.zarr", GT_KEY, stack, (1, 8, 16, 16))
    (root / "completely" / "train").mkdir(parents=True)
    sample_io.write_array(root / "completely/train/c_train.zarr", GT_KEY, bars(5), (1, 8, 16, 16))
    pred = tmp_path / "pred"
    pred.mkdir()
    sample_io.write_instances(pred / "c_one.zarr", labels(gts["c_one"]))  # zarr v2 channel stack
    with h5py.File(pred / "c_two.h5", "w") as handle:
        handle.create_dataset(
            "volumes/instances", data=labels(gts["c_two"]), chunks=(4, 8, 8), compression="gzip"
        )
    extra = np.zeros(SHAPE, np.uint32)
    extra[2:7, 24:29, 10:70] = 1  # p_one: one neuron found, a second one in background
    extra[8:11, 8:13, 5:75] = 2
    tifffile.imwrite(pred / "p_one.tif", extra)
    v3 = zarr.create_array(
        str(pred / "c_train.zarr"), shape=SHAPE, dtype=np.uint16, chunks=(6, 16, 40), zarr_format=3
    )
    v3[...] = labels(bars(5))
    split_file = tmp_path / "split.txt"
    split_file.write_text(SPLIT_TEXT)
    return {"gt": root, "pred": pred, "split": split_file, "out": tmp_path / "eval"}


def evaluate(d: dict[str, Path], *extra: str) -> int:
    argv = ["evaluate", "--gt", str(d["gt"]), "--pred", str(d["pred"]), "--out", str(d["out"])]
    return main([*argv, *extra])


def test_split_file_parsing(dataset: dict[str, Path]) -> None:
    partly, per_split = read_split_file(dataset["split"])
    assert partly == {"p_one"}
    assert per_split == {"train": {"c_train"}, "val": set(), "test": {"c_one", "c_two", "p_one"}}


def test_cli_writes_all_outputs(dataset: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert evaluate(dataset, "--split-file", str(dataset["split"]), "--split", "test") == 0
    out = dataset["out"]
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary) == ["completely", "partly", "combined"]
    completely, partly = summary["completely"], summary["partly"]
    for key in ("S", "avF1", "C", "clDice_TP", "tp", "FS", "FM", "num_gt", "num_pred"):
        assert key in summary["combined"]
    assert list(completely["F1"]) == [f"0.{i}" for i in range(1, 10)]
    assert (completely["S"], completely["num_images"], completely["num_gt"]) == (1.0, 2, 3)
    # p_one: one neuron matched, one missed; the background prediction is ignored
    assert (partly["TP"]["0.5"], partly["FP"]["0.5"], partly["FN"]["0.5"]) == (1, 0, 1)
    assert summary["combined"]["S"] == pytest.approx((completely["S"] + partly["S"]) / 2)
    rows = (out / "per_sample.csv").read_text().splitlines()
    assert rows[0].startswith("sample,set,S,avF1,C,clDice_TP,tp,FS,FM,num_gt,num_pred,F1_0.1")
    assert {r.split(",")[0] for r in rows[1:]} == {"c_one", "c_two", "p_one"}
    per_threshold = (out / "per_threshold.csv").read_text().splitlines()
    assert per_threshold[0] == "set,threshold,TP,FP,FN,precision,recall,F1"
    assert len(per_threshold) == 1 + 3 * 9
    toml = tomllib.loads((out / "p_one.toml").read_text())
    assert toml["general"]["Num GT"] == 2 and "th_0_95" in toml["confusion_matrix"]
    assert "completely" in capsys.readouterr().out


def test_without_split_every_gt_needs_a_prediction(dataset: dict[str, Path]) -> None:
    (dataset["pred"] / "c_train.zarr").rename(dataset["pred"] / "other.zarr")
    with pytest.raises(FisbeError, match="no prediction for sample c_train"):
        evaluate_directories(dataset["gt"], dataset["pred"], dataset["out"])


def test_cli_error_is_one_line_naming_the_sample(
    dataset: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    (dataset["pred"] / "p_one.tif").unlink()
    assert evaluate(dataset, "--split-file", str(dataset["split"]), "--split", "test") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "p_one" in err


def test_extra_prediction_is_ignored_with_warning(
    dataset: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        summary = evaluate_directories(
            dataset["gt"],
            dataset["pred"],
            dataset["out"],
            split_file=dataset["split"],
            split="test",
        )
    assert "c_train" in caplog.text  # has GT, but is not in the test split: not scored
    assert summary["completely"]["num_images"] == 2
    (dataset["pred"] / "stray.hdf").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        evaluate_directories(dataset["gt"], dataset["pred"], dataset["out"], partly=True, jobs=2)
    assert "ignoring prediction without a GT sample" in caplog.text and "stray.hdf" in caplog.text
    assert list(json.loads((dataset["out"] / "summary.json").read_text())) == ["partly"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "test"], "--split needs --split-file"),
        (["--pred-key", "volumes/nothing"], "missing key 'volumes/nothing'"),
    ],
)
def test_cli_bad_arguments(
    dataset: dict[str, Path], capsys: pytest.CaptureFixture, args: list[str], message: str
) -> None:
    assert evaluate(dataset, *args) == 2
    assert message in capsys.readouterr().err


def test_failure_keeps_existing_results(dataset: dict[str, Path]) -> None:
    assert evaluate(dataset) == 0
    before = (dataset["out"] / "summary.json").read_text()
    negative = np.zeros(SHAPE, np.int32)
    negative[0, 0, 0] = -1
    with h5py.File(dataset["pred"] / "c_two.h5", "w") as handle:
        handle["volumes/instances"] = negative
    assert evaluate(dataset) == 2
    assert (dataset["out"] / "summary.json").read_text() == before
    assert sorted(p.name for p in dataset["out"].parent.iterdir() if p.name.startswith(".")) == []


def test_inputs_inside_output_folder_are_refused(dataset: dict[str, Path]) -> None:
    with pytest.raises(FisbeError, match="must not contain the inputs"):
        evaluate_directories(dataset["gt"], dataset["pred"], dataset["pred"].parent)


def test_a_users_files_in_the_output_folder_are_kept(
    dataset: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    out = dataset["out"]
    out.mkdir()
    (out / "precious.txt").write_text("mine")
    assert evaluate(dataset, "--partly") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(out) in err[0] and "--overwrite" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["precious.txt"]
    assert evaluate(dataset, "--partly", "--overwrite") == 0
    assert (out / "precious.txt").read_text() == "mine"
    marker = json.loads((out / MARKER).read_text())
    assert marker["version"] == __version__ and "summary.json" in marker["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*marker["files"], MARKER, "precious.txt"]
    )


def test_rerun_into_its_own_output_replaces_only_its_files(dataset: dict[str, Path]) -> None:
    split = ("--split-file", str(dataset["split"]))
    assert evaluate(dataset, *split) == 0  # all four samples: c_train.toml among the outputs
    out = dataset["out"]
    (out / "notes.txt").write_text("mine")
    (out / "summary.json").write_text("stale")
    assert evaluate(dataset, *split, "--split", "test") == 0  # no --overwrite needed
    assert json.loads((out / "summary.json").read_text())["completely"]["num_images"] == 2
    assert not (out / "c_train.toml").exists()  # its own stale output is removed
    assert (out / "notes.txt").read_text() == "mine"
    assert "c_train.toml" not in json.loads((out / MARKER).read_text())["files"]
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_a_marker_listing_paths_is_refused(dataset: dict[str, Path]) -> None:
    dataset["out"].mkdir()
    (dataset["out"] / MARKER).write_text(json.dumps({"files": ["../pred/c_two.h5"]}))
    with pytest.raises(FisbeError, match="plain file names"):
        evaluate_directories(dataset["gt"], dataset["pred"], dataset["out"], overwrite=True)
    assert (dataset["pred"] / "c_two.h5").exists()


def test_assumed_sets_are_warned_about_and_recorded(
    dataset: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        evaluate_directories(dataset["gt"], dataset["pred"], dataset["out"])
    warnings = [r.getMessage() for r in caplog.records if "split-file" in r.getMessage()]
    assert warnings == [NO_SET_WARNING] and "false positives" in NO_SET_WARNING
    summary = json.loads((dataset["out"] / "summary.json").read_text())
    assert list(summary) == ["completely"]
    assert set(summary["completely"]["set_source"].values()) == {"assumed completely"}
    assert len(summary["completely"]["set_source"]) == 4
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        summary = evaluate_directories(
            dataset["gt"], dataset["pred"], dataset["out"], split_file=dataset["split"]
        )
    assert NO_SET_WARNING not in caplog.text
    assert summary["partly"]["set_source"] == {"p_one": "split-file"}
    assert summary["combined"]["set_source"]["c_train"] == "split-file"
    summary = evaluate_directories(dataset["gt"], dataset["pred"], dataset["out"], partly=True)
    assert set(summary["partly"]["set_source"].values()) == {"--partly"}

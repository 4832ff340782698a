"""Zarr I/O helpers, atomic output directories, the CLI dispatcher and the step adapter."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import zarr

from fisbe_bench import sample_io
from fisbe_bench.atomic import atomic_directory
from fisbe_bench.cli import COMMANDS, main
from fisbe_bench.contract import PRED_KEY, RAW_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.plan import plan_dataset, split_counts
from fisbe_bench.snakemake_adapter import evaluation_dirs, run_step


def test_write_instances_channel_layout_and_overlaps(tmp_path: Path) -> None:
    labels = np.zeros((6, 12, 12), np.uint32)
    labels[1:3, 1:4, 1:4] = 1
    labels[3:5, 6:9, 6:9] = 2
    n = sample_io.write_instances(
        tmp_path / "p.zarr", labels, extra_voxels={1: np.array([[3, 6, 6]])}
    )
    stack = zarr.open_array(str(tmp_path / "p.zarr" / PRED_KEY), mode="r")
    assert n == 2 and stack.shape == (2, 6, 12, 12) and stack.dtype == np.uint8
    assert stack.metadata.zarr_format == 2
    data = stack[...]
    assert set(np.unique(data[0])) == {0, 1} and set(np.unique(data[1])) == {0, 2}
    assert data[0, 3, 6, 6] == 1 and data[1, 3, 6, 6] == 2  # the overlap voxel is in both
    assert (data[0] > 0).sum() == 18 + 1 and (data[1] > 0).sum() == 18


def test_write_instances_empty_and_wide_ids(tmp_path: Path) -> None:
    assert sample_io.write_instances(tmp_path / "e.zarr", np.zeros((4, 4, 4), np.uint8)) == 0
    assert zarr.open_array(str(tmp_path / "e.zarr" / PRED_KEY)).shape == (0, 4, 4, 4)
    assert sample_io.instance_dtype(255) == np.uint8 and sample_io.instance_dtype(256) == np.uint16
    assert sample_io.instance_dtype(70000) == np.uint32


def test_atomic_directory_keeps_old_result_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.zarr"
    with atomic_directory(target) as tmp:
        tmp.mkdir()
        (tmp / "v").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        tmp.mkdir()
        (tmp / "v").write_text("half")
        raise RuntimeError("crash")
    assert (target / "v").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.zarr"]  # no temp left behind
    with atomic_directory(target) as tmp:
        tmp.mkdir()
        (tmp / "v").write_text("new")
    assert (target / "v").read_text() == "new"


def test_read_raw_normalises(tmp_path: Path) -> None:
    raw = np.array([0, 750, 1500, 4095], np.uint16).reshape(1, 1, 2, 2)
    sample_io.write_array(tmp_path / "s.zarr", RAW_KEY, raw, chunks=(1, 1, 2, 2))
    assert sample_io.read_raw(tmp_path / "s.zarr").ravel().tolist() == [0.0, 0.5, 1.0, 1.0]


def test_plan_is_deterministic_and_keeps_val_and_test() -> None:
    assert split_counts(2) == (2, 0, 0)
    assert split_counts(3) == (1, 1, 1)
    assert split_counts(30) == (18, 4, 8)
    plan = plan_dataset(12, 6)
    assert plan == plan_dataset(12, 6)
    assert len({s.name for s in plan}) == 18
    for set_name in ("completely", "partly"):
        assert {s.split for s in plan if s.set == set_name} == {"train", "val", "test"}


def test_cli_unknown_command_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["nope"])
    assert stop.value.code == 2
    assert main([]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_run_step_turns_user_errors_into_one_line(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    job = SimpleNamespace(log=[str(log)], rule="demo")

    def fails() -> None:
        print("working")
        raise FisbeError("is broken", "some/file.zarr")

    with pytest.raises(SystemExit) as stop:
        run_step(job, fails)
    assert stop.value.code == "demo: error: some/file.zarr: is broken"
    assert log.read_text().splitlines() == ["working", "error: some/file.zarr: is broken"]
    assert run_step(job, lambda value: value * 2, value=21) == 42


def test_evaluation_dirs_pairs_methods_with_their_folders() -> None:
    job = SimpleNamespace(
        params=SimpleNamespace(methods=["a", "b"]),
        input=SimpleNamespace(
            summaries=["r/d/a/evaluation/summary.json", "r/d/b/evaluation/summary.json"]
        ),
    )
    assert evaluation_dirs(job) == {"a": Path("r/d/a/evaluation"), "b": Path("r/d/b/evaluation")}
    job.params.methods = ["a"]
    with pytest.raises(ValueError):
        evaluation_dirs(job)

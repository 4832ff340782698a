"""B1 decoding tuned on val network outputs: the grid, the choice, the params file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from fisbe_bench.cli import main
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.config import AFFINITY_KEY, NUMINST_KEY, Params
from fisbe_bench.methods.unet_affinity.targets import affinity_target, pack_membership
from fisbe_bench.methods.unet_affinity.tuning import read_params, tune_to_file
from fisbe_bench.sample_io import write_array

OFFSETS = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (0, 1, -1), (0, 0, 3), (0, 3, 0)]


def _tubes() -> np.ndarray:
    gt = np.zeros((2, 12, 20, 60), dtype=np.uint8)
    gt[0, 3:8, 3:8, 2:58] = 1
    gt[1, 3:8, 8:13, 2:58] = 2  # touching the first all along (channel i holds i + 1)
    return gt


def _sample(root: Path, name: str, gt: np.ndarray, noise: float, seed: int) -> tuple[Path, Path]:
    """A GT sample and noisy network outputs for it (as ``unet-affinity predict`` writes)."""
    sample = root / "gt" / f"{name}.zarr"
    write_array(sample, "volumes/gt_instances", gt, chunks=(1, 16, 32, 64))
    m = 3
    bits = pack_membership(np.pad(gt, ((0, 0), (m, m), (m, m), (m, m))))
    targets, _ = affinity_target(bits, OFFSETS, m)
    rng = np.random.default_rng(seed)
    affinities = np.clip(targets * 0.9 + 0.05 + rng.normal(0, noise, targets.shape), 0, 1)
    counts = (gt > 0).sum(axis=0)
    numinst = np.stack([np.minimum(counts, 2) == c for c in range(3)]).astype(np.float32)
    probs = root / "probs" / f"{name}.zarr"
    write_array(probs, NUMINST_KEY, numinst, chunks=(1, 16, 32, 64))
    array = write_array(probs, AFFINITY_KEY, affinities.astype(np.float32), (1, 16, 32, 64))
    array.attrs["offsets"] = [list(o) for o in OFFSETS]
    return sample, probs


def _table(path: Path, rows: list[tuple[str, str, str, Path]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["sample", "set", "split", "path"])
        for name, set_name, split, sample in rows:
            writer.writerow([name, set_name, split, str(sample)])
    return path


def test_tuning_picks_the_decoding_that_separates_touching_neurons(tmp_path: Path) -> None:
    a, probs_a = _sample(tmp_path, "a", _tubes(), 0.05, 0)
    b, probs_b = _sample(tmp_path, "b", _tubes(), 0.05, 1)
    table = _table(
        tmp_path / "splits.tsv", [("a", "completely", "val", a), ("b", "partly", "val", b)]
    )
    grid = tmp_path / "grid.yaml"
    # merge_bias 0.01: every link attracts, the two tubes merge; 0.5 keeps them apart
    grid.write_text("merge_bias: [0.01, 0.5]\nfragment_threshold: [0.9]\n")
    out = tmp_path / "params.json"
    best = tune_to_file(table, {"a": probs_a, "b": probs_b}, "val", grid, out, Params(min_size=50))
    assert best == Params(min_size=50, merge_bias=0.5, fragment_threshold=0.9)
    document = json.loads(out.read_text())
    assert document["samples"] == ["a", "b"] and document["split"] == "val"
    rows = {row["merge_bias"]: row for row in document["table"]}
    assert rows[0.5]["S"] > rows[0.01]["S"]
    assert {"S_completely", "S_partly"} <= set(rows[0.5])
    assert read_params(out) == best


def test_tuning_needs_outputs_for_every_val_sample(tmp_path: Path) -> None:
    a, probs_a = _sample(tmp_path, "a", _tubes(), 0.0, 0)
    b, _ = _sample(tmp_path, "b", _tubes(), 0.0, 0)
    rows = [("a", "completely", "val", a), ("b", "completely", "val", b)]
    table = _table(tmp_path / "splits.tsv", rows)
    grid = tmp_path / "grid.yaml"
    grid.write_text("merge_bias: [0.5]\n")
    with pytest.raises(FisbeError, match="no network outputs given for val sample b"):
        tune_to_file(table, {"a": probs_a}, "val", grid, tmp_path / "p.json")


def test_grid_with_an_unknown_parameter_is_refused(tmp_path: Path) -> None:
    a, probs_a = _sample(tmp_path, "a", _tubes(), 0.0, 0)
    table = _table(tmp_path / "splits.tsv", [("a", "completely", "val", a)])
    grid = tmp_path / "grid.yaml"
    grid.write_text("long_bias: [0.5]\n")
    with pytest.raises(FisbeError, match="unknown unet_affinity parameter"):
        tune_to_file(table, {"a": probs_a}, "val", grid, tmp_path / "p.json")


def test_cli_tune_then_decode_with_the_params_file(tmp_path: Path) -> None:
    a, probs_a = _sample(tmp_path, "a", _tubes(), 0.05, 0)
    table = _table(tmp_path / "splits.tsv", [("a", "completely", "val", a)])
    grid = tmp_path / "grid.yaml"
    grid.write_text("merge_bias: [0.4, 0.6]\nmin_size: [50]\n")
    params = tmp_path / "params.json"
    tune = ["unet-affinity", "tune", "--samples", str(table), "--probs", str(tmp_path / "probs")]
    assert main([*tune, "--grid", str(grid), "--out", str(params)]) == 0
    out = tmp_path / "pred.zarr"
    decode = ["unet-affinity", "decode", "--probs", str(probs_a), "--out", str(out)]
    assert main([*decode, "--params", str(params)]) == 0
    import zarr

    instances = zarr.open_array(str(out / "volumes/instances"), mode="r")
    assert instances.shape[0] == 2

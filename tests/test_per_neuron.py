"""Per-neuron diagnostics: C_dim, C_overlap (official subset rules) and per_neuron.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FISBE_REAL, R14, VT

from fisbe_bench.contract import GT_KEY
from fisbe_bench.metrics import aggregate, combine, evaluate_sample
from fisbe_bench.metrics.directories import evaluate_directories
from fisbe_bench.metrics.localize import Instances
from fisbe_bench.metrics.neurons import dim_ids, overlapping_ids
from fisbe_bench.sample_io import write_array, write_instances

SHAPE = (7, 20, 120)


def _bar(x0: int, x1: int) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[2:5, 8:11, x0:x1] = True
    return mask


def _overlapping_pair() -> tuple[np.ndarray, np.ndarray]:
    """GT 1 = bar x 0-60, GT 2 (dim) = bar x 45-100 (they share x 45-60); one prediction
    = bar x 0-100. Its skeleton lies ~60 % in GT 1 and ~55 % in GT 2, so C gives it to GT 1
    and GT 2 gets nothing; restricted to the dim subset {GT 2}, 55 % in GT 2 beats 45 %
    outside it, and GT 2 is covered."""
    gt = np.stack([_bar(0, 60) * np.uint8(1), _bar(45, 100) * np.uint8(2)])
    return gt, _bar(0, 100).astype(np.uint16)


def test_dim_subset_uses_its_own_assignment() -> None:
    gt, pred = _overlapping_pair()
    result = evaluate_sample(gt, pred, dim_neurons=[2])
    assert result.coverage[0] > 0.95 and result.coverage[1] == 0
    assert len(result.coverage_dim) == 1 and result.coverage_dim[0] > 0.95
    assert result.coverage_overlap == pytest.approx(result.coverage)  # both overlap
    rows = pd.DataFrame(result.neurons)
    assert rows["dim"].tolist() == [False, True]
    assert rows["overlapping"].tolist() == [True, True]
    assert rows["matched_pred"].tolist() == [1, 0]
    assert np.isnan(rows["cldice_05"][1]) and rows["cldice_05"][0] > 0.5
    assert (rows["skeleton_length"] > 30).all()


def test_subsets_without_neurons_are_null() -> None:
    gt = np.stack([_bar(0, 40) * np.uint8(1), _bar(60, 100) * np.uint8(2)])
    result = evaluate_sample(gt, _bar(0, 40).astype(np.uint16))
    assert result.coverage_dim == [] and result.coverage_overlap == []
    summary = aggregate([result])
    assert summary["C_dim"] is None and summary["C_overlap"] is None
    other = aggregate([evaluate_sample(*_overlapping_pair(), dim_neurons=[2])])
    both = combine(summary | {"C_dim": 0.2}, other)
    assert both["C_dim"] == pytest.approx((0.2 + other["C_dim"]) / 2)
    assert both["C_overlap"] == pytest.approx(other["C_overlap"])
    assert combine(summary, summary)["C_dim"] is None


def test_neuron_ids() -> None:
    voxels = [np.array([1, 2, 3]), np.array([3, 4]), np.array([9])]
    gt = Instances((1, 1, 10), voxels, labels=[1, 2, 5])
    assert overlapping_ids(gt) == [1, 2]
    assert dim_ids(gt, [5, 1, 7]) == [3, 1]  # attribute order; unknown label 7 ignored


def test_directories_write_per_neuron_and_summary(tmp_path: Path) -> None:
    gt, pred = _overlapping_pair()
    write_array(
        tmp_path / "gt/s1.zarr", GT_KEY, gt, chunks=(1, 7, 20, 60), attrs={"dim_neurons": [2]}
    )
    write_instances(tmp_path / "pred/s1.zarr", pred, chunks=(7, 20, 60))
    summary = evaluate_directories(tmp_path / "gt", tmp_path / "pred", tmp_path / "eval")
    assert summary["completely"]["C_dim"] > 0.95
    on_disk = json.loads((tmp_path / "eval/summary.json").read_text())
    assert on_disk["completely"]["C_overlap"] == pytest.approx(summary["completely"]["C"])
    table = pd.read_csv(tmp_path / "eval/per_neuron.csv")
    assert list(table.columns) == [
        "sample",
        "set",
        "gt_id",
        "dim",
        "overlapping",
        "skeleton_length",
        "coverage",
        "cldice_05",
        "matched_pred",
    ]
    assert table["dim"].tolist() == [0, 1] and table["gt_id"].tolist() == [1, 2]


@pytest.mark.slow
@pytest.mark.xdist_group("metrics_fixtures")  # shares real_evaluation with them
def test_real_fixtures_match_official_dim_and_overlap(real_evaluation: tuple[dict, Path]) -> None:
    summary, out = real_evaluation
    with (FISBE_REAL / "expected/summary_brainbow_combined.csv").open() as handle:
        official = {r["sample"]: r for r in csv.DictReader(handle, delimiter=";")}
    for set_name, name in (("completely", R14), ("partly", VT)):
        row = official[name]
        assert summary[set_name]["C_dim"] == pytest.approx(
            float(row["general avg_gt_cov_dim"]), abs=1e-6
        )
        assert summary[set_name]["C_overlap"] == pytest.approx(
            float(row["general avg_gt_cov_overlap"]), abs=1e-6
        )
    assert summary["completely"]["C_overlap"] == pytest.approx(0.3382188, abs=1e-6)
    assert summary["partly"]["C_overlap"] == pytest.approx(0.2704388, abs=1e-6)
    table = pd.read_csv(out / "per_neuron.csv")
    for set_name, name in (("completely", R14), ("partly", VT)):
        rows = table[table["sample"] == name]
        assert int(rows["dim"].sum()) == int(float(official[name]["general GT_dim"]))
        assert int(rows["overlapping"].sum()) == int(float(official[name]["general GT_overlap"]))
        assert rows["coverage"].mean() == pytest.approx(summary[set_name]["C"], abs=1e-6)


def test_per_neuron_figure(tmp_path: Path) -> None:
    from fisbe_bench.reports.figures import write_figures

    gt, pred = _overlapping_pair()
    write_array(
        tmp_path / "gt/s1.zarr", GT_KEY, gt, chunks=(1, 7, 20, 60), attrs={"dim_neurons": [2]}
    )
    write_instances(tmp_path / "pred/s1.zarr", pred, chunks=(7, 20, 60))
    folder = tmp_path / "results/ds/m/evaluation"
    evaluate_directories(tmp_path / "gt", tmp_path / "pred", folder)
    written = write_figures("ds", {"m": folder}, tmp_path / "figures")
    assert tmp_path / "figures/per_neuron.png" in written
    assert (tmp_path / "figures/per_neuron.png").stat().st_size > 1000

"""GT geometry statistics: known shapes, layouts, CLI, the real reference, the Data figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FISBE_REAL

from fisbe_bench import synth
from fisbe_bench.cli import main
from fisbe_bench.contract import DIM_NEURONS_ATTR, GT_KEY
from fisbe_bench.dataset_stats import (
    COLUMNS,
    dataset_stats,
    find_samples,
    neuron_stats,
    summarise,
)
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports.data_figure import reference_stats, write_dataset_figure
from fisbe_bench.sample_io import write_array

REAL_SAMPLE = "VT011145-20171222_63_I2"


def real_fixtures() -> Path:
    """The real FISBe fixtures (``tests/data/fisbe-real``)."""
    return FISBE_REAL


def oblique_line(shape: tuple[int, int, int] = (20, 30, 40), length: int = 18) -> np.ndarray:
    """A 1-voxel line along (1, 1, 1): 26- but not 6-connected."""
    mask = np.zeros(shape, dtype=bool)
    steps = np.arange(length)
    mask[steps + 1, steps + 2, steps + 3] = True
    return mask


def test_oblique_line_is_one_voxel_wide_and_one_piece() -> None:
    stats = neuron_stats(oblique_line())
    assert stats["median_diameter"] == 1.0
    assert stats["pieces"] == 1
    assert stats["voxels"] == stats["skeleton_voxels"] == 18
    assert stats["relative_extent"] == pytest.approx(18 / 40)


def test_gap_splits_pieces_but_diagonal_contact_does_not() -> None:
    mask = oblique_line()
    mask[10, 11, 12] = False  # one missing voxel: two 26-connected pieces
    assert neuron_stats(mask)["pieces"] == 2
    corner = np.zeros((5, 5, 5), dtype=bool)
    corner[1, 1, 1] = corner[2, 2, 2] = True  # touching at a corner only
    assert neuron_stats(corner)["pieces"] == 1


def test_thick_tube_diameter() -> None:
    zz, yy = np.mgrid[:15, :15]
    disc = (zz - 7) ** 2 + (yy - 7) ** 2 <= 9  # radius 3: diameter about 7
    mask = np.repeat(disc[:, :, None], 40, axis=2)
    stats = neuron_stats(mask)
    assert 5.0 <= stats["median_diameter"] <= 7.0
    assert stats["pieces"] == 1
    assert stats["voxels"] / stats["skeleton_voxels"] > 15


def write_gt(path: Path, gt: np.ndarray, dim: list[int]) -> None:
    write_array(path, GT_KEY, gt, (1, 16, 16, 16), attrs={DIM_NEURONS_ATTR: dim})


def two_neurons() -> np.ndarray:
    """Two crossing lines sharing one voxel, and an empty third channel."""
    gt = np.zeros((3, 20, 30, 40), dtype=np.uint8)
    gt[0][oblique_line()] = 1
    gt[1, 10, 11, :] = 2  # crosses the oblique line at (10, 11, 12)
    return gt


def test_image_stats_and_layouts(tmp_path: Path) -> None:
    layout = tmp_path / "ds"
    write_gt(layout / "completely/test/a.zarr", two_neurons(), [2])
    write_gt(layout / "partly/train/b.zarr", two_neurons()[:1], [])
    assert [(s, p, path.name) for s, p, path in find_samples(layout)] == [
        ("completely", "test", "a.zarr"),
        ("partly", "train", "b.zarr"),
    ]
    table = dataset_stats(layout)
    assert list(table.columns) == COLUMNS
    neurons = table[table["level"] == "neuron"]
    assert neurons[["sample", "neuron", "dim"]].values.tolist() == [
        ["a", 1, False],
        ["a", 2, True],
        ["b", 1, False],
    ]
    image = table[(table["level"] == "image") & (table["sample"] == "a")].iloc[0]
    assert image["neurons"] == 2
    assert image["foreground_share"] == pytest.approx((18 + 40 - 1) / (20 * 30 * 40))
    assert image["overlap_share"] == pytest.approx(1 / 57)
    flat = tmp_path / "flat"
    write_gt(flat / "c.zarr", two_neurons(), [])
    assert [(s, p) for s, p, _ in find_samples(flat)] == [("", "")]


def test_cli_writes_one_csv_and_reports_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_gt(tmp_path / "data/a.zarr", two_neurons(), [])
    out = tmp_path / "stats.csv"
    assert main(["dataset-stats", "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["level"].tolist() == ["neuron", "neuron", "image"]
    assert "pieces_median: 1" in capsys.readouterr().out
    assert main(["dataset-stats", "--data", str(tmp_path / "none"), "--out", str(out)]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["dataset-stats", "--data", str(tmp_path / "empty"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "not a folder" in err and "no <set>/<split>" in err


def real_gt() -> Path:
    root = real_fixtures()
    return root / "gt"


def assert_matches_reference(table: pd.DataFrame) -> None:
    reference = reference_stats()
    reference = reference[reference["sample"].isin(set(table["sample"]))]
    numeric = [c for c in COLUMNS if c not in ("level", "sample", "set", "split", "dim")]
    assert table["sample"].tolist() == reference["sample"].tolist()
    assert table["dim"].tolist() == reference["dim"].tolist()
    np.testing.assert_allclose(
        table[numeric].to_numpy(float), reference[numeric].to_numpy(float), rtol=1e-5
    )


def test_real_gt_in_measured_ranges_and_as_in_the_reference(tmp_path: Path) -> None:
    (tmp_path / f"{REAL_SAMPLE}.zarr").symlink_to(real_gt() / f"{REAL_SAMPLE}.zarr")
    table = dataset_stats(tmp_path)
    image = table[table["level"] == "image"].iloc[0]
    neurons = table[table["level"] == "neuron"]
    assert image["neurons"] == 8
    assert 0.0015 < image["foreground_share"] < 0.0025
    assert 0.002 < image["overlap_share"] < 0.005
    assert (neurons["median_diameter"] == 1.0).sum() == 4
    assert neurons["pieces"].median() >= 5 and neurons["pieces"].max() == 20
    assert neurons["skeleton_voxels"].min() >= 394 and neurons["skeleton_voxels"].max() <= 7690
    assert neurons["dim"].sum() == 3
    assert_matches_reference(table)


@pytest.mark.slow
def test_committed_reference_is_up_to_date() -> None:
    """``src/fisbe_bench/data/fisbe_real_stats.csv`` equals dataset-stats on both real GTs."""
    table = dataset_stats(real_gt())
    assert len(table) == len(reference_stats())
    assert_matches_reference(table)


def test_data_figure(tmp_path: Path) -> None:
    synth.write_dataset(tmp_path / "ds", 2, 1, (32, 64, 64), 1)
    stats = tmp_path / "stats.csv"
    assert main(["dataset-stats", "--data", str(tmp_path / "ds"), "--out", str(stats)]) == 0
    assert set(pd.read_csv(stats)["level"]) == {"neuron", "image"}
    out = write_dataset_figure(stats, tmp_path / "fig/stats.png", "tiny")
    assert out.read_bytes().startswith(b"\x89PNG")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FisbeError, match="not a dataset-stats table"):
        write_dataset_figure(tmp_path / "bad.csv", tmp_path / "bad.png", "bad")


@pytest.mark.slow
def test_synthetic_at_256x512x512_meets_the_realism_targets(tmp_path: Path) -> None:
    """Issue 13's done-when targets on 3 completely labelled 256x512x512 samples.

    Measured (seed 0): see benchmarks/RESULTS-synth.md. Over 60 s (about 50 s alone on 2 cores,
    up to 100 s beside the other worker): the targets are about FISBe-scale geometry, which
    smaller volumes do not have (the demo's 72x176x176 neurons have 1 piece, not 5).
    """
    synth.write_dataset(tmp_path / "ds", 3, 0, (256, 512, 512), 0)
    stats = summarise(dataset_stats(tmp_path / "ds"))
    assert 0.0008 <= stats["foreground_share_median"] <= 0.005
    assert stats["thin_share"] >= 0.25
    assert stats["pieces_median"] >= 2
    assert stats["relative_extent_median"] >= 0.35
    assert stats["neurons_per_image_min"] >= 5
    assert stats["voxels_per_skeleton_median"] <= 15
    assert 0.001 <= stats["overlap_share_median"] <= 0.02

"""The oracle: B1's decoding of ideal network outputs, on toy and on real FISBe ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import FISBE_REAL, OFFICIAL_SPLIT, R14, VT

from fisbe_bench.cli import main
from fisbe_bench.methods.unet_affinity.config import DEFAULT_OFFSETS, Params
from fisbe_bench.methods.unet_affinity.oracle import (
    decode_ideal,
    ideal_values,
    membership_bits,
)
from fisbe_bench.methods.unet_affinity.targets import affinity_target, pack_membership
from fisbe_bench.sample_io import write_array

AXIS_ONLY = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (3, 0, 0), (0, 3, 0), (0, 0, 3)]


def _gt_sample(path: Path, gt: np.ndarray) -> Path:
    write_array(path, "volumes/gt_instances", gt, chunks=(1, 32, 64, 64))
    return path


def _instances(labels: np.ndarray, extra: dict[int, np.ndarray]) -> list[np.ndarray]:
    masks = []
    for ident in range(1, int(labels.max()) + 1):
        mask = labels == ident
        mask[tuple(extra.get(ident, np.empty((0, 3), int)).T)] = True
        masks.append(mask)
    return masks


def test_ideal_values_are_the_training_targets() -> None:
    rng = np.random.default_rng(0)
    gt = (rng.random((3, 12, 14, 16)) < 0.2).astype(np.uint8)
    offsets = [tuple(int(v) for v in o) for o in DEFAULT_OFFSETS[:26]]  # scales 1 and 3
    bits = membership_bits(gt)
    flat = np.flatnonzero(bits)
    values = ideal_values(bits, flat, offsets)
    m = 3
    targets, classes = affinity_target(
        pack_membership(np.pad(gt, ((0, 0), (m, m), (m, m), (m, m)))), offsets, m
    )
    coords = np.unravel_index(flat, bits.shape)
    for k, offset in enumerate(offsets):
        moved = np.stack(coords, axis=1) + offset
        inside = np.all((moved >= 0) & (moved < bits.shape), axis=1)
        expected = targets[k][coords][inside]
        assert np.array_equal(values[k][inside], expected), offset


def test_diagonal_neurite_stays_one_instance(tmp_path: Path) -> None:
    """A 1-voxel diagonal neurite has no axis-aligned neighbour pairs: the axis-only graph
    breaks it, the 26-neighbourhood keeps it whole."""
    gt = np.zeros((1, 40, 40, 40), dtype=np.uint8)
    for i in range(2, 38):
        gt[0, i, i, i] = 1
    sample = _gt_sample(tmp_path / "s.zarr", gt)
    small = Params(min_size=5)
    whole, _ = decode_ideal(sample, DEFAULT_OFFSETS, small)
    assert whole.max() == 1 and (whole > 0).sum() == 36
    broken, _ = decode_ideal(sample, AXIS_ONLY, small)
    assert broken.max() == 0  # every piece is a single voxel, below min_size


def test_gap_and_long_overlap_run_are_bridged(tmp_path: Path) -> None:
    """Neuron 1 has a 6-voxel signal gap; neuron 2 runs along neuron 3 for 30 voxels (longer
    than any offset), so its two ends meet only through overlap voxels."""
    gt = np.zeros((3, 20, 30, 80), dtype=np.uint8)
    gt[0, 4:6, 4:6, 2:30] = 1
    gt[0, 4:6, 4:6, 36:78] = 1  # gap of 6 voxels
    gt[1, 12:14, 12:14, 2:78] = 1  # neuron 2 straight along x
    gt[2, 12:14, 20:22, 2:25] = 1  # neuron 3 comes from aside ...
    gt[2, 12:14, 14:20, 23:25] = 1
    gt[2, 12:14, 12:14, 25:55] = 1  # ... runs inside neuron 2 for 30 voxels ...
    gt[2, 12:14, 14:22, 53:55] = 1
    gt[2, 12:14, 20:22, 55:78] = 1  # ... and leaves again
    sample = _gt_sample(tmp_path / "s.zarr", gt)
    labels, extra = decode_ideal(sample, DEFAULT_OFFSETS, Params(min_size=20))
    masks = _instances(labels, extra)
    assert len(masks) == 3
    for channel in range(3):
        assert any(np.array_equal(m, gt[channel] > 0) for m in masks), channel
    labels, extra = decode_ideal(
        sample, DEFAULT_OFFSETS, Params(min_size=20, bridge_overlaps=False)
    )
    assert labels.max() == 5  # neurons 2 and 3 each stay in two pieces without bridging


def test_oracle_command_writes_an_evaluation_folder(tmp_path: Path) -> None:
    gt = np.zeros((2, 16, 24, 60), dtype=np.uint8)
    gt[0, 2:7, 2:7, 2:58] = 1
    gt[1, 9:14, 14:19, 2:58] = 1
    gt_dir = tmp_path / "gt"
    _gt_sample(gt_dir / "toy.zarr", gt)
    out = tmp_path / "oracle"
    args = ["oracle", "--method", "unet_affinity", "--gt", str(gt_dir), "--out", str(out)]
    assert main([*args, "--partly", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partly"]["S"] == pytest.approx(1.0)
    assert (out / "per_sample.csv").exists()
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"params": {"min_size": 10000}}))
    assert main([*args, "--partly", "--no-progress", "--params", str(params)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partly"]["S"] == pytest.approx(0.0)  # every instance dropped


def test_oracle_refuses_an_unknown_kind(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["oracle", "--method", "threshold_cc", "--gt", "x", "--out", "y"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_oracle_reaches_the_goal_on_real_fisbe(tmp_path: Path) -> None:
    """The issue's goal: S >= 0.97 over both real ground truths, each >= 0.95 (measured:
    R14A02 1.000, VT011145_I2 0.969; the axis-only decoding of before: 0.951 / see README)."""
    out = tmp_path / "oracle"
    code = main(
        [
            "oracle", "--method", "unet_affinity", "--gt", str(FISBE_REAL / "gt"),
            "--split-file", str(OFFICIAL_SPLIT), "--out", str(out), "--no-progress",
        ]
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["combined"]["S"] >= 0.97
    assert summary["completely"]["S"] >= 0.95 and summary["partly"]["S"] >= 0.95
    assert set(summary["combined"]["set_source"]) == {R14, VT}

"""B1 output errors before decoding (``fisbe-bench overfit`` writes them)."""

from __future__ import annotations

import numpy as np

from fisbe_bench.methods.unet_affinity.diagnostics import output_errors, recall_by_distance

OFFSETS = [(0, 0, 1), (0, 1, 0), (0, 0, 3)]


def _two_touching_neurons() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GT of two neurons side by side along y (x = 2 and x = 3, 6 voxels each) and ideal
    numinst and affinities for it."""
    gt = np.zeros((2, 1, 6, 8), dtype=np.uint8)
    gt[0, 0, :, 2] = 1
    gt[1, 0, :, 3] = 1
    inside = gt.any(axis=0)
    numinst = np.stack([~inside, inside, np.zeros_like(inside)]).astype(np.float32)
    affinities = np.zeros((len(OFFSETS), 1, 6, 8), dtype=np.float32)
    affinities[1, 0, :5, 2:4] = 1.0  # (0, 1, 0): each neuron with itself along y
    return gt, numinst, affinities


def test_ideal_outputs_have_no_errors() -> None:
    gt, numinst, affinities = _two_touching_neurons()
    errors = output_errors(numinst, affinities, OFFSETS, gt)
    assert errors["foreground_voxels"] == 12
    assert errors["foreground_missed"] == errors["foreground_added"] == 0
    rows = {tuple(row["offset"]): row for row in errors["offsets"]}
    assert rows[(0, 0, 1)]["different_pairs"] == 6 and rows[(0, 0, 1)]["same_pairs"] == 0
    assert rows[(0, 1, 0)]["same_pairs"] == 10 and rows[(0, 1, 0)]["different_pairs"] == 0
    assert rows[(0, 0, 3)]["same_pairs"] == rows[(0, 0, 3)]["different_pairs"] == 0
    assert recall_by_distance(errors) == {
        "1": {"same": 1.0, "different": 1.0},
        "3": {"same": None, "different": None},
    }


def test_errors_are_counted_where_they_are() -> None:
    gt, numinst, affinities = _two_touching_neurons()
    affinities[0] = 1.0  # "same neuron" across the contact: 6 separating pairs missed
    affinities[1, 0, :2] = 0.0  # 4 same-neuron pairs along y missed
    numinst[:, 0, 0, 5] = [0.0, 1.0, 0.0]  # one voxel added
    numinst[:, 0, 5, 2] = [1.0, 0.0, 0.0]  # one voxel missed
    errors = output_errors(numinst, affinities, OFFSETS, gt)
    assert errors["foreground_missed"] == errors["foreground_added"] == 1
    assert recall_by_distance(errors)["1"] == {"same": 0.6, "different": 0.0}

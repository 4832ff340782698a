"""Per-neuron diagnostics: coverage of dim and of overlapping GT neurons, per-neuron rows.

The subsets follow the official evaluator's ``avg_gt_cov_dim`` / ``avg_gt_cov_overlap``:
dim neurons are the GT labels listed in the GT's ``dim_neurons`` attribute; overlapping
neurons are GT instances with at least one voxel that another GT instance also holds. The
coverage of a subset is C computed as if the GT held only that subset: each prediction goes
to the subset neuron (or background) of highest clPrecision, where background now means
"in no neuron of the subset"; the union rule applies when the subset itself and the
prediction have overlapping voxels. One divergence: with no prediction at all the official
code (which cannot score an empty prediction) would list no dim coverages; here every dim
neuron then has coverage 0, as in C.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from fisbe_bench.metrics import match
from fisbe_bench.metrics.localize import (
    Instances,
    Localization,
    in_sorted,
    overlap_ratios,
    skeleton,
)

logger = logging.getLogger(__name__)


def dim_ids(gt: Instances, dim_neurons: Sequence[int], where: str = "") -> list[int]:
    """1-based GT instance indices of the dim neurons (given as GT label values), in the
    attribute's order (the official subset order, which breaks assignment ties)."""
    labels = gt.labels or list(range(1, gt.n + 1))
    index = {label: i for i, label in reversed(list(enumerate(labels, start=1)))}
    unknown = sorted(int(v) for v in dim_neurons if int(v) not in index)
    if unknown:
        logger.warning(
            "dim_neurons %s are not GT instances%s", unknown, f" ({where})" * bool(where)
        )
    return list(dict.fromkeys(index[int(v)] for v in dim_neurons if int(v) in index))


def overlapping_ids(gt: Instances) -> list[int]:
    """1-based indices of GT instances sharing at least one voxel with another one."""
    shared = gt.shared_voxels
    return [g for g, v in enumerate(gt.voxels, start=1) if in_sorted(v, shared).any()]


def subset_coverage(loc: Localization, ids: Sequence[int]) -> list[float]:
    """Per-neuron coverage of the GT subset ``ids`` (1-based), official subset rules."""
    if not ids:
        return []
    subset = Instances(loc.gt.shape, [loc.gt.voxels[g - 1] for g in ids])
    precision_t, _ = overlap_ratios(loc.pred_skeletons, subset, loc.pred.n + 1)
    rows = [0, *ids]
    restricted = Localization(
        gt=subset,
        pred=loc.pred,
        gt_skeletons=[loc.gt_skeletons[g - 1] for g in ids],
        pred_skeletons=loc.pred_skeletons,
        recall=loc.recall[rows],
        precision=np.ascontiguousarray(precision_t.T),
        gt_in_pred=[loc.gt_in_pred[g - 1] for g in ids],
    )
    return match.coverage(restricted)


def neuron_rows(
    loc: Localization,
    coverage: Sequence[float],
    dim: Sequence[int],
    overlapping: Sequence[int],
) -> list[dict[str, Any]]:
    """One row per GT neuron: id, dim, overlapping, skeleton length, coverage and its
    clDice match at threshold 0.5 (clDice and prediction id; NaN / 0 when unmatched)."""
    pairs = match.greedy_one_to_one(loc.cldice, 0.5) if loc.gt.n and loc.pred.n else []
    matched = dict(pairs)
    rows = []
    for g in range(1, loc.gt.n + 1):
        skel = loc.gt_skeletons[g - 1]
        if not len(skel):  # not computed for neurons no prediction touches
            skel = skeleton(loc.gt.voxels[g - 1], loc.gt.shape)
        pred = matched.get(g, 0)
        rows.append(
            {
                "gt_id": g,
                "dim": g in dim,
                "overlapping": g in overlapping,
                "skeleton_length": len(skel),
                "coverage": float(coverage[g - 1]),
                "cldice_05": float(loc.cldice[g, pred]) if pred else float("nan"),
                "matched_pred": pred,
            }
        )
    return rows

"""Scoring one image: preprocessing, localization, matching, counts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fisbe_bench.contract import MIN_SIZE
from fisbe_bench.metrics import match, neurons
from fisbe_bench.metrics.aggregate import SampleResult, threshold_key
from fisbe_bench.metrics.localize import (
    Localization,
    collect_instances,
    localize,
    spatial_windows,
)
from fisbe_bench.volumes import as_volume

IOU_THRESHOLDS = match.F1_THRESHOLDS


def evaluate_sample(
    gt: Any,
    pred: Any,
    partly: bool = False,
    *,
    name: str = "",
    iou: bool = False,
    where: str | Path | None = None,
    dim_neurons: Sequence[int] = (),
) -> SampleResult:
    """Score one image with the FISBe metrics (official ``flylight`` preset).

    ``gt`` is an ``(N, Z, Y, X)`` channel stack (or a ZYX label image) and ``pred`` a ZYX
    label image or CZYX channel stack: numpy arrays, zarr/h5py arrays or
    :class:`~fisbe_bench.volumes.Volume` objects, read block by block. ``partly`` applies
    the partly-labelled false-positive rule; ``iou`` adds IoU-matching F1 counts;
    ``dim_neurons`` (GT label values, the GT's ``dim_neurons`` attribute) marks dim neurons.
    """
    gt_volume = as_volume(gt, where)
    pred_volume = as_volume(pred, where)
    gt_window, pred_window = spatial_windows(
        gt_volume.spatial_shape,
        pred_volume.spatial_shape,
        str(where or pred_volume.where or "") or None,
    )
    gt_instances = collect_instances(gt_volume, gt_window)
    pred_instances = collect_instances(pred_volume, pred_window, min_size=MIN_SIZE)
    loc = localize(gt_instances, pred_instances)
    result = score(loc, partly=partly, name=name)
    dim = neurons.dim_ids(gt_instances, dim_neurons, str(where or ""))
    overlapping = neurons.overlapping_ids(gt_instances)
    result.coverage_dim = neurons.subset_coverage(loc, dim)
    result.coverage_overlap = neurons.subset_coverage(loc, overlapping)
    result.neurons = neurons.neuron_rows(loc, result.coverage, dim, overlapping)
    if iou:
        result.iou = iou_counts(loc, partly=partly)
    return result


def score(loc: Localization, partly: bool = False, name: str = "") -> SampleResult:
    """Counts, coverage and FS/FM of one localized image."""
    n_gt, n_pred = loc.gt.n, loc.pred.n
    cldice = loc.cldice
    recall_without_shared = _recall_without_shared(loc) if loc.overlaps else None
    tp, fp, fn, false_split, false_merge = {}, {}, {}, {}, {}
    tp_cldice: list[float] = []
    for threshold in match.THRESHOLDS:
        key = threshold_key(threshold)
        pairs = match.greedy_one_to_one(cldice, threshold) if n_gt and n_pred else []
        matched = {p for _, p in pairs}
        in_labelled = match.unmatched_in_labelled(loc.precision, matched)
        tp[key] = len(pairs)
        fp[key] = len(in_labelled) if partly else n_pred - len(pairs)
        fn[key] = n_gt - len(pairs)
        false_split[key] = len(in_labelled)
        false_merge[key] = match.false_merge_count(loc.recall, recall_without_shared, threshold)
        if threshold == 0.5:
            tp_cldice = [float(cldice[g, p]) for g, p in pairs]
    splits, _ = match.split_merge_counts(match.many_to_many(loc, match.FS_THRESHOLD), n_pred)
    _, merges = match.split_merge_counts(match.many_to_many(loc, match.FM_THRESHOLD), n_pred)
    return SampleResult(
        n_gt=n_gt,
        n_pred=n_pred,
        TP=tp,
        FP=fp,
        FN=fn,
        coverage=match.coverage(loc),
        tp_cldice=tp_cldice,
        FS=splits,
        FM=merges,
        false_split=false_split,
        false_merge=false_merge,
        name=name,
        partly=partly,
    )


def _recall_without_shared(loc: Localization) -> np.ndarray:
    """clRecall without GT-shared voxels, for the rows a false merge could involve."""
    lowest = min(match.THRESHOLDS)
    passing = loc.recall[1:, 1:] > lowest
    merging_columns = passing.sum(axis=0) > 1
    rows = np.flatnonzero(passing[:, merging_columns].any(axis=1)) + 1
    return loc.recall_without_shared(rows)


def iou_counts(loc: Localization, partly: bool = False) -> dict[str, Any]:
    """IoU-matching TP/FP/FN and F1 per threshold (StarDist-style optimal assignment).

    Pairs need IoU >= threshold; the assignment maximises the number of matches, then the
    summed IoU. In a partly labelled image an unmatched prediction is a false positive
    only if most of its voxels lie in a labelled neuron (the clDice partly rule, by voxels).
    """
    from scipy.optimize import linear_sum_assignment

    ious = loc.iou
    n_gt, n_pred = ious.shape
    in_labelled = np.argmax(loc.voxel_overlap, axis=0) > 0
    tp, fp, fn, f1 = {}, {}, {}, {}
    for threshold in IOU_THRESHOLDS:
        key = threshold_key(threshold)
        matched = np.zeros(n_pred + 1, dtype=bool)
        if n_gt and n_pred:
            passing = ious >= threshold
            costs = -passing.astype(float) - ious / (2 * min(n_gt, n_pred))
            rows, cols = linear_sum_assignment(costs)
            matched[cols[passing[rows, cols]] + 1] = True
        tp[key] = int(matched.sum())
        unmatched = ~matched[1:]
        fp[key] = int((unmatched & in_labelled[1:]).sum()) if partly else int(unmatched.sum())
        fn[key] = n_gt - tp[key]
        denominator = 2 * tp[key] + fp[key] + fn[key]
        f1[key] = 2 * tp[key] / denominator if denominator else 0.0
    return {"TP": tp, "FP": fp, "FN": fn, "F1": f1, "avF1": float(np.mean(list(f1.values())))}

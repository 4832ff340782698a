"""Matching GT and predicted instances: one-to-one (TP/FP/FN), coverage, FS/FM.

Indices are 1-based (0 is background), matching the localization matrices.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from fisbe_bench.metrics.localize import Localization

F1_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
THRESHOLDS = (*F1_THRESHOLDS, 0.55, 0.65, 0.75, 0.85, 0.95)
FS_THRESHOLD = 0.05
FM_THRESHOLD = 0.1

Pair = tuple[int, int]


def greedy_one_to_one(scores: np.ndarray, threshold: float) -> list[Pair]:
    """Greedy one-to-one matching on ``scores[1:, 1:]`` (GT rows, prediction columns).

    Candidates are pairs scoring strictly above ``threshold``, taken by descending score,
    ties by (GT, prediction) index; a pair is accepted when both sides are still free.
    Returns the accepted 1-based ``(gt, pred)`` pairs in acceptance order.
    """
    fg = scores[1:, 1:]
    gt_idx, pred_idx = np.nonzero(fg > threshold)
    values = fg[gt_idx, pred_idx]
    order = np.lexsort((pred_idx, gt_idx, -values))
    taken_gt: set[int] = set()
    taken_pred: set[int] = set()
    pairs = []
    for g, p in zip(gt_idx[order].tolist(), pred_idx[order].tolist(), strict=True):
        if g not in taken_gt and p not in taken_pred:
            taken_gt.add(g)
            taken_pred.add(p)
            pairs.append((g + 1, p + 1))
    return pairs


def unmatched_in_labelled(precision: np.ndarray, matched_preds: set[int]) -> list[int]:
    """Unmatched predictions whose skeleton lies mostly in a labelled GT neuron.

    The row of highest clPrecision (background row 0 included; ties go to the lower
    row, so to background) must be a GT instance. These are the false positives of a
    partly labelled image and the official per-threshold ``false_split`` count.
    """
    n_pred = precision.shape[1] - 1
    unmatched = [p for p in range(1, n_pred + 1) if p not in matched_preds]
    if not unmatched:
        return []
    best = np.argmax(precision[:, unmatched], axis=0)
    return [p for p, b in zip(unmatched, best.tolist(), strict=True) if b > 0]


def false_merge_count(
    recall: np.ndarray, recall_without_shared: np.ndarray | None, threshold: float
) -> int:
    """Official per-threshold false merges: GTs per prediction with clRecall > th, minus 1.

    With overlapping instances a pair must also pass without the voxels shared by
    several GT instances.
    """
    mask = recall[1:, 1:] > threshold
    if recall_without_shared is not None:
        mask &= recall_without_shared[1:, 1:] > threshold
    return int(np.maximum(mask.sum(axis=0) - 1, 0).sum())


def coverage(loc: Localization) -> list[float]:
    """Per-GT skeleton coverage C by the predictions assigned to it.

    Each prediction goes to the row of highest clPrecision (background included). If
    both GT and prediction have shared voxels, coverage is the clRecall of skel(g)
    against the union of its predictions; otherwise the (float32) sum of their clRecall.
    """
    assigned = np.argmax(loc.precision, axis=0)
    covs: list[float] = []
    union_mode = loc.gt.overlapping and loc.pred.overlapping
    for g in range(1, loc.gt.n + 1):
        preds = np.flatnonzero(assigned == g)
        preds = preds[preds > 0]
        if union_mode:
            if not len(preds):
                covs.append(0.0)
                continue
            member = np.asarray(loc.pred_membership(g)[:, preds].any(axis=1))
            covs.append(float(member.mean()) if len(member) else 0.0)
        else:
            covs.append(float(np.sum(loc.recall[g, preds])))
    return covs


class _LazyHeap:
    """Max-priority queue of (gt, pred) pairs with versioned lazy invalidation.

    Pushing a pair again supersedes its queued entries; invalidating marks the latest
    version dead (version -1, so a later push restarts at version 0); popping removes
    the pair's version record. Ties pop in push order. These are the official
    evaluator's queue semantics, which decide the many-to-many matching order.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[float, int, int, Pair]] = []
        self._version: dict[Pair, int] = {}
        self._seq = itertools.count()

    def push(self, key: Pair, score: float) -> None:
        version = self._version.get(key, 0) + 1
        self._version[key] = version
        heapq.heappush(self._entries, (-score, next(self._seq), version, key))

    def invalidate(self, key: Pair) -> None:
        if key in self._version:
            self._version[key] = -1

    def pop(self) -> Pair | None:
        while self._entries:
            _, _, version, key = heapq.heappop(self._entries)
            if self._version.get(key) == version:
                del self._version[key]
                return key
        return None


def many_to_many(loc: Localization, threshold: float) -> dict[int, list[int]]:
    """Many-to-many matches on clRecall for FS/FM: ``{gt: [preds]}`` (1-based).

    Without shared voxels every pair with clRecall > threshold matches. With them, pairs
    are taken greedily by clRecall and each match consumes voxels: the GT skeleton loses
    the prediction's voxels and the prediction loses the GT's voxels; the other pairs of
    that GT and of that prediction are rescored and requeued while above threshold.
    """
    fg = loc.recall[1:, 1:]
    gt_idx, pred_idx = np.nonzero(fg > threshold)
    matches: dict[int, list[int]] = {}
    if not loc.overlaps:
        for g, p in zip((gt_idx + 1).tolist(), (pred_idx + 1).tolist(), strict=True):
            matches.setdefault(g, []).append(p)
        return matches
    if not len(gt_idx):
        return matches
    queue = _LazyHeap()
    for g, p in zip((gt_idx + 1).tolist(), (pred_idx + 1).tolist(), strict=True):
        queue.push((g, p), float(loc.recall[g, p]))
    in_pred = {g: loc.pred_membership(g) for g in np.unique(gt_idx + 1).tolist()}
    in_gt = {g: loc.gt_membership(g) for g in in_pred}
    available = {g: np.ones(len(m), dtype=bool) for g, m in in_pred.items()}
    size = {g: float(len(m)) or 1.0 for g, m in in_pred.items()}
    consumed_by: dict[int, list[int]] = {}  # prediction -> GTs whose voxels it lost
    while (pair := queue.pop()) is not None:
        g, p = pair
        matches.setdefault(g, []).append(p)
        available[g] &= ~in_pred[g][:, p]
        consumed_by.setdefault(p, []).append(g)
        for other_p in (np.flatnonzero(fg[g - 1] > threshold) + 1).tolist():
            score = np.count_nonzero(available[g] & in_pred[g][:, other_p]) / size[g]
            if score > threshold:
                queue.push((g, other_p), score)
            else:
                queue.invalidate((g, other_p))
        for other_g in (np.flatnonzero(fg[:, p - 1] > threshold) + 1).tolist():
            lost = in_gt[other_g][:, consumed_by[p]].any(axis=1)
            score = np.count_nonzero(in_pred[other_g][:, p] & ~lost) / size[other_g]
            if score > threshold:
                queue.push((other_g, p), score)
            else:
                queue.invalidate((other_g, p))
    return matches


def split_merge_counts(matches: dict[int, list[int]], n_pred: int) -> tuple[int, int]:
    """``(FS, FM)``: extra predictions per GT and extra GTs per prediction."""
    splits = sum(max(0, len(preds) - 1) for preds in matches.values())
    per_pred = np.zeros(n_pred + 1, dtype=np.int64)
    for preds in matches.values():
        np.add.at(per_pred, preds, 1)
    merges = int(np.maximum(per_pred[1:] - 1, 0).sum())
    return splits, merges

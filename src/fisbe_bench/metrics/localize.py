"""Localization: sparse instances, their skeletons and the clRecall/clPrecision matrices.

Volumes are streamed block by block; only foreground voxels are kept, as sorted flat
indices per instance (neurons are sparse: ~0.2% of a FISBe volume). Each instance is
skeletonized once by Lee thinning that visits only its own voxels (identical to the
full-volume skeleton because the thinning only looks at 3x3x3 neighbourhoods), and all
pair overlaps come from one lookup of the skeleton voxels in a sorted voxel table.

Preprocessing follows the official ``flylight`` preset: predicted ids with at most
``min_size`` voxels (counted over all channels) are deleted, empty channels dropped, and
instances numbered 1..n in (channel, id) order, so a binary channel stack gets 1..C.
Matrices are float32 with row/column 0 for background, as in the official evaluator, so
that threshold comparisons give the same answers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property

import fastremap
import numpy as np

from fisbe_bench.errors import FisbeError
from fisbe_bench.thinning import thin
from fisbe_bench.volumes import Volume, label_values

logger = logging.getLogger(__name__)

Window = tuple[slice, slice, slice]


@dataclass
class Instances:
    """Instances 1..n of one volume as sorted flat voxel indices into ``shape``.

    ``labels`` holds each instance's value in the input volume (when known).
    """

    shape: tuple[int, int, int]
    voxels: list[np.ndarray]
    labels: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.voxels)

    @cached_property
    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """All voxels of all instances sorted by flat index, with their 1-based ids."""
        if not self.voxels:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        flat = np.concatenate(self.voxels)
        ids = np.repeat(np.arange(1, self.n + 1), [len(v) for v in self.voxels])
        order = np.argsort(flat, kind="stable")
        return flat[order], ids[order]

    def owners(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(i, id)``: query voxel ``query[i]`` lies in instance ``id``."""
        flat, ids = self.table
        left = np.searchsorted(flat, query, side="left")
        right = np.searchsorted(flat, query, side="right")
        counts = right - left
        rows = np.repeat(np.arange(len(query)), counts)
        starts = np.repeat(left - np.cumsum(counts) + counts, counts)
        positions = np.arange(counts.sum()) + starts
        return rows, ids[positions]

    @property
    def overlapping(self) -> bool:
        """Whether some voxel belongs to two or more instances."""
        return bool(len(self.shared_voxels))

    @cached_property
    def shared_voxels(self) -> np.ndarray:
        """Sorted flat indices of voxels that belong to two or more instances."""
        flat = self.table[0]
        if len(flat) < 2:
            return np.empty(0, np.int64)
        dup = flat[1:] == flat[:-1]
        return np.unique(flat[1:][dup])


def in_sorted(values: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``values`` occur in the sorted array ``sorted_values``."""
    if not len(sorted_values):
        return np.zeros(len(values), dtype=bool)
    index = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return sorted_values[index] == values


def spatial_windows(
    gt_shape: tuple[int, int, int], pred_shape: tuple[int, int, int], where: str | None = None
) -> tuple[Window, Window]:
    """Center-crop windows that bring GT and prediction to the same spatial shape.

    As in the official evaluator, the larger volume is cropped to the smaller one; it is
    an error when each is larger in some axis.
    """
    full_gt = tuple(slice(0, s) for s in gt_shape)
    full_pred = tuple(slice(0, s) for s in pred_shape)
    if gt_shape == pred_shape:
        return full_gt, full_pred  # type: ignore[return-value]

    def centered(big: tuple[int, ...], small: tuple[int, ...]) -> Window:
        return tuple(slice((b - s) // 2, (b - s) // 2 + s) for b, s in zip(big, small, strict=True))  # type: ignore[return-value]

    if all(g <= p for g, p in zip(gt_shape, pred_shape, strict=True)):
        logger.warning(
            "prediction %s is larger than GT %s: center-cropping the prediction%s",
            pred_shape,
            gt_shape,
            f" ({where})" if where else "",
        )
        return full_gt, centered(pred_shape, gt_shape)  # type: ignore[return-value]
    if all(p <= g for g, p in zip(gt_shape, pred_shape, strict=True)):
        logger.warning(
            "GT %s is larger than prediction %s: center-cropping the GT%s",
            gt_shape,
            pred_shape,
            f" ({where})" if where else "",
        )
        return centered(gt_shape, pred_shape), full_pred  # type: ignore[return-value]
    raise FisbeError(
        f"spatial shapes differ and neither contains the other: GT {gt_shape}, "
        f"prediction {pred_shape}",
        where,
    )


def collect_instances(
    volume: Volume, window: Window | None = None, *, min_size: int | None = None
) -> Instances:
    """Stream ``volume`` and return its instances (optionally size-filtered).

    Ids are made unique across channels and sequential in (channel, id) order; with
    ``min_size``, ids with at most ``min_size`` voxels over all channels are deleted.
    """
    window = window or volume.full_window()
    shape = tuple(w.stop - w.start for w in window)
    plane = shape[1] * shape[2]
    n_channels = volume.shape[0]
    flats: list[list[np.ndarray]] = [[] for _ in range(n_channels)]
    values: list[list[np.ndarray]] = [[] for _ in range(n_channels)]
    for (c0, z0, y0, x0), block in volume.blocks(window):
        for dc in range(block.shape[0]):
            channel = block[dc]
            local = np.flatnonzero(channel)
            if not len(local):
                continue
            vals = label_values(channel.reshape(-1)[local], volume.where)
            if channel.shape[1:] == shape[1:] and y0 == 0 and x0 == 0:
                flat = local + z0 * plane
            else:
                z, y, x = np.unravel_index(local, channel.shape)
                flat = np.ravel_multi_index((z + z0, y + y0, x + x0), shape)
            flats[c0 + dc].append(flat.astype(np.int64, copy=False))
            values[c0 + dc].append(vals)
    channel_flats = [np.concatenate(f) if f else np.empty(0, np.int64) for f in flats]
    channel_vals = [np.concatenate(v) if v else np.empty(0, np.uint8) for v in values]
    if min_size is not None:
        channel_flats, channel_vals = _remove_small(channel_flats, channel_vals, min_size)
    voxels: list[np.ndarray] = []
    labels: list[int] = []
    for flat, vals in zip(channel_flats, channel_vals, strict=True):
        if not len(flat):
            continue
        ids, inverse = np.unique(vals, return_inverse=True)
        order = np.lexsort((flat, inverse))
        bounds = np.cumsum(np.bincount(inverse, minlength=len(ids)))[:-1]
        voxels.extend(np.split(flat[order], bounds))
        labels.extend(int(i) for i in ids)
    return Instances(shape=shape, voxels=voxels, labels=labels)


def _remove_small(
    flats: list[np.ndarray], vals: list[np.ndarray], min_size: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Delete ids with at most ``min_size`` voxels, counted over all channels."""
    present = [v for v in vals if len(v)]
    if not present:
        return flats, vals
    common = np.result_type(*(v.dtype for v in present))
    if common.kind == "f":  # mixed signed/unsigned 64-bit; all values are >= 0
        common = np.dtype(np.uint64)
    every = np.concatenate([v.astype(common, copy=False) for v in present])
    ids, counts = fastremap.unique(every, return_counts=True)
    small = ids[counts <= min_size]
    if not len(small):
        return flats, vals
    kept_flats, kept_vals = [], []
    for flat, v in zip(flats, vals, strict=True):
        keep = ~in_sorted(v.astype(common, copy=False), small)
        kept_flats.append(flat[keep])
        kept_vals.append(v[keep])
    return kept_flats, kept_vals


def skeleton(voxels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Sorted flat indices of the 3-D skeleton (Lee thinning) of one instance.

    Equal to ``skimage.morphology.skeletonize`` of the full volume; the thinning visits only
    the instance's voxels (see :mod:`fisbe_bench.thinning`).
    """
    if not len(voxels):
        return np.empty(0, np.int64)
    coords = np.unravel_index(voxels, shape)
    kept = thin(coords, single_slice=shape[0] == 1)
    return np.ravel_multi_index(tuple(kept), shape).astype(np.int64)


def overlap_ratios(
    skeletons: list[np.ndarray], other: Instances, n_rows: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Share of each skeleton inside each instance of ``other`` (column 0: in none).

    Returns the float32 ``(len(skeletons) + 1, other.n + 1)`` matrix (row 0 empty) and,
    per skeleton, the ``(row, id)`` membership pairs of its voxels.
    """
    ratios = np.zeros((n_rows, other.n + 1), dtype=np.float32)
    memberships = []
    for row, skel in enumerate(skeletons, start=1):
        rows, ids = other.owners(skel)
        memberships.append(np.stack([rows, ids]))
        if not len(skel):
            continue
        counts = np.bincount(ids, minlength=other.n + 1).astype(np.float64)
        counts[0] = len(skel) - len(np.unique(rows))
        ratios[row] = counts / float(len(skel))
    return ratios, memberships


@dataclass
class Localization:
    """Skeletons and clRecall / clPrecision / clDice matrices of one image.

    ``recall[g, p]``: share of skel(g) inside prediction p; ``precision[g, p]``: share of
    skel(p) inside GT g; row/column 0 is background. All matrices are float32.
    """

    gt: Instances
    pred: Instances
    gt_skeletons: list[np.ndarray]
    pred_skeletons: list[np.ndarray]
    recall: np.ndarray
    precision: np.ndarray
    gt_in_pred: list[np.ndarray] = field(repr=False)
    _recall_without_shared: np.ndarray | None = field(default=None, repr=False)

    @cached_property
    def cldice(self) -> np.ndarray:
        """clDice = 2PR / (P + R) in float32, 0 where P + R = 0."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(2 * self.precision * self.recall / (self.precision + self.recall))

    @cached_property
    def voxel_overlap(self) -> np.ndarray:
        """Voxel counts ``|G_g ∩ P_p|``; row 0: voxels of P_p in no GT instance."""
        n_gt, n_pred = self.gt.n, self.pred.n
        pred_flat, pred_ids = self.pred.table
        rows, gt_ids = self.gt.owners(pred_flat)
        codes = gt_ids * (n_pred + 1) + pred_ids[rows]
        counts = np.bincount(codes, minlength=(n_gt + 1) * (n_pred + 1))
        counts = counts.reshape(n_gt + 1, n_pred + 1)
        in_gt = np.zeros(len(pred_flat), dtype=bool)
        in_gt[rows] = True
        counts[0] = np.bincount(pred_ids[~in_gt], minlength=n_pred + 1)
        return counts

    @cached_property
    def iou(self) -> np.ndarray:
        """Voxel IoU of every (GT, prediction) pair, shape ``(n_gt, n_pred)``."""
        inter = self.voxel_overlap[1:, 1:]
        gt_sizes = np.array([len(v) for v in self.gt.voxels], dtype=np.int64)
        pred_sizes = np.array([len(v) for v in self.pred.voxels], dtype=np.int64)
        union = gt_sizes[:, None] + pred_sizes[None, :] - inter
        return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)

    @property
    def overlaps(self) -> bool:
        """Whether GT or prediction has voxels in two or more instances."""
        return self.gt.overlapping or self.pred.overlapping

    def pred_membership(self, g: int) -> np.ndarray:
        """Boolean ``(len(skel(g)), n_pred + 1)``: skeleton voxel of GT g in prediction p."""
        rows, ids = self.gt_in_pred[g - 1]
        member = np.zeros((len(self.gt_skeletons[g - 1]), self.pred.n + 1), dtype=bool)
        member[rows, ids] = True
        return member

    def gt_membership(self, g: int) -> np.ndarray:
        """Boolean ``(len(skel(g)), n_gt + 1)``: skeleton voxel of GT g in GT instance h."""
        rows, ids = self.gt.owners(self.gt_skeletons[g - 1])
        member = np.zeros((len(self.gt_skeletons[g - 1]), self.gt.n + 1), dtype=bool)
        member[rows, ids] = True
        return member

    def recall_without_shared(self, rows: np.ndarray) -> np.ndarray:
        """clRecall with voxels shared by several GT instances removed from both sides.

        The official evaluator computes it for its per-threshold false-merge count when
        instances overlap: GT masks lose their shared voxels and are skeletonized again.
        Only the requested GT ``rows`` (1-based) are computed; others stay zero.
        """
        if self._recall_without_shared is None:
            self._recall_without_shared = np.full(
                (self.gt.n + 1, self.pred.n + 1), np.nan, dtype=np.float32
            )
        out = self._recall_without_shared
        shared = self.gt.shared_voxels
        for g in rows:
            if not np.isnan(out[g, 0]):
                continue
            out[g] = 0.0
            voxels = self.gt.voxels[g - 1]
            is_shared = in_sorted(voxels, shared)
            if is_shared.any():
                thin = skeleton(voxels[~is_shared], self.gt.shape)
                ratios, _ = overlap_ratios([thin], self.pred, 2)
                out[g] = ratios[1]
            else:
                out[g] = self.recall[g]
        return np.nan_to_num(out)


def localize(gt: Instances, pred: Instances) -> Localization:
    """Skeletonize every instance once and compute the pairwise clRecall/clPrecision.

    Instances that touch no instance of the other side get no skeleton: their rows are
    all-background by construction, which the matching treats exactly like the official
    evaluator does.
    """
    if gt.shape != pred.shape:
        raise ValueError(f"GT shape {gt.shape} != prediction shape {pred.shape}")
    gt_touch = _touching(gt, pred)
    pred_touch = _touching(pred, gt)
    gt_skeletons = [
        skeleton(v, gt.shape) if gt_touch[i] else np.empty(0, np.int64)
        for i, v in enumerate(gt.voxels)
    ]
    pred_skeletons = [
        skeleton(v, pred.shape) if pred_touch[i] else np.empty(0, np.int64)
        for i, v in enumerate(pred.voxels)
    ]
    recall, gt_in_pred = overlap_ratios(gt_skeletons, pred, gt.n + 1)
    precision_t, _ = overlap_ratios(pred_skeletons, gt, pred.n + 1)
    # an untouched prediction lies entirely in background (share 1 in row 0)
    for p in np.flatnonzero(~pred_touch) + 1:
        precision_t[p, 0] = 1.0
    for g in np.flatnonzero(~gt_touch) + 1:
        recall[g, 0] = 1.0
    return Localization(
        gt=gt,
        pred=pred,
        gt_skeletons=gt_skeletons,
        pred_skeletons=pred_skeletons,
        recall=recall,
        precision=np.ascontiguousarray(precision_t.T),
        gt_in_pred=gt_in_pred,
    )


def _touching(instances: Instances, other: Instances) -> np.ndarray:
    """Boolean per instance: shares at least one voxel with some instance of ``other``."""
    touch = np.zeros(instances.n, dtype=bool)
    if not instances.n or not other.n:
        return touch
    flat, ids = instances.table
    inside = in_sorted(flat, other.table[0])
    touch[np.unique(ids[inside]) - 1] = True
    return touch

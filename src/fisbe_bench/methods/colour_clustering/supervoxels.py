"""B2 supervoxels: watershed on -EDT from centre-line seeds cut by a lattice."""

from __future__ import annotations

from typing import Any, NamedTuple, cast

import cc3d
import edt
import numpy as np
from scipy import ndimage
from skimage.segmentation import watershed


class Supervoxels(NamedTuple):
    """Supervoxel over-segmentation of the foreground and its per-supervoxel statistics."""

    labels: np.ndarray  # (Z, Y, X) uint32, ids 1..n, 0 = background
    colour_sums: np.ndarray  # (n + 1, 3) summed background-subtracted colour, row 0 unused
    sizes: np.ndarray  # (n + 1,) voxel counts
    centroids: np.ndarray  # (n + 1, 3) voxel coordinates
    touching: np.ndarray  # (k, 2) pairs of face-adjacent supervoxel ids, i < j


def supervoxels(colour: np.ndarray, mask: np.ndarray, spacing: int) -> Supervoxels:
    """Watershed on -EDT of ``mask`` from centre-line seeds cut by a lattice of pitch ``spacing``.

    Seeds are the voxels where the EDT is maximal in its 3x3x3 neighbourhood (the centre
    line of a tube), split into pieces by the lattice cells, so every supervoxel is a short
    tube segment that rarely spans two crossing neurons.
    """
    labels = np.zeros(mask.shape, np.uint32)
    if not mask.any():
        empty = np.zeros((1, 3))
        return Supervoxels(labels, empty, np.zeros(1, np.int64), empty, np.zeros((0, 2), np.int64))
    box = bounding_box(mask)
    crop = mask[box]
    distance = edt.edt(crop, parallel=1)
    ridge = crop & (distance >= ndimage.maximum_filter(distance, size=3))
    pieces = cc3d.connected_components(ridge, connectivity=26, out_dtype=np.uint32)
    where = np.nonzero(ridge)
    step = max(1, spacing)
    n_cells = tuple(-(-n // step) for n in crop.shape)
    cell = np.ravel_multi_index(tuple(axis // step for axis in where), n_cells)
    _, seed = np.unique(
        pieces[where].astype(np.int64) * np.prod(n_cells) + cell, return_inverse=True
    )
    markers = np.zeros(crop.shape, np.int32)
    markers[where] = seed + 1
    del pieces, ridge, where, cell, seed
    crop_labels = watershed(-distance, markers, mask=crop).astype(np.uint32)
    del distance, markers
    labels[box] = crop_labels
    n = int(crop_labels.max())
    flat = crop_labels[crop]
    sizes = np.bincount(flat, minlength=n + 1)
    colour_sums = np.stack(
        [
            np.bincount(flat, weights=colour[cast(Any, (c, *box))][crop], minlength=n + 1)
            for c in range(3)
        ],
        axis=1,
    )
    offset = np.array([s.start for s in box], np.float64)
    coords = np.nonzero(crop)
    centroids = (
        np.stack([np.bincount(flat, weights=axis, minlength=n + 1) for axis in coords], axis=1)
        / np.maximum(sizes, 1)[:, None]
        + offset
    )
    return Supervoxels(labels, colour_sums, sizes, centroids, _touching_pairs(crop_labels))


def bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
    """Bounding box of the nonzero voxels of ``mask``."""
    box = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other))
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def _touching_pairs(labels: np.ndarray) -> np.ndarray:
    """Unique (i, j), i < j, of different nonzero ids that share a face."""
    pairs = []
    for axis in range(labels.ndim):
        lo = labels[tuple(slice(None, -1) if a == axis else slice(None) for a in range(3))]
        hi = labels[tuple(slice(1, None) if a == axis else slice(None) for a in range(3))]
        where = (lo != hi) & (lo > 0) & (hi > 0)
        a, b = lo[where].astype(np.int64), hi[where].astype(np.int64)
        pairs.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.unique(np.concatenate(pairs), axis=0)

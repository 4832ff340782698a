"""B2 supervoxels: watershed on -EDT from centre-line seeds cut by a lattice."""

from __future__ import annotations

from typing import NamedTuple

import cc3d
import edt
import numpy as np
from skimage.segmentation import _watershed_cy  # type: ignore[attr-defined]  # private


class Supervoxels(NamedTuple):
    """Supervoxel over-segmentation of the foreground and its per-supervoxel statistics."""

    labels: np.ndarray  # (Z, Y, X) uint32, ids 1..n, 0 = background
    colour_sums: np.ndarray  # (n + 1, 3) summed background-subtracted colour, row 0 unused
    sizes: np.ndarray  # (n + 1,) voxel counts
    centroids: np.ndarray  # (n + 1, 3) voxel coordinates
    touching: np.ndarray  # (k, 2) pairs of face-adjacent supervoxel ids, i < j
    colour: np.ndarray  # (3, m) colour of the m labelled voxels, in raster order


def supervoxels(colour: np.ndarray, mask: np.ndarray, spacing: int) -> Supervoxels:
    """Watershed on -EDT of ``mask`` from centre-line seeds cut by a lattice of pitch ``spacing``.

    ``colour`` is (3, k): the colour of the k voxels of ``mask`` in raster order. Seeds are
    the voxels where the EDT is maximal in its 3x3x3 neighbourhood (the centre line of a
    tube), split into pieces by the lattice cells, so every supervoxel is a short tube
    segment that rarely spans two crossing neurons. Only the EDT and the watershed use
    arrays of the foreground's bounding box; the rest is per foreground voxel.
    """
    labels = np.zeros(mask.shape, np.uint32)
    if not mask.any():
        empty = np.zeros((1, 3))
        none = np.zeros((0, 2), np.int64)
        return Supervoxels(labels, empty, np.zeros(1, np.int64), empty, none, colour)
    box = bounding_box(mask)
    crop = mask[box]
    coords = np.nonzero(crop)
    distance = edt.edt(crop, parallel=1)
    value = distance[coords]
    ridge = value >= _neighbourhood_max(distance, coords)
    del distance
    flat = _watershed(crop, coords, value, _seeds(crop, coords, ridge, spacing))
    del value, ridge
    labels[box][crop] = flat
    n = int(flat.max())
    sizes = np.bincount(flat, minlength=n + 1)
    colour_sums = np.stack(
        [np.bincount(flat, weights=channel, minlength=n + 1) for channel in colour], axis=1
    )
    offset = np.array([s.start for s in box], np.float64)
    centroids = (
        np.stack([np.bincount(flat, weights=axis, minlength=n + 1) for axis in coords], axis=1)
        / np.maximum(sizes, 1)[:, None]
        + offset
    )
    touching = _touching_pairs(labels[box])
    return Supervoxels(labels, colour_sums, sizes, centroids, touching, colour[:, flat > 0])


def _neighbourhood_max(volume: np.ndarray, coords: tuple[np.ndarray, ...]) -> np.ndarray:
    """``ndimage.maximum_filter(volume, size=3)`` at ``coords`` only (the border reflects)."""
    high = np.full(len(coords[0]), -np.inf, volume.dtype)
    for shift in np.ndindex(3, 3, 3):
        at = tuple(
            np.clip(axis + d - 1, 0, n - 1)
            for axis, d, n in zip(coords, shift, volume.shape, strict=True)
        )
        np.maximum(high, volume[at], out=high)
    return high


def _seeds(
    crop: np.ndarray, coords: tuple[np.ndarray, ...], ridge: np.ndarray, spacing: int
) -> np.ndarray:
    """Seed id (1..s, 0 = none) per voxel of ``coords``: 26-connected ridge pieces x cells."""
    dense = np.zeros(crop.shape, bool)
    where = tuple(axis[ridge] for axis in coords)
    dense[where] = True
    pieces = cc3d.connected_components(dense, connectivity=26, out_dtype=np.uint32)[where]
    del dense
    step = max(1, spacing)
    n_cells = tuple(-(-n // step) for n in crop.shape)
    cell = np.ravel_multi_index(tuple(axis // step for axis in where), n_cells)
    _, seed = np.unique(pieces.astype(np.int64) * np.prod(n_cells) + cell, return_inverse=True)
    seeds = np.zeros(len(ridge), np.int32)
    seeds[ridge] = seed + 1
    return seeds


def _watershed(
    crop: np.ndarray, coords: tuple[np.ndarray, ...], value: np.ndarray, seeds: np.ndarray
) -> np.ndarray:
    """``skimage.segmentation.watershed(-EDT, seeds, mask=crop)`` at ``coords``, as uint32.

    Calls scikit-image's flooding routine (pinned <0.27) on arrays built here: the public
    function's float64 copies of the whole box (about 30 bytes a voxel) are its peak memory.
    The image outside the mask is never read, and the routine receives the same seed order
    (raster), neighbour order and values, so the labels are the public function's.
    """
    inner = crop.shape
    shape = tuple(n + 2 for n in inner)  # one background voxel of padding per side
    at = tuple(axis + 1 for axis in coords)
    image = np.zeros(shape, np.float64)
    image[at] = np.negative(value)
    flood = np.zeros(shape, np.int8)
    flood[at] = 1
    output = np.zeros(shape, np.int32)
    output[at] = seeds
    strides = np.array(output.strides, np.intp) // output.itemsize
    neighbours = np.concatenate([-strides, strides[::-1]])  # skimage's order for connectivity 1
    _watershed_cy.watershed_raveled(
        image.ravel(),
        np.flatnonzero(output),
        neighbours,
        flood.ravel(),
        strides,
        0.0,
        output.ravel(),
        False,
    )
    del image, flood
    return output[at].astype(np.uint32)


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

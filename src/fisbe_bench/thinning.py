"""Lee (1994) 3-D thinning that visits only foreground voxels.

Gives exactly ``skimage.morphology.skeletonize`` (method "lee", scikit-image 0.26) on a 3-D
mask, but each sweep walks the current foreground list instead of the whole bounding box,
so the cost follows the instance's voxel count (a neuron's box is ~100x its foreground).

The algorithm, as scikit-image runs it: repeat rounds over six border directions (in the
order -y, +y, +x, -x, +z, -z; only the first four when the volume is one slice thick) until
a whole round deletes nothing. For one direction, first collect in raster order every
foreground voxel whose neighbour in that direction is background, that is not an end point
(exactly one foreground neighbour), whose removal keeps the Euler characteristic, and that
is simple; then re-check the candidates one by one in that order and delete each that is
still simple. Background voxels are never candidates, so visiting the foreground in the
same raster order gives the same deletions.

A 3x3x3 neighbourhood is a 27-bit mask, bit ``9 * dz + 3 * dy + dx`` for offsets 0..2 (the
centre is bit 13). Topology is (26, 6): foreground 26-connected, background 6-connected.
"""

from __future__ import annotations

import numpy as np
from numba import njit

CENTRE = 13
FULL = (1 << 27) - 1


def _axis_masks(stride: int) -> tuple[int, int]:
    """Bits whose coordinate along the axis of ``stride`` is not 2, and not 0."""
    low = high = 0
    for bit in range(27):
        coord = (bit // stride) % 3
        if coord != 2:
            low |= 1 << bit
        if coord != 0:
            high |= 1 << bit
    return low, high


X_NOT2, X_NOT0 = _axis_masks(1)
Y_NOT2, Y_NOT0 = _axis_masks(3)
Z_NOT2, Z_NOT0 = _axis_masks(9)


def _euler_table() -> np.ndarray:
    """8 x the Euler characteristic share of one 2x2x2 window, for all 256 configurations.

    With closed unit cubes for voxels (which gives (26, 6) topology), chi = V - E + F - C.
    The window's centre lattice point is one vertex; it owns half of each of its 6 edges
    (covered when any of the 4 voxels on that side is set), a quarter of each of its 12
    faces (covered when either voxel of that pair is set) and an eighth of each voxel.
    Window voxel ``(a, b, c)`` is bit ``4a + 2b + c``. The change when the centre voxel
    goes, ``table[with] - table[without]``, is Lee's delta-G26 (his Table 2).
    """
    table = np.zeros(256, np.int64)
    bits = [(a, b, c) for a in range(2) for b in range(2) for c in range(2)]
    for config in range(256):
        on = {bits[i] for i in range(8) if config >> i & 1}
        edges = sum(any(v[axis] == side for v in on) for axis in range(3) for side in range(2))
        faces = sum(
            (v in on or w in on)
            for v in bits
            for w in bits
            if v < w and sum(p != q for p, q in zip(v, w, strict=True)) == 1
        )
        table[config] = 8 * bool(on) - 4 * edges + 2 * faces - len(on)
    return table


def _octants() -> tuple[np.ndarray, np.ndarray]:
    """Per window around the centre: neighbourhood bit of each window voxel, centre's bit."""
    cells = np.zeros((8, 8), np.int64)
    centre = np.zeros(8, np.int64)
    for octant in range(8):
        oz, oy, ox = octant >> 2 & 1, octant >> 1 & 1, octant & 1
        for i in range(8):
            a, b, c = i >> 2 & 1, i >> 1 & 1, i & 1
            cells[octant, i] = 9 * (oz + a) + 3 * (oy + b) + (ox + c)
            if cells[octant, i] == CENTRE:
                centre[octant] = 1 << i
    return cells, centre


EULER = _euler_table()
OCTANT_CELLS, OCTANT_CENTRE = _octants()


@njit(cache=True)
def _popcount(m: int) -> int:
    n = 0
    while m:
        m &= m - 1
        n += 1
    return n


@njit(cache=True)
def _dilate(m: int) -> int:
    """26-neighbour dilation of a 27-bit mask within the 3x3x3 cube."""
    m = m | ((m & X_NOT2) << 1) | ((m & X_NOT0) >> 1)
    m = m | ((m & Y_NOT2) << 3) | ((m & Y_NOT0) >> 3)
    return (m | ((m & Z_NOT2) << 9) | ((m & Z_NOT0) >> 9)) & FULL


@njit(cache=True)
def _is_simple(m: int) -> bool:
    """The foreground neighbours (centre removed) form at most one 26-connected component."""
    rest = m & ~(1 << CENTRE)
    if rest == 0:
        return True
    part = rest & -rest
    while True:
        grown = _dilate(part) & rest
        if grown == part:
            return part == rest
        part = grown


@njit(cache=True)
def _keeps_euler(m: int) -> bool:
    """Deleting the centre leaves the Euler characteristic unchanged."""
    change = 0
    for octant in range(8):
        config = 0
        for i in range(8):
            config |= ((m >> OCTANT_CELLS[octant, i]) & 1) << i
        centre = OCTANT_CENTRE[octant]
        change += EULER[config | centre] - EULER[config & ~centre]
    return change == 0


@njit(cache=True)
def _neighbourhood(box: np.ndarray, i: int, offsets: np.ndarray) -> int:
    m = 0
    for bit in range(27):
        if box[i + offsets[bit]]:
            m |= 1 << bit
    return m


@njit(cache=True)
def _thin(box: np.ndarray, points: np.ndarray, offsets: np.ndarray, borders: np.ndarray) -> int:
    """Thin the flat uint8 ``box`` in place; ``points``: its foreground, ascending.

    Returns how many of ``points`` survive; they are moved to the front of ``points``.
    ``box`` must have a zero margin so that every neighbour offset stays inside.
    """
    n = len(points)
    candidates = np.empty(n, np.int64)
    unchanged = 0
    while unchanged < len(borders):
        unchanged = 0
        for step in borders:
            found = 0
            for j in range(n):
                i = points[j]
                if box[i + step]:
                    continue
                m = _neighbourhood(box, i, offsets)
                if _popcount(m) == 2 or not _keeps_euler(m) or not _is_simple(m):
                    continue
                candidates[found] = i
                found += 1
            deleted = False
            for k in range(found):
                i = candidates[k]
                if _is_simple(_neighbourhood(box, i, offsets)):
                    box[i] = 0
                    deleted = True
            if deleted:
                kept = 0
                for j in range(n):
                    if box[points[j]]:
                        points[kept] = points[j]
                        kept += 1
                n = kept
            else:
                unchanged += 1
    return n


def thin(coords: tuple[np.ndarray, ...], single_slice: bool = False) -> np.ndarray:
    """Lee skeleton of the voxels at ``coords`` (z, y, x); the surviving coordinates, sorted.

    ``single_slice``: the volume is one slice thick, where scikit-image skips the two z
    directions. Equal to ``skimage.morphology.skeletonize`` of the full volume.
    """
    if not len(coords[0]):
        return np.empty((3, 0), np.int64)
    lo = np.array([int(c.min()) - 1 for c in coords])
    dims = tuple(int(c.max()) - low + 2 for c, low in zip(coords, lo, strict=True))
    points = np.unique(
        np.ravel_multi_index(tuple(c - low for c, low in zip(coords, lo, strict=True)), dims)
    )
    # the only bounding-box-sized step: calloc'ed, so pages away from the voxels stay untouched
    box = np.zeros(int(np.prod(dims)), np.uint8)
    box[points] = 1
    plane, row = dims[1] * dims[2], dims[2]
    offsets = np.array(
        [
            (dz - 1) * plane + (dy - 1) * row + (dx - 1)
            for dz in range(3)
            for dy in range(3)
            for dx in range(3)
        ],
        np.int64,
    )
    # -y, +y, +x, -x, +z, -z: the neighbour that must be background
    borders = np.array([-row, row, 1, -1, plane, -plane], np.int64)[: 4 if single_slice else 6]
    n = _thin(box, points, offsets, borders)
    local = np.unravel_index(points[:n], dims)
    return np.stack([c + low for c, low in zip(local, lo, strict=True)]).astype(np.int64)

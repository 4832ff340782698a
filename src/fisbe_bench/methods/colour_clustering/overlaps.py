"""B2 overlap step: crossing voxels unmixed by non-negative least squares."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.optimize import nnls

from fisbe_bench import sample_io
from fisbe_bench.methods.colour_clustering.supervoxels import bounding_box


def unmix_overlaps(
    labels: np.ndarray, foreground: np.ndarray, colour: np.ndarray, share: float, window: int = 5
) -> dict[int, np.ndarray]:
    """Overlap voxels: instance id -> (k, 3) voxels it claims besides its own label.

    ``colour`` is (3, m): the colour of the m ``foreground`` voxels in raster order.

    Candidates are foreground voxels with an instance other than their own (or any, for
    voxels whose piece was too small to keep, such as a crossing's mixed-colour core) within
    a ``window``-voxel cube. Each candidate's colour is unmixed by non-negative least squares
    over the mean colours of its own and up to two neighbouring instances; every neighbour
    whose share of the reconstructed intensity exceeds ``share`` also gets the voxel.
    """
    n = int(labels.max(initial=0))
    if n == 0:
        return {}
    box = bounding_box(foreground)
    crop = labels[box].astype(sample_io.instance_dtype(n + 1), copy=False)
    inside = foreground[box]
    offset = np.array([s.start for s in box])
    high = ndimage.maximum_filter(crop, size=window)
    low = ndimage.minimum_filter(np.where(crop > 0, crop, crop.dtype.type(n + 1)), size=window)
    candidate = inside & (((high != crop) & (high > 0)) | ((low != crop) & (low <= n)))
    coords = np.argwhere(candidate)
    own = crop[candidate].astype(np.int64)
    others = np.stack([high[candidate], low[candidate]], axis=1).astype(np.int64)
    others[(others == own[:, None]) | (others > n)] = 0
    del high, low
    voxel_colour = colour[:, candidate[inside]].T
    labelled = crop > 0
    flat = crop[labelled]
    at_labelled = labelled[inside]
    del candidate, labelled, inside
    sums = np.stack(
        [np.bincount(flat, weights=channel[at_labelled], minlength=n + 1) for channel in colour],
        axis=1,
    )
    means = sums / np.maximum(np.bincount(flat, minlength=n + 1), 1)[:, None]
    claims: dict[int, list[np.ndarray]] = {}
    for index in range(len(coords)):
        neighbours = sorted({int(i) for i in others[index] if i})
        if not neighbours:
            continue
        ids = [int(own[index])] * bool(own[index]) + neighbours
        basis = means[ids].T
        weights, _ = nnls(basis, voxel_colour[index])
        contribution = weights * np.linalg.norm(basis, axis=0)
        total = contribution.sum()
        if total <= 0:
            continue
        for ident, part in zip(
            ids[-len(neighbours) :], contribution[-len(neighbours) :] / total, strict=True
        ):
            if part > share:
                claims.setdefault(ident, []).append(coords[index] + offset)
    return {ident: np.asarray(voxels) for ident, voxels in sorted(claims.items())}

"""B1 instance extraction from numinst probabilities and affinities.

1. Foreground: P(background) < ``foreground_threshold``; overlap voxels: foreground with
   P(two or more) > ``overlap_threshold``; core = foreground minus overlap voxels.
2. Mutex watershed (``mwatershed.cluster``) on a graph of core voxels: an edge per
   predicted offset between two core voxels of the same 26-connected foreground component
   (long-range offsets jump across crossings), weight affinity - bias (``short_bias`` for
   nearest neighbours, ``long_bias`` otherwise), attractive iff positive.
3. Overlap voxels join every instance whose edges to them have mean affinity >
   ``affinity_threshold``; unassigned overlap voxels retry through assigned ones.
4. Instances of <= ``min_size`` voxels are dropped; output (N, Z, Y, X) via
   :func:`fisbe_bench.sample_io.write_instances`, overlap voxels in every instance they joined.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import cc3d
import mwatershed
import numpy as np
import zarr

from fisbe_bench import sample_io
from fisbe_bench.atomic import atomic_directory
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.config import AFFINITY_KEY, METHOD, NUMINST_KEY, Params
from fisbe_bench.volumes import CheckedArray


def foreground_masks(
    numinst: zarr.Array | np.ndarray | CheckedArray, params: Params, slab: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and overlap masks from (3, Z, Y, X) numinst probabilities, by z-slab."""
    shape = numinst.shape[1:]
    foreground = np.zeros(shape, dtype=bool)
    overlap = np.zeros(shape, dtype=bool)
    for z0 in range(0, shape[0], slab):
        probs = np.asarray(numinst[:, z0 : z0 + slab])
        fg = probs[0] < params.foreground_threshold
        foreground[z0 : z0 + slab] = fg
        overlap[z0 : z0 + slab] = fg & (probs[2] > params.overlap_threshold)
    return foreground, overlap


def gather(
    affinities: zarr.Array | np.ndarray | CheckedArray, coords: np.ndarray, slab: int = 32
) -> np.ndarray:
    """Affinities (K, n) float32 at voxel ``coords`` (n, 3, sorted by z), read by z-slab
    and only within each slab's bounding box of ``coords``."""
    values = np.empty((affinities.shape[0], len(coords)), dtype=np.float32)
    bounds = np.searchsorted(coords[:, 0], np.arange(0, affinities.shape[1] + slab, slab))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi == lo:
            continue
        part = coords[lo:hi]
        low, high = part.min(axis=0), part.max(axis=0) + 1
        block = np.asarray(affinities[(slice(None), *map(slice, low, high))])
        local = part - low
        values[:, lo:hi] = block[:, local[:, 0], local[:, 1], local[:, 2]]
    return values


def _segment_core(n: int, core: np.ndarray, edges: tuple[np.ndarray, ...]) -> np.ndarray:
    """Mutex watershed over nodes 0..n-1 with signed edge weights (positive attract);
    returns a segment id per node, 0 off the core."""
    weight, u, v = edges
    segment = np.arange(n, dtype=np.int64)
    if len(weight):
        order = np.argsort(-np.abs(weight), kind="stable")
        attractive = (weight[order] > 0).tolist()
        pairs = mwatershed.cluster(
            list(zip(attractive, u[order].tolist(), v[order].tolist(), strict=True))
        )
        if pairs:
            fragment, seg = np.asarray(pairs, dtype=np.int64).T
            segment[fragment] = seg
    _, inverse = np.unique(segment[core], return_inverse=True)
    labels = np.zeros(n, dtype=np.int64)
    labels[core] = inverse.ravel() + 1
    return labels


def _join_overlaps(
    labels: np.ndarray,
    to_core: tuple[np.ndarray, ...],
    between: tuple[np.ndarray, ...],
    params: Params,
) -> tuple[np.ndarray, np.ndarray]:
    """(overlap node, instance id) pairs: overlap nodes joining instances."""
    voxel, partner, weight = to_core
    votes = (voxel, labels[partner], weight)
    joined_v = np.empty(0, np.int64)
    joined_i = np.empty(0, np.int64)
    a, b, w = between
    for _ in range(max(1, params.overlap_rounds)):
        if not len(votes[0]):
            break
        keys, inverse = np.unique(np.stack(votes[:2], axis=1), axis=0, return_inverse=True)
        mean = np.bincount(inverse.ravel(), weights=votes[2]) / np.bincount(inverse.ravel())
        keep = keys[mean > params.affinity_threshold]
        keep = keep[~np.isin(keep[:, 0], joined_v)]
        if not len(keep):
            break
        joined_v = np.concatenate([joined_v, keep[:, 0]])
        joined_i = np.concatenate([joined_i, keep[:, 1]])
        order = np.argsort(joined_v, kind="stable")
        joined_v, joined_i = joined_v[order], joined_i[order]
        # next round: unassigned overlap voxels vote through assigned overlap neighbours
        src = np.concatenate([a, b])
        dst = np.concatenate([b, a])
        ww = np.concatenate([w, w])
        useful = np.isin(dst, keep[:, 0]) & ~np.isin(src, joined_v)
        src, dst, ww = src[useful], dst[useful], ww[useful]
        left = np.searchsorted(joined_v, dst, side="left")
        counts = np.searchsorted(joined_v, dst, side="right") - left
        member = np.repeat(left - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        votes = (np.repeat(src, counts), joined_i[member], np.repeat(ww, counts))
    return joined_v, joined_i


def extract_instances(
    numinst: zarr.Array | np.ndarray | CheckedArray,
    affinities: zarr.Array | np.ndarray | CheckedArray,
    offsets: list[tuple[int, int, int]],
    params: Params | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Labels (Z, Y, X) uint32 with ids 1..N and overlap voxels {id: (k, 3) coords}.

    Dense work is limited to thresholding, one connected-component pass and the final
    label image; the graph is built on foreground voxels only (nodes 0..n-1).
    """
    params = params or Params()
    foreground, overlap = foreground_masks(numinst, params)
    shape = np.array(foreground.shape)
    components = cc3d.connected_components(foreground, connectivity=26)
    flat = np.flatnonzero(foreground)
    del foreground
    if not len(flat):
        return np.zeros(tuple(shape), dtype=np.uint32), {}
    coords = np.stack(np.unravel_index(flat, tuple(shape)), axis=1)
    is_overlap = overlap.reshape(-1)[flat]
    del overlap
    component = components.reshape(-1)[flat]
    del components
    values = gather(affinities, coords)
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    edges: list[list[np.ndarray]] = [[], [], []]
    to_core: list[list[np.ndarray]] = [[], [], []]
    between: list[list[np.ndarray]] = [[], [], []]
    nodes = np.arange(len(flat))
    for k, offset in enumerate(offsets):
        moved = coords + np.asarray(offset)
        inside = np.all((moved >= 0) & (moved < shape), axis=1)
        source = nodes[inside]
        partner_flat = flat[inside] + int(np.dot(offset, strides))
        target = np.minimum(np.searchsorted(flat, partner_flat), len(flat) - 1)
        found = (flat[target] == partner_flat) & (component[source] == component[target])
        source, target = source[found], target[found]
        weight = values[k, source]
        bias = params.short_bias if max(map(abs, offset)) == 1 else params.long_bias
        a_overlap, b_overlap = is_overlap[source], is_overlap[target]
        for bucket, mask, swap in (
            (edges, ~a_overlap & ~b_overlap, False),
            (to_core, a_overlap & ~b_overlap, False),
            (to_core, ~a_overlap & b_overlap, True),
            (between, a_overlap & b_overlap, False),
        ):
            u, v = (target[mask], source[mask]) if swap else (source[mask], target[mask])
            bucket[0].append(weight[mask] - bias if bucket is edges else weight[mask])
            bucket[1].append(u)
            bucket[2].append(v)

    def stack(parts: list[list[np.ndarray]], order: tuple[int, int, int]) -> tuple:
        empty = (np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int64))
        return tuple(np.concatenate(parts[i]) if parts[i] else empty[i] for i in order)

    node_labels = _segment_core(len(flat), ~is_overlap, stack(edges, (0, 1, 2)))
    joined_v, joined_i = _join_overlaps(
        node_labels, stack(to_core, (1, 2, 0)), stack(between, (1, 2, 0)), params
    )
    return _drop_small(tuple(shape), flat, coords, node_labels, joined_v, joined_i, params.min_size)


def _drop_small(
    shape: tuple[int, ...],
    flat: np.ndarray,
    coords: np.ndarray,
    node_labels: np.ndarray,
    joined_v: np.ndarray,
    joined_i: np.ndarray,
    min_size: int,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Remove instances of <= ``min_size`` voxels (overlaps counted); ids made sequential."""
    n = int(node_labels.max(initial=0))
    sizes = np.bincount(node_labels, minlength=n + 1) + np.bincount(joined_i, minlength=n + 1)
    sizes[0] = 0
    keep = sizes > min_size
    new_id = np.zeros(n + 1, dtype=np.uint32)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.uint32)
    labels = np.zeros(shape, dtype=np.uint32)
    labels.reshape(-1)[flat] = new_id[node_labels]
    extra: dict[int, np.ndarray] = {}
    mapped = new_id[joined_i]
    for ident in np.unique(mapped[mapped > 0]):
        extra[int(ident)] = coords[joined_v[mapped == ident]]
    return labels, extra


def decode(probs_path: str | Path, out_path: str | Path, params: Params) -> int:
    """Read a ``fisbe-bench unet-affinity predict`` zarr, write ``volumes/instances``;
    returns N."""
    try:
        numinst = zarr.open_array(str(Path(probs_path) / NUMINST_KEY), mode="r")
        affinities = zarr.open_array(str(Path(probs_path) / AFFINITY_KEY), mode="r")
        offsets: list[tuple[int, int, int]] = [
            tuple(o) for o in cast(list[Any], affinities.attrs["offsets"])
        ]
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(
            f"not a prediction zarr (needs {NUMINST_KEY}, {AFFINITY_KEY} with offsets)",
            probs_path,
        ) from err
    if numinst.shape[0] != 3 or affinities.shape[1:] != numinst.shape[1:]:
        raise FisbeError(f"shapes {numinst.shape} and {affinities.shape} disagree", probs_path)
    labels, extra = extract_instances(
        CheckedArray(numinst, Path(probs_path) / NUMINST_KEY),
        CheckedArray(affinities, Path(probs_path) / AFFINITY_KEY),
        offsets,
        params,
    )
    with atomic_directory(out_path) as tmp:
        return sample_io.write_instances(
            tmp, labels, extra_voxels=extra, attrs={"method": METHOD, **asdict(params)}
        )

"""B1 instance extraction from numinst probabilities and affinities.

1. Foreground: P(background) < ``foreground_threshold``; overlap voxels: foreground with
   P(two or more) > ``overlap_threshold``; core = foreground minus overlap voxels.
2. Fragments: connected components of core voxels joined by nearest-neighbour edges (the
   26-neighbourhood offsets) whose affinity exceeds ``fragment_threshold``.
3. Agglomeration: mutex watershed (``mwatershed.cluster``) on the fragment graph. Two
   fragments are linked by every predicted offset between their voxels, short or long
   range, across background too (long offsets bridge signal gaps and jump across
   crossings); one edge per fragment pair and offset distance weighs the mean affinity of
   those pairs - ``merge_bias`` and attracts iff positive.
4. Overlap voxels join every instance whose edges to them have mean affinity >
   ``affinity_threshold``; instances then spread along confident overlap-overlap pairs.
5. Instances of <= ``min_size`` voxels are dropped; output (N, Z, Y, X) via
   :func:`fisbe_bench.sample_io.write_instances`, overlap voxels in every instance they joined.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import mwatershed
import numpy as np
import zarr
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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


def _pairs(
    flat: np.ndarray, coords: np.ndarray, shape: np.ndarray, offset: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Node pairs (x, x + offset) with both voxels in the foreground (nodes index ``flat``)."""
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    moved = coords + np.asarray(offset)
    inside = np.flatnonzero(np.all((moved >= 0) & (moved < shape), axis=1))
    partner = flat[inside] + int(np.dot(offset, strides))
    target = np.minimum(np.searchsorted(flat, partner), len(flat) - 1)
    found = flat[target] == partner
    return inside[found], target[found]


def _fragments(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Connected components of nodes 0..n-1 under the edges (u, v)."""
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _mutex_watershed(n: int, weight: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mutex watershed over nodes 0..n-1 with signed edge weights (positive attract);
    returns a segment id per node."""
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
    return segment


def _pair_sums(
    low: np.ndarray,
    high: np.ndarray,
    values: np.ndarray,
    n: int,
    counts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sum of ``values`` and of ``counts`` (default 1 per row) per pair (ids < n): returns
    (low, high, sum, count) with one row per distinct pair."""
    unique, inverse = np.unique(low * n + high, return_inverse=True)
    inverse = inverse.ravel()
    total = np.bincount(inverse, weights=values, minlength=len(unique))
    count = np.bincount(inverse, weights=counts, minlength=len(unique))
    return unique // n, unique % n, total, count


def _first_seen_ids(segment: np.ndarray) -> np.ndarray:
    """Renumber ``segment`` ids 1..N in order of first appearance (deterministic)."""
    _, first, inverse = np.unique(segment, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(1, len(first) + 1)
    return rank[inverse.ravel()]


def _bridge_overlaps(
    instance: np.ndarray,
    links: tuple[np.ndarray, ...],
    to_core: tuple[np.ndarray, ...],
    between: tuple[np.ndarray, ...],
    params: Params,
) -> np.ndarray:
    """Merge instances joined through a run of overlap voxels (a neuron that runs along
    another one for longer than any offset): instances that the same overlap component
    joins attract, unless a direct link between them (or between what they merged with)
    says they differ. ``instance`` maps fragment -> instance id and ``links`` are fragment
    links; ``to_core`` is (overlap voxel, fragment, affinity). Returns the merged
    instance id per instance id (index 0 unused)."""
    n_inst = int(instance.max(initial=0)) + 1
    low, high, total, count = links
    inst_low, inst_high = instance[low], instance[high]
    differ = inst_low != inst_high
    a, b = np.minimum(inst_low, inst_high)[differ], np.maximum(inst_low, inst_high)[differ]
    r_low, r_high, r_total, r_count = _pair_sums(a, b, total[differ], n_inst, count[differ])
    repulsive = r_total / np.maximum(r_count, 1) <= params.merge_bias
    # overlap components: overlap voxels linked by confident affinities
    u, v, w = between
    keep = w > params.affinity_threshold
    voxel, partner, weight = to_core
    nodes = np.unique(np.concatenate([voxel, u, v]))
    local = np.searchsorted(nodes, np.concatenate([u[keep], voxel]))
    component = _fragments(len(nodes), local[: keep.sum()], np.searchsorted(nodes, v[keep]))
    comp_of_vote = component[local[keep.sum() :]]
    c_key, c_inst, c_total, c_count = _pair_sums(comp_of_vote, instance[partner], weight, n_inst)
    touching = c_total / c_count > params.affinity_threshold
    c_key, c_inst = c_key[touching], c_inst[touching]
    att_a, att_b = [], []
    for comp in np.unique(c_key):
        members = np.unique(c_inst[c_key == comp])
        for i in range(len(members)):
            att_a.extend([members[i]] * (len(members) - i - 1))
            att_b.extend(members[i + 1 :].tolist())
    # mutex watershed: every repulsion (weight < -1) before any attraction (weight in (0, 1))
    weight_all = np.concatenate(
        [
            -1.0 - (params.merge_bias - r_total / np.maximum(r_count, 1))[repulsive],
            np.full(len(att_a), 0.5),
        ]
    )
    merged = _mutex_watershed(
        n_inst,
        weight_all,
        np.concatenate([r_low[repulsive], np.asarray(att_a, np.int64)]),
        np.concatenate([r_high[repulsive], np.asarray(att_b, np.int64)]),
    )
    merged[0] = -1
    return merged


def _join_overlaps(
    labels: np.ndarray,
    to_core: tuple[np.ndarray, ...],
    between: tuple[np.ndarray, ...],
    params: Params,
) -> tuple[np.ndarray, np.ndarray]:
    """(overlap node, instance id) pairs, sorted. First the instances whose core voxels
    vote for an overlap voxel with mean affinity > ``affinity_threshold``; then, round by
    round (at most ``overlap_rounds``), instances spread along confident overlap-overlap
    pairs to overlap voxels that do not hold them yet (overlap runs longer than an offset)."""
    n_inst = int(labels.max(initial=0)) + 1
    voxel, partner, weight = to_core
    key, inverse = np.unique(voxel * n_inst + labels[partner], return_inverse=True)
    inverse = inverse.ravel()
    mean = np.bincount(inverse, weights=weight, minlength=len(key)) / np.bincount(
        inverse, minlength=len(key)
    )
    joined = key[mean > params.affinity_threshold]
    a, b, w = between
    confident = w > params.affinity_threshold
    source = np.concatenate([a[confident], b[confident]])
    target = np.concatenate([b[confident], a[confident]])
    frontier = joined
    for _ in range(params.overlap_rounds):
        if not len(frontier):
            break
        holder, instance = frontier // n_inst, frontier % n_inst
        order = np.argsort(holder, kind="stable")
        holder, instance = holder[order], instance[order]
        left = np.searchsorted(holder, source, side="left")
        counts = np.searchsorted(holder, source, side="right") - left
        start = np.repeat(np.cumsum(counts) - counts, counts)
        member = np.repeat(left, counts) + np.arange(counts.sum()) - start
        spread = np.unique(np.repeat(target, counts) * n_inst + instance[member])
        frontier = np.setdiff1d(spread, joined, assume_unique=True)
        joined = np.union1d(joined, frontier)
    return joined // n_inst, joined % n_inst


def extract_instances(
    numinst: zarr.Array | np.ndarray | CheckedArray,
    affinities: zarr.Array | np.ndarray | CheckedArray,
    offsets: list[tuple[int, int, int]],
    params: Params | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Labels (Z, Y, X) uint32 with ids 1..N and overlap voxels {id: (k, 3) coords}.

    Dense work is limited to thresholding and the final label image; the graph is built
    on foreground voxels only.
    """
    params = params or Params()
    return segment_graph(*read_graph(numinst, affinities, params), offsets, params)


def read_graph(
    numinst: zarr.Array | np.ndarray | CheckedArray,
    affinities: zarr.Array | np.ndarray | CheckedArray,
    params: Params,
) -> tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]:
    """Step 1 and the graph's inputs: volume shape, foreground voxels (raster indices),
    their overlap flags and their affinities (K, n); see :func:`segment_graph`."""
    foreground, overlap = foreground_masks(numinst, params)
    flat = np.flatnonzero(foreground)
    coords = np.stack(np.unravel_index(flat, foreground.shape), axis=1)
    return foreground.shape, flat, overlap.reshape(-1)[flat], gather(affinities, coords)


def segment_graph(
    shape: tuple[int, ...],
    flat: np.ndarray,
    is_overlap: np.ndarray,
    values: np.ndarray,
    offsets: list[tuple[int, int, int]],
    params: Params,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Steps 2-5 on the foreground graph: nodes 0..n-1 are the foreground voxels ``flat``
    (raster indices, sorted), ``is_overlap`` marks overlap voxels and ``values`` (K, n)
    holds each node's affinity per offset; a negative value means no evidence on that pair
    (B3's consensus where no patch covers it), which then makes no edge."""
    if not len(flat):
        return np.zeros(shape, dtype=np.uint32), {}
    coords = np.stack(np.unravel_index(flat, shape), axis=1)
    n = len(flat)
    pairs = [
        (s[keep], t[keep])
        for k, offset in enumerate(offsets)
        for s, t in [_pairs(flat, coords, np.array(shape), offset)]
        for keep in [values[k, s] >= 0]  # negative: no evidence (B3), no edge
    ]
    # fragments: core voxels joined by confident nearest-neighbour affinities
    near = [
        (s[keep], t[keep])
        for k, (s, t) in enumerate(pairs)
        if max(map(abs, offsets[k])) == 1
        for keep in [~is_overlap[s] & ~is_overlap[t] & (values[k, s] > params.fragment_threshold)]
    ]
    u = np.concatenate([p[0] for p in near]) if near else np.empty(0, np.int64)
    v = np.concatenate([p[1] for p in near]) if near else np.empty(0, np.int64)
    fragment = _fragments(n, u, v)
    # links between fragments (every offset, core voxels only, one per distance), and
    # overlap votes
    distances = sorted({max(map(abs, offset)) for offset in offsets})
    link_parts: list[list[np.ndarray]] = [[], [], []]
    to_core: list[list[np.ndarray]] = [[], [], []]
    between: list[list[np.ndarray]] = [[], [], []]
    for k, (source, target) in enumerate(pairs):
        weight = values[k, source]
        a_overlap, b_overlap = is_overlap[source], is_overlap[target]
        core = ~a_overlap & ~b_overlap
        fa, fb = fragment[source[core]], fragment[target[core]]
        differ = fa != fb
        scale = distances.index(max(map(abs, offsets[k])))
        link_parts[0].append(np.minimum(fa, fb)[differ] * len(distances) + scale)
        link_parts[1].append(np.maximum(fa, fb)[differ])
        link_parts[2].append(weight[core][differ])
        for bucket, mask, swap in (
            (to_core, a_overlap & ~b_overlap, False),
            (to_core, ~a_overlap & b_overlap, True),
            (between, a_overlap & b_overlap, False),
        ):
            s_, t_ = (target[mask], source[mask]) if swap else (source[mask], target[mask])
            bucket[0].append(s_)
            bucket[1].append(t_)
            bucket[2].append(weight[mask])
    del pairs
    low_scale, high, total, count = _pair_sums(*_stack(link_parts), n)
    low = low_scale // len(distances)
    # mutex watershed with one edge per fragment pair and distance: the confident short-range
    # evidence is taken first, as a voxel-level mutex watershed would
    segment = _mutex_watershed(n, total / count - params.merge_bias, low, high)
    links = _pair_sums(low, high, total, n, count)
    instance = np.zeros(n, dtype=np.int64)  # per fragment id (fragment ids are < n)
    used = np.unique(fragment[~is_overlap])
    instance[used] = _first_seen_ids(segment[used])
    votes, overlap_pairs = _stack(to_core), _stack(between)
    if params.bridge_overlaps:
        by_fragment = (votes[0], fragment[votes[1]], votes[2])
        merged = _bridge_overlaps(instance, links, by_fragment, overlap_pairs, params)
        instance[used] = _first_seen_ids(merged[instance[used]])
    node_labels = np.where(is_overlap, 0, instance[fragment])
    joined_v, joined_i = _join_overlaps(node_labels, votes, overlap_pairs, params)
    return _drop_small(shape, flat, coords, node_labels, joined_v, joined_i, params.min_size)


def _stack(parts: list[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate (int, int, float) edge parts collected offset by offset."""
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))
    a, b, c = (np.concatenate(p) if p else e for p, e in zip(parts, empty, strict=True))
    return a, b, c


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

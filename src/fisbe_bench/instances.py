"""B1 instance extraction from numinst probabilities and affinities.

1. Foreground: P(background) < ``foreground_threshold``; overlap voxels: foreground with
   P(two or more) > ``overlap_threshold``; core = foreground minus overlap voxels.
2. Mutex watershed (``mwatershed.cluster``) on a graph of core voxels: an edge per
   predicted offset between two core voxels of the same 26-connected foreground component
   (long-range offsets jump across crossings), attractive iff affinity > 0.5.
3. Overlap voxels join every instance whose edges to them have mean affinity >
   ``affinity_threshold``; unassigned overlap voxels retry through assigned ones.
4. Instances of <= ``min_size`` voxels are dropped; output (N, Z, Y, X) via
   :func:`fisbe_bench.io.write_instances`, overlap voxels in every instance they joined.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cc3d
import mwatershed
import numpy as np
import zarr

from fisbe_bench import io
from fisbe_bench.errors import FisbeError

NUMINST_KEY = "volumes/numinst"
AFFINITY_KEY = "volumes/affinities"


@dataclass(frozen=True)
class InstanceParams:
    """Thresholds of the B1 instance step (probabilities in [0, 1])."""

    foreground_threshold: float = 0.5
    overlap_threshold: float = 0.5
    affinity_threshold: float = 0.5
    min_size: int = 800
    overlap_rounds: int = 3


def foreground_masks(
    numinst: zarr.Array | np.ndarray, params: InstanceParams, slab: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and overlap masks from (3, Z, Y, X) numinst probabilities, by z-slab."""
    shape = numinst.shape[1:]
    foreground = np.zeros(shape, dtype=bool)
    overlap = np.zeros(shape, dtype=bool)
    for z0 in range(0, shape[0], slab):
        probs = np.asarray(numinst[:, z0 : z0 + slab], dtype=np.float32)
        foreground[z0 : z0 + slab] = probs[0] < params.foreground_threshold
        overlap[z0 : z0 + slab] = foreground[z0 : z0 + slab] & (probs[2] > params.overlap_threshold)
    return foreground, overlap


def _pair_slices(offset: tuple[int, ...], shape: tuple[int, ...]) -> tuple[tuple, tuple, list]:
    """Slices selecting x and x + offset for every x whose partner lies inside ``shape``."""
    here, there, low = [], [], []
    for o, s in zip(offset, shape, strict=True):
        here.append(slice(max(0, -o), s - max(0, o)))
        there.append(slice(max(0, o), s + min(0, o)))
        low.append(max(0, -o))
    return tuple(here), tuple(there), low


def _flat(mask: np.ndarray, low: list[int], offset: tuple[int, ...], shape: tuple) -> tuple:
    """Flat indices (x, x + offset) in the full volume of the True voxels of a pair view."""
    coords = [c + lo for c, lo in zip(np.nonzero(mask), low, strict=True)]
    moved = [c + o for c, o in zip(coords, offset, strict=True)]
    return np.ravel_multi_index(coords, shape), np.ravel_multi_index(moved, shape)


def _segment_core(core: np.ndarray, edges: tuple[np.ndarray, ...], threshold: float) -> np.ndarray:
    """Mutex watershed of core voxels; returns sequential labels (uint32, 0 elsewhere)."""
    weight, u, v = edges
    nodes = np.flatnonzero(core)
    segment = nodes.copy()
    if len(weight):
        order = np.argsort(-np.abs(weight - threshold), kind="stable")
        attractive = (weight[order] > threshold).tolist()
        pairs = mwatershed.cluster(
            list(zip(attractive, u[order].tolist(), v[order].tolist(), strict=True))
        )
        if pairs:
            fragment, seg = np.asarray(pairs, dtype=np.int64).T
            segment[np.searchsorted(nodes, fragment)] = seg
    _, inverse = np.unique(segment, return_inverse=True)
    labels = np.zeros(core.shape, dtype=np.uint32)
    labels.reshape(-1)[nodes] = inverse.astype(np.uint32) + 1
    return labels


def _join_overlaps(
    labels: np.ndarray,
    to_core: tuple[np.ndarray, ...],
    between: tuple[np.ndarray, ...],
    params: InstanceParams,
) -> tuple[np.ndarray, np.ndarray]:
    """(voxel flat index, instance id) pairs of overlap voxels joining instances."""
    voxel, partner, weight = to_core
    votes = (voxel, labels.reshape(-1)[partner].astype(np.int64), weight)
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
        right = np.searchsorted(joined_v, dst, side="right")
        counts = right - left
        member = np.repeat(left - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        votes = (np.repeat(src, counts), joined_i[member], np.repeat(ww, counts))
    return joined_v, joined_i


def extract_instances(
    numinst: zarr.Array | np.ndarray,
    affinities: zarr.Array | np.ndarray,
    offsets: list[tuple[int, int, int]],
    params: InstanceParams | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Labels (Z, Y, X) uint32 with ids 1..N and overlap voxels {id: (k, 3) coords}."""
    params = params or InstanceParams()
    foreground, overlap = foreground_masks(numinst, params)
    shape = foreground.shape
    components = cc3d.connected_components(foreground, connectivity=26)
    core = foreground & ~overlap
    edges: list[list[np.ndarray]] = [[], [], []]
    to_core: list[list[np.ndarray]] = [[], [], []]
    between: list[list[np.ndarray]] = [[], [], []]
    for k, offset in enumerate(offsets):
        offset = tuple(int(o) for o in offset)
        here, there, low = _pair_slices(offset, shape)
        affinity = np.asarray(affinities[k], dtype=np.float32)
        same = components[here] == components[there]
        pair_masks = (
            (edges, core[here] & core[there] & same, False),
            (to_core, overlap[here] & core[there] & same, False),
            (to_core, core[here] & overlap[there] & same, True),
            (between, overlap[here] & overlap[there] & same, False),
        )
        for target, mask, swap in pair_masks:
            u, v = _flat(mask, low, offset, shape)
            if swap:
                u, v = v, u
            target[0].append(affinity[here][mask])
            target[1].append(u)
            target[2].append(v)

    def stack(parts: list[list[np.ndarray]], order: tuple[int, int, int]) -> tuple:
        return tuple(
            np.concatenate(parts[i])
            if parts[i]
            else np.empty(0, np.float32 if i == 0 else np.int64)
            for i in order
        )

    labels = _segment_core(core, stack(edges, (0, 1, 2)), params.affinity_threshold)
    joined_v, joined_i = _join_overlaps(
        labels, stack(to_core, (1, 2, 0)), stack(between, (1, 2, 0)), params
    )
    return _drop_small(labels, joined_v, joined_i, params.min_size)


def _drop_small(
    labels: np.ndarray, joined_v: np.ndarray, joined_i: np.ndarray, min_size: int
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Remove instances of <= ``min_size`` voxels (overlaps counted); ids made sequential."""
    n = int(labels.max(initial=0))
    sizes = np.bincount(labels.reshape(-1), minlength=n + 1)
    sizes += np.bincount(joined_i, minlength=n + 1)[: n + 1]
    sizes[0] = 0
    keep = sizes > min_size
    new_id = np.zeros(n + 1, dtype=np.uint32)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.uint32)
    labels = new_id[labels]
    extra: dict[int, np.ndarray] = {}
    mapped = new_id[joined_i]
    for ident in np.unique(mapped[mapped > 0]):
        flat = joined_v[mapped == ident]
        extra[int(ident)] = np.stack(np.unravel_index(flat, labels.shape), axis=1)
    return labels, extra


def instances_from_probs(
    probs_path: str | Path, out_path: str | Path, params: InstanceParams
) -> int:
    """Read a ``fisbe-bench predict`` zarr, write ``volumes/instances``; returns N."""
    try:
        numinst = zarr.open_array(str(Path(probs_path) / NUMINST_KEY), mode="r")
        affinities = zarr.open_array(str(Path(probs_path) / AFFINITY_KEY), mode="r")
        offsets = [tuple(o) for o in affinities.attrs["offsets"]]
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(
            f"not a prediction zarr (needs {NUMINST_KEY}, {AFFINITY_KEY} with offsets)",
            probs_path,
        ) from err
    if numinst.shape[0] != 3 or affinities.shape[1:] != numinst.shape[1:]:
        raise FisbeError(f"shapes {numinst.shape} and {affinities.shape} disagree", probs_path)
    labels, extra = extract_instances(numinst, affinities, offsets, params)
    with io.atomic_directory(out_path) as tmp:
        return io.write_instances(
            tmp, labels, extra_voxels=extra, attrs={"method": "unet_affinity", **asdict(params)}
        )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """CLI: ``fisbe-bench instances --probs PROB.zarr --out PRED.zarr``."""
    defaults = InstanceParams()
    parser.add_argument("--probs", required=True, type=Path, help="zarr from fisbe-bench predict")
    parser.add_argument("--out", required=True, type=Path, help="prediction zarr to write")
    parser.add_argument("--foreground-threshold", type=float, default=defaults.foreground_threshold)
    parser.add_argument("--overlap-threshold", type=float, default=defaults.overlap_threshold)
    parser.add_argument("--affinity-threshold", type=float, default=defaults.affinity_threshold)
    parser.add_argument("--min-size", type=int, default=defaults.min_size)
    parser.add_argument("--overlap-rounds", type=int, default=defaults.overlap_rounds)


def run(args: argparse.Namespace) -> int:
    """Extract instances for one sample and print a one-line JSON summary."""
    params = InstanceParams(
        args.foreground_threshold,
        args.overlap_threshold,
        args.affinity_threshold,
        args.min_size,
        args.overlap_rounds,
    )
    started = time.perf_counter()
    n = instances_from_probs(args.probs, args.out, params)
    seconds = round(time.perf_counter() - started, 2)
    print(json.dumps({"sample": Path(args.out).name, "instances": n, "seconds": seconds}))
    return 0

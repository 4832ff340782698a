"""B2: colour clustering of MCFO neurons (CPU, no training), after Duan et al.

Pipeline: Gaussian denoise -> foreground (brightest channel minus a local median background,
above a threshold and above a share of its local maximum) -> supervoxels (watershed on -EDT
from centre-line seeds cut by a lattice) -> mean chromaticity per supervoxel -> signed
supervoxel graph (adjacent or near supervoxels, attractive when their colours agree,
repulsive when they differ) partitioned by mutex watershed (``mwatershed.cluster_edges``) ->
clean-up (a second mutex watershed over close clusters of agreeing colour) -> instances of
<= ``min_size`` voxels removed -> overlap step (``unmix``): the colour of voxels at crossings
is unmixed by non-negative least squares over the nearby instance colours, and a voxel is
added to every instance with a large share.

Input is the raw (3, Z, Y, X) volume normalised by clip(0, 1500)/1500 (``sample_io.read_raw``) or a
(Z, Y, X, 3) uint8 colour image (``read_colour_image``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

import cc3d
import edt
import fastremap
import mwatershed
import numpy as np
from scipy import ndimage
from scipy.optimize import nnls
from scipy.spatial import cKDTree
from skimage.segmentation import watershed

from fisbe_bench import contract, sample_io
from fisbe_bench.atomic import atomic_directory, write_text
from fisbe_bench.errors import FisbeError

METHOD = "colour_clustering"
COLOUR_KEY = "volumes/gmm_image"  # the denoised colour image of Duan et al.'s predictions
_HDF5 = {".hdf", ".h5", ".hdf5"}
_BACKGROUND_STRIDE = 8  # background levels are medians over every 8th voxel per axis


@dataclass(frozen=True)
class ColourParams:
    """Parameters of B2. Intensities are on the clip(0, 1500)/1500 scale.

    Colour distances are Euclidean distances between unit-length colour vectors (0 for
    the same hue, sqrt(2) for orthogonal channels); spatial distances are in voxels.
    """

    sigma: float = 1.0  # Gaussian denoising per channel
    threshold: float = 0.12  # foreground: background-subtracted brightest channel above this
    relative: float = 0.3  # ... and above this share of its maximum within 7 voxels
    background_window: int = 80  # local background: median within this many voxels (0: global)
    seed_spacing: int = 6  # supervoxel seeds: EDT ridge cut by a lattice of this pitch
    colour_distance: float = 0.3  # supervoxel affinity turns repulsive beyond this distance
    near_radius: float = 10.0  # supervoxels with centroids this close are linked
    near_attraction: float = 0.5  # weight of attractive links between non-touching supervoxels
    merge_gap: float = 20.0  # clean-up: clusters with supervoxels this close ...
    merge_distance: float = 0.2  # ... and mean colours this close are merged
    min_size: int = contract.MIN_SIZE  # instances of at most this many voxels are removed
    unmix: bool = True  # overlap step: add crossing voxels to every instance with a share
    unmix_share: float = 0.35  # share of a voxel's colour an instance needs to claim it

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], source: str | Path | None = None
    ) -> ColourParams:
        """Parameters from a mapping; unknown names raise :class:`FisbeError`."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise FisbeError(
                f"unknown colour-clustering parameter(s): {', '.join(unknown)}", source
            )
        default = cls()
        converted = {}
        for name, value in values.items():
            kind = type(getattr(default, name))
            if (kind is bool) != isinstance(value, bool) or isinstance(value, str):
                raise FisbeError(f"parameter {name!r} must be a {kind.__name__}: {value!r}", source)
            converted[name] = kind(value)
        return replace(default, **converted)


class Supervoxels(NamedTuple):
    """Supervoxel over-segmentation of the foreground and its per-supervoxel statistics."""

    labels: np.ndarray  # (Z, Y, X) uint32, ids 1..n, 0 = background
    colour_sums: np.ndarray  # (n + 1, 3) summed background-subtracted colour, row 0 unused
    sizes: np.ndarray  # (n + 1,) voxel counts
    centroids: np.ndarray  # (n + 1, 3) voxel coordinates
    touching: np.ndarray  # (k, 2) pairs of face-adjacent supervoxel ids, i < j


# --------------------------------------------------------------------------- input


def read_colour_image(path: str | Path, key: str = COLOUR_KEY) -> np.ndarray:
    """Read a (Z, Y, X, 3) uint8 colour image (HDF5 or zarr) as (3, Z, Y, X) float32 in [0, 1]."""
    path = Path(path)
    try:
        if path.suffix in _HDF5:
            import h5py

            with h5py.File(path, "r") as handle:
                image = handle[key][...]
        else:
            import zarr

            image = zarr.open_array(str(path / key), mode="r")[...]
    except (OSError, KeyError, FileNotFoundError) as err:
        raise FisbeError(f"cannot read colour image {key!r}: {err}", path) from err
    return colour_image_to_raw(image, source=path)


def colour_image_to_raw(image: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """A (Z, Y, X, 3) uint8 colour image as a (3, Z, Y, X) float32 volume in [0, 1]."""
    if image.ndim != 4 or image.shape[-1] != 3:
        raise FisbeError(f"colour image must be (Z, Y, X, 3), got shape {image.shape}", source)
    scale = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
    out = np.empty((3, *image.shape[:3]), np.float32)
    for channel in range(3):
        np.divide(image[..., channel], scale, out=out[channel], dtype=np.float32)
    return out


def read_input(path: str | Path, key: str = contract.RAW_KEY) -> np.ndarray:
    """(3, Z, Y, X) float32 input: ``volumes/raw`` as ``sample_io.read_raw`` gives it, or colour.

    A sample zarr is read as ``volumes/raw`` (``key``); an HDF5 file or another ``key`` is read
    as a (Z, Y, X, 3) colour image (``volumes/gmm_image`` by default for HDF5).
    """
    path = Path(path)
    if path.suffix in _HDF5 or key != contract.RAW_KEY:
        return read_colour_image(path, COLOUR_KEY if key == contract.RAW_KEY else key)
    import zarr

    try:
        stored = zarr.open_array(str(path / key), mode="r")
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(f"no array {key!r}", path) from err
    if stored.ndim != 4 or stored.shape[0] != 3:
        raise FisbeError(f"{key} must be (3, Z, Y, X), got shape {stored.shape}", path)
    raw = np.empty(stored.shape, np.float32)  # sample_io.read_raw's values, one channel at a time
    for channel, volume in enumerate(raw):
        volume[...] = contract.normalise_raw(stored[channel])
    return raw


# --------------------------------------------------------------------------- front end


def denoise_and_foreground(
    raw: np.ndarray,
    sigma: float,
    threshold: float,
    relative: float = 0.0,
    background_window: int = 0,
    window: int = 7,
) -> np.ndarray:
    """Denoise ``raw`` in place and subtract each channel's background level.

    The background is the channel's median, or with ``background_window`` > 0 a local one:
    the median within that many voxels, computed on every ``_BACKGROUND_STRIDE``-th voxel
    and repeated back to full size (uneven illumination, autofluorescence). ``raw`` then holds the
    background-subtracted colour, clipped at 0. Returns the foreground mask: brightest
    channel above ``threshold`` and above ``relative`` times its maximum within a
    ``window``-voxel cube (which keeps blurred halos of bright neurons out).
    """
    step = _BACKGROUND_STRIDE
    for volume in raw:
        if sigma > 0:
            ndimage.gaussian_filter(volume, sigma, output=volume, mode="nearest")
        coarse = volume[::step, ::step, ::step]
        if background_window > 0:
            size = max(1, round(background_window / step))
            coarse = ndimage.median_filter(coarse, size=size, mode="nearest")
            for axis in range(3):  # back to full size, one constant per stride^3 block
                coarse = coarse.repeat(step, axis=axis)
            volume -= coarse[: volume.shape[0], : volume.shape[1], : volume.shape[2]]
        else:
            volume -= np.median(coarse)
        np.maximum(volume, 0.0, out=volume)
    brightest = raw.max(axis=0)
    mask = brightest > threshold
    if relative > 0:
        mask &= brightest >= relative * ndimage.maximum_filter(brightest, size=window)
    return mask


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
    box = _bounding_box(mask)
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
        [np.bincount(flat, weights=colour[(c, *box)][crop], minlength=n + 1) for c in range(3)],
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


def _bounding_box(mask: np.ndarray) -> tuple[slice, ...]:
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


# --------------------------------------------------------------------------- graph


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norm, out=np.zeros_like(vectors), where=norm > 0)


def _mutex_partition(n: int, edges: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mutex-watershed partition of nodes 1..n: segment id 1..k per node (index 0 stays 0)."""
    segment = np.arange(n + 1, dtype=np.int64)
    if len(edges):
        order = np.lexsort((edges[:, 1], edges[:, 0]))  # deterministic tie order
        triples = zip(
            weights[order].tolist(),
            edges[order, 0].tolist(),
            edges[order, 1].tolist(),
            strict=True,
        )
        for node, root in mwatershed.cluster_edges(list(triples)):
            segment[node] = root
    _, segment = np.unique(segment, return_inverse=True)
    return segment


def cluster_supervoxels(sv: Supervoxels, params: ColourParams) -> np.ndarray:
    """Segment id (0 = background) per supervoxel id, from the signed supervoxel graph."""
    n = len(sv.sizes) - 1
    if n == 0:
        return np.zeros(1, np.int64)
    hue = _unit(sv.colour_sums)
    near = cKDTree(sv.centroids[1:]).query_pairs(params.near_radius, output_type="ndarray") + 1
    touching = sv.touching
    near = _without(near, touching)
    edges = np.concatenate([touching, near])
    distance = np.linalg.norm(hue[edges[:, 0]] - hue[edges[:, 1]], axis=1)
    weights = np.clip(1.0 - distance / params.colour_distance, -1.0, 1.0)
    is_near = np.arange(len(edges)) >= len(touching)
    weights[is_near & (weights > 0)] *= params.near_attraction
    segment = _mutex_partition(n, edges, weights)
    segment = _merge_close_clusters(sv, segment, params)
    segment[0] = 0
    return segment


def _without(pairs: np.ndarray, remove: np.ndarray) -> np.ndarray:
    """Rows of ``pairs`` not in ``remove`` (both (k, 2) int arrays, i < j)."""
    if not len(pairs) or not len(remove):
        return pairs.reshape(-1, 2).astype(np.int64)
    width = int(max(pairs.max(), remove.max())) + 1
    keep = ~np.isin(pairs[:, 0] * width + pairs[:, 1], remove[:, 0] * width + remove[:, 1])
    return pairs[keep].astype(np.int64)


def _merge_close_clusters(sv: Supervoxels, segment: np.ndarray, params: ColourParams) -> np.ndarray:
    """Clean-up: mutex watershed over clusters linked by supervoxels within ``merge_gap``."""
    n_segments = int(segment.max())
    pairs = cKDTree(sv.centroids[1:]).query_pairs(params.merge_gap, output_type="ndarray") + 1
    links = np.sort(segment[pairs], axis=1)
    links = np.unique(links[links[:, 0] != links[:, 1]], axis=0)
    if not len(links):
        return segment
    sums = np.zeros((n_segments + 1, 3))
    np.add.at(sums, segment[1:], sv.colour_sums[1:])
    hue = _unit(sums)
    distance = np.linalg.norm(hue[links[:, 0]] - hue[links[:, 1]], axis=1)
    weights = np.clip(1.0 - distance / params.merge_distance, -1.0, 1.0)
    merged = _mutex_partition(n_segments, links, weights)
    return merged[segment]


# --------------------------------------------------------------------------- instances


def _instances(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Drop instances of <= ``min_size`` voxels; ids become sequential 1..N (smallest dtype)."""
    ids, counts = fastremap.unique(labels, return_counts=True)
    small = ids[(counts <= min_size) & (ids > 0)]
    if len(small):
        labels = fastremap.mask(labels, small.tolist(), in_place=True)
    labels, _ = fastremap.renumber(labels, in_place=True)
    return labels.astype(sample_io.instance_dtype(int(labels.max(initial=0))), copy=False)


def unmix_overlaps(
    labels: np.ndarray, foreground: np.ndarray, colour: np.ndarray, share: float, window: int = 5
) -> dict[int, np.ndarray]:
    """Overlap voxels: instance id -> (k, 3) voxels it claims besides its own label.

    Candidates are foreground voxels with an instance other than their own (or any, for
    voxels whose piece was too small to keep, such as a crossing's mixed-colour core) within
    a ``window``-voxel cube. Each candidate's colour is unmixed by non-negative least squares
    over the mean colours of its own and up to two neighbouring instances; every neighbour
    whose share of the reconstructed intensity exceeds ``share`` also gets the voxel.
    """
    n = int(labels.max(initial=0))
    if n == 0:
        return {}
    box = _bounding_box(foreground)
    crop = labels[box].astype(sample_io.instance_dtype(n + 1), copy=False)
    offset = np.array([s.start for s in box])
    high = ndimage.maximum_filter(crop, size=window)
    low = ndimage.minimum_filter(np.where(crop > 0, crop, crop.dtype.type(n + 1)), size=window)
    candidate = foreground[box] & (((high != crop) & (high > 0)) | ((low != crop) & (low <= n)))
    coords = np.argwhere(candidate)
    own = crop[candidate].astype(np.int64)
    others = np.stack([high[candidate], low[candidate]], axis=1).astype(np.int64)
    others[(others == own[:, None]) | (others > n)] = 0
    del high, low
    voxel_colour = np.stack([colour[(c, *box)][candidate] for c in range(3)], axis=1)
    labelled = crop > 0
    flat = crop[labelled]
    sums = np.stack(
        [np.bincount(flat, weights=colour[(c, *box)][labelled], minlength=n + 1) for c in range(3)],
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


def segment(raw: np.ndarray, params: ColourParams) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Instances of a (3, Z, Y, X) float32 volume in [0, 1] (modified in place).

    Returns a label image (ids 1..N sequential) and the overlap voxels per id (empty unless
    ``params.unmix``).
    """
    sv = prepare(raw, params)
    return finish(sv, raw, params)


def prepare(raw: np.ndarray, params: ColourParams) -> Supervoxels:
    """Front end (denoise, foreground, supervoxels); ``raw`` becomes the denoised colour."""
    mask = denoise_and_foreground(
        raw, params.sigma, params.threshold, params.relative, params.background_window
    )
    return supervoxels(raw, mask, params.seed_spacing)


def finish(
    sv: Supervoxels, colour: np.ndarray, params: ColourParams
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Back end (graph partition, clean-up, size filter, optional overlaps) on supervoxels."""
    segment_of = cluster_supervoxels(sv, params)
    labels = fastremap.remap(
        sv.labels, {i: int(s) for i, s in enumerate(segment_of)}, preserve_missing_labels=True
    )
    labels = _instances(labels, params.min_size)
    if not params.unmix:
        return labels, {}
    return labels, unmix_overlaps(labels, sv.labels > 0, colour, params.unmix_share)


def predict(
    raw_path: str | Path,
    out_path: str | Path,
    params: ColourParams,
    key: str = contract.RAW_KEY,
) -> int:
    """Segment one sample and write ``volumes/instances`` atomically; returns #instances."""
    labels, extra = segment(read_input(raw_path, key), params)
    with atomic_directory(out_path) as tmp:
        return sample_io.write_instances(
            tmp, labels, extra_voxels=extra, attrs={"method": METHOD, **asdict(params)}
        )


def instance_stack(labels: np.ndarray, extra: Mapping[int, np.ndarray]) -> np.ndarray:
    """Label image, or a (N, Z, Y, X) channel stack when there are overlap voxels."""
    if not extra:
        return labels
    n = int(labels.max(initial=0))
    stack = np.zeros((n, *labels.shape), labels.dtype)
    for index in range(n):
        stack[index][labels == index + 1] = index + 1
        voxels = extra.get(index + 1)
        if voxels is not None and len(voxels):
            stack[(index, *voxels.T)] = index + 1
    return stack


# --------------------------------------------------------------------------- tuning


class TuneSample(NamedTuple):
    """One tuning sample: its raw input, its ground truth and whether it is partly labelled."""

    raw_path: str
    gt_path: str
    partly: bool


FRONT_END = ("sigma", "threshold", "relative", "background_window", "seed_spacing")


def parameter_grid(
    grid: Mapping[str, Sequence[Any]], base: ColourParams | None = None
) -> list[ColourParams]:
    """All combinations of ``grid`` (name -> list of values) on top of ``base``, in grid order."""
    for name, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise FisbeError(f"grid entry {name!r} must be a non-empty list")
    base_values = asdict(base or ColourParams())
    names = list(grid)
    return [
        ColourParams.from_mapping({**base_values, **dict(zip(names, combo, strict=True))})
        for combo in itertools.product(*(grid[name] for name in names))
    ]


def _score_sample(sample: TuneSample, candidates: list[ColourParams]) -> list[Any]:
    """Metrics of every candidate on one sample (front end shared between candidates)."""
    import zarr

    from fisbe_bench.metrics import evaluate_sample

    gt = zarr.open_array(str(Path(sample.gt_path) / contract.GT_KEY), mode="r")[...]
    results: list[Any] = [None] * len(candidates)
    groups: dict[tuple, list[int]] = {}
    for index, params in enumerate(candidates):
        groups.setdefault(tuple(getattr(params, f) for f in FRONT_END), []).append(index)
    for indices in groups.values():
        colour = read_input(sample.raw_path)  # re-read: cheaper than holding a pristine copy
        sv = prepare(colour, candidates[indices[0]])
        for index in indices:
            labels, extra = finish(sv, colour, candidates[index])
            results[index] = evaluate_sample(
                gt, instance_stack(labels, extra), partly=sample.partly
            )
    return results


def tune(
    samples: Sequence[TuneSample | tuple[str, str, bool]],
    grid: Mapping[str, Sequence[Any]],
    jobs: int = 1,
    base: ColourParams | None = None,
    out: str | Path | None = None,
    notes: Mapping[str, Any] | None = None,
) -> tuple[ColourParams, list[dict[str, Any]]]:
    """Grid search on (validation) samples; returns the best parameters and the score table.

    Each candidate is scored with the FISBe metrics: S, avF1 and C aggregated per labelled
    set (completely, partly) and averaged over the sets present, like the leaderboard's
    combined row. The highest S wins; ties go to the earlier candidate in grid order.
    With ``out``, the choice, its S, the samples, ``notes`` and the table are written there
    as JSON (:func:`write_params`), the file that prediction reads.
    """
    from fisbe_bench.metrics import aggregate

    samples = [TuneSample(str(s[0]), str(s[1]), bool(s[2])) for s in samples]
    if not samples:
        raise FisbeError("no tuning samples")
    candidates = parameter_grid(grid, base)
    if jobs > 1 and len(samples) > 1:
        with ProcessPoolExecutor(min(jobs, len(samples))) as pool:
            per_sample = list(pool.map(_score_sample, samples, [candidates] * len(samples)))
    else:
        per_sample = [_score_sample(sample, candidates) for sample in samples]
    table = []
    for index, params in enumerate(candidates):
        row: dict[str, Any] = {
            "candidate": index,
            **{name: getattr(params, name) for name in grid},
        }
        sets = {}
        for set_name, partly in (("completely", False), ("partly", True)):
            results = [
                r[index] for r, s in zip(per_sample, samples, strict=True) if s.partly == partly
            ]
            if results:
                sets[set_name] = aggregate(results)
        for metric in ("S", "avF1", "C"):
            row[metric] = float(np.mean([summary[metric] for summary in sets.values()]))
            for set_name, summary in sets.items():
                row[f"{metric}_{set_name}"] = float(summary[metric])
        table.append(row)
    best = max(range(len(candidates)), key=lambda i: (table[i]["S"], -i))
    if out is not None:
        names = [Path(s.raw_path).name.removesuffix(".zarr") for s in samples]
        info = {"S": table[best]["S"], "samples": names, **(notes or {})}
        write_params(out, candidates[best], table, **info)
    return candidates[best], table


def write_params(
    path: str | Path, params: ColourParams, table: Iterable[Mapping[str, Any]] = (), **info: Any
) -> None:
    """Write chosen parameters (plus the tuning table and notes) as JSON, atomically."""
    document = {"method": METHOD, "params": asdict(params), **info, "table": list(table)}
    write_text(path, json.dumps(document, indent=2) + "\n")


def read_params(path: str | Path) -> ColourParams:
    """Parameters from a JSON file written by :func:`write_params` (or a plain mapping)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FisbeError(f"cannot read parameters: {err}", path) from err
    if not isinstance(document, dict):
        raise FisbeError("parameters must be a JSON object", path)
    values = document.get("params", document)
    if not isinstance(values, dict):
        raise FisbeError("'params' must be a JSON object", path)
    return ColourParams.from_mapping(values, source=path)

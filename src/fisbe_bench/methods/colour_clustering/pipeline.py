"""B2 pipeline: front end, clustering, size filter and overlaps for one sample."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import fastremap
import numpy as np

from fisbe_bench import contract, sample_io
from fisbe_bench.atomic import atomic_directory
from fisbe_bench.methods.colour_clustering.foreground import denoise_and_foreground
from fisbe_bench.methods.colour_clustering.graph import cluster_supervoxels
from fisbe_bench.methods.colour_clustering.input import read_input
from fisbe_bench.methods.colour_clustering.overlaps import unmix_overlaps
from fisbe_bench.methods.colour_clustering.params import METHOD, Params
from fisbe_bench.methods.colour_clustering.supervoxels import Supervoxels, supervoxels


def _instances(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Drop instances of <= ``min_size`` voxels; ids become sequential 1..N (smallest dtype)."""
    ids, counts = fastremap.unique(labels, return_counts=True)
    small = ids[(counts <= min_size) & (ids > 0)]
    if len(small):
        labels = fastremap.mask(labels, small.tolist(), in_place=True)
    labels, _ = fastremap.renumber(labels, in_place=True)
    return labels.astype(sample_io.instance_dtype(int(labels.max(initial=0))), copy=False)


def segment(raw: np.ndarray, params: Params) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Instances of a (3, Z, Y, X) float32 volume in [0, 1] (modified in place).

    Returns a label image (ids 1..N sequential) and the overlap voxels per id (empty unless
    ``params.unmix``). Only the front end needs the full volume: a caller that passes its
    only reference (``segment(read_input(path), params)``) lets it be freed before the
    supervoxels.
    """
    mask, colour = front_end(raw, params)
    del raw
    return finish(supervoxels(colour, mask, params.seed_spacing), params)


def front_end(raw: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """Denoise ``raw`` in place; the foreground mask and its (3, k) colour in raster order."""
    mask = denoise_and_foreground(
        raw, params.sigma, params.threshold, params.relative, params.background_window
    )
    return mask, raw[:, mask]


def finish(sv: Supervoxels, params: Params) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Back end (graph partition, clean-up, size filter, optional overlaps) on supervoxels."""
    segment_of = cluster_supervoxels(sv, params)
    labels = fastremap.remap(
        sv.labels, {i: int(s) for i, s in enumerate(segment_of)}, preserve_missing_labels=True
    )
    labels = _instances(labels, params.min_size)
    if not params.unmix:
        return labels, {}
    return labels, unmix_overlaps(labels, sv.labels > 0, sv.colour, params.unmix_share)


def predict(
    raw_path: str | Path,
    out_path: str | Path,
    params: Params,
    key: str = contract.RAW_KEY,
) -> int:
    """Segment one sample and write ``volumes/instances`` atomically; returns #instances."""
    labels, extra = segment(read_input(raw_path, key), params)
    with atomic_directory(out_path) as tmp:
        return sample_io.write_instances(
            tmp, labels, extra_voxels=extra, attrs={"method": METHOD, **asdict(params)}
        )

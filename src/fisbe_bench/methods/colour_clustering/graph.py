"""B2 clustering: signed supervoxel graph partitioned by mutex watershed, then clean-up."""

from __future__ import annotations

import mwatershed
import numpy as np
from scipy.spatial import cKDTree

from fisbe_bench.methods.colour_clustering.params import Params
from fisbe_bench.methods.colour_clustering.supervoxels import Supervoxels


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


def cluster_supervoxels(sv: Supervoxels, params: Params) -> np.ndarray:
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


def _merge_close_clusters(sv: Supervoxels, segment: np.ndarray, params: Params) -> np.ndarray:
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

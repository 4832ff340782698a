"""Where B1's network outputs depart from the ground truth, before any decoding.

``fisbe-bench overfit`` writes these next to S: a low S with small output errors points at
the decoding, large errors at training. Foreground is P(background) < 0.5, an overlap voxel
also P(two or more) > 0.5, a pair "same neuron" where its affinity > 0.5; affinities are
checked on the pairs the instance step links, two voxels of one neuron each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fisbe_bench.methods.unet_affinity.targets import count_members, pack_membership


def output_errors(
    numinst: np.ndarray, affinities: np.ndarray, offsets: Sequence[Sequence[int]], gt: np.ndarray
) -> dict[str, Any]:
    """Errors of (3, Z, Y, X) numinst and (K, Z, Y, X) affinity probabilities against the
    (N, Z, Y, X) GT: foreground voxels missed and added, overlap voxels found, and per offset
    the pairs of single-neuron voxels in one neuron ("same") and in two ("different"), with
    how many of each the affinities get right ("found")."""
    bits = pack_membership(gt)
    counts = count_members(bits)
    truth, overlap = counts > 0, counts >= 2
    foreground = numinst[0] < 0.5
    errors: dict[str, Any] = {
        "foreground_voxels": int(truth.sum()),
        "foreground_missed": int((truth & ~foreground).sum()),
        "foreground_added": int((foreground & ~truth).sum()),
        "overlap_voxels": int(overlap.sum()),
        "overlap_found": int((overlap & foreground & (numinst[2] > 0.5)).sum()),
        "offsets": [],
    }
    for k, offset in enumerate(offsets):
        axes = list(zip(offset, counts.shape, strict=True))
        here = tuple(slice(max(0, -d), s - max(0, d)) for d, s in axes)
        there = tuple(slice(max(0, d), s + min(0, d)) for d, s in axes)
        single = (counts[here] == 1) & (counts[there] == 1)
        same = ((bits[(slice(None), *here)] & bits[(slice(None), *there)]) != 0).any(axis=0)
        predicted = affinities[k][here] > 0.5
        errors["offsets"].append({
            "offset": [int(d) for d in offset],
            "same_pairs": int((single & same).sum()),
            "same_found": int((single & same & predicted).sum()),
            "different_pairs": int((single & ~same).sum()),
            "different_found": int((single & ~same & ~predicted).sum()),
        })  # fmt: skip
    return errors


def recall_by_distance(errors: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """Recall of "same" and "different" pairs of :func:`output_errors`, pooled over the
    offsets of each distance (largest absolute component): ``{"1": {"same": r, ...}}``,
    None where a distance has no such pairs."""
    pooled: dict[int, dict[str, list[int]]] = {}
    for row in errors["offsets"]:
        distance = max(map(abs, row["offset"]))
        group = pooled.setdefault(distance, {"same": [0, 0], "different": [0, 0]})
        for kind in group:
            group[kind][0] += row[f"{kind}_found"]
            group[kind][1] += row[f"{kind}_pairs"]
    return {
        str(distance): {
            kind: round(found / pairs, 4) if pairs else None
            for kind, (found, pairs) in group.items()
        }
        for distance, group in sorted(pooled.items())
    }

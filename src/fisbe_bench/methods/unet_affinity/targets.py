"""Training targets from the multi-channel GT, and the B1 loss.

GT channels are packed into per-voxel bit sets (one bit per neuron), so "x and x + d
share a neuron" is a single AND per offset however many neurons an image holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fisbe_bench.methods.unet_affinity.model import NUMINST_CLASSES

Offset = Sequence[int]


def pack_membership(gt: np.ndarray) -> np.ndarray:
    """(N, Z, Y, X) instance channels -> (W, Z, Y, X) uint64 bit sets, W = ceil(N / 64)."""
    n = gt.shape[0]
    words = np.zeros((max(1, -(-n // 64)), *gt.shape[1:]), dtype=np.uint64)
    for channel in range(n):
        words[channel // 64] |= (gt[channel] > 0).astype(np.uint64) << np.uint64(channel % 64)
    return words


def count_members(bits: np.ndarray) -> np.ndarray:
    """Number of neurons per voxel from packed bit sets (uint8, saturating at 255)."""
    counts = np.zeros(bits.shape[1:], dtype=np.int64)
    for word in bits:
        counts += np.bitwise_count(word)
    return np.minimum(counts, 255).astype(np.uint8)


def numinst_target(counts: np.ndarray) -> np.ndarray:
    """Neurons per voxel -> class 0 (background), 1 (one) or 2 (two or more)."""
    return np.minimum(counts, NUMINST_CLASSES - 1).astype(np.uint8)


# pair classes, see ``affinity_target``
INVALID, BACKGROUND, BOUNDARY, FOREGROUND, OVERLAP = range(5)


def affinity_target(
    bits: np.ndarray, offsets: Sequence[Offset], margin: int, inside: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Affinities and pair classes for the centre of a crop read with ``margin``.

    ``bits`` (W, Z + 2m, Y + 2m, X + 2m) covers the crop plus ``margin`` voxels on every
    side (``margin`` >= the largest offset component); ``inside`` marks voxels of the
    padded crop that lie inside the volume (all, if None). Returns (K, Z, Y, X) uint8
    targets (1 iff x and x + d share a neuron) and uint8 pair classes: ``INVALID`` (x + d
    outside the volume), ``OVERLAP`` (x or x + d in two or more neurons), ``FOREGROUND``
    (both in one neuron each), ``BOUNDARY`` (one in a neuron, one not), else ``BACKGROUND``.
    """
    shape = tuple(s - 2 * margin for s in bits.shape[1:])
    centre = tuple(slice(margin, margin + s) for s in shape)
    counts = count_members(bits)
    targets = np.zeros((len(offsets), *shape), dtype=np.uint8)
    classes = np.zeros((len(offsets), *shape), dtype=np.uint8)
    for k, offset in enumerate(offsets):
        if max(abs(int(o)) for o in offset) > margin:
            raise ValueError(f"offset {tuple(offset)} exceeds margin {margin}")
        moved = tuple(
            slice(margin + int(o), margin + int(o) + s) for o, s in zip(offset, shape, strict=True)
        )
        shared = np.zeros(shape, dtype=bool)
        for word in range(bits.shape[0]):
            shared |= (bits[word][centre] & bits[word][moved]) != 0
        targets[k] = shared
        most = np.maximum(counts[centre], counts[moved])
        least = np.minimum(counts[centre], counts[moved])
        pair = np.select(
            [most >= 2, least == 1, most == 1], [OVERLAP, FOREGROUND, BOUNDARY], BACKGROUND
        )
        if inside is not None:
            pair[~(inside[centre] & inside[moved])] = INVALID
        classes[k] = pair
    return targets, classes


def pair_weights(weight: np.ndarray, offsets: Sequence[Offset], margin: int) -> np.ndarray:
    """(K, Z, Y, X) float32 weight of each pair (x, x + d): the smaller of the two voxel
    weights, from ``weight`` over the crop plus ``margin`` as in :func:`affinity_target`."""
    shape = tuple(s - 2 * margin for s in weight.shape)
    centre = weight[tuple(slice(margin, margin + s) for s in shape)]
    out = np.empty((len(offsets), *shape), dtype=np.float32)
    for k, offset in enumerate(offsets):
        moved = tuple(
            slice(margin + int(o), margin + int(o) + s) for o, s in zip(offset, shape, strict=True)
        )
        np.minimum(centre, weight[moved], out=out[k])
    return out


def loss_terms(
    logits: torch.Tensor,
    numinst: torch.Tensor,
    affinities: torch.Tensor,
    classes: torch.Tensor,
    background_pair_weight: float = 0.0,
    boundary_pair_weight: float = 0.1,
    overlap_pair_weight: float = 0.0,
    numinst_class_weights: Sequence[float] = (1.0, 1.0, 1.0),
    weight: torch.Tensor | None = None,
    pair_weight: torch.Tensor | None = None,
    balance_offsets: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on numinst (per-class weights: background, one, two or more) and the
    weighted mean affinity BCE (float32 scalars).

    ``numinst`` (B, Z, Y, X) class indices; ``affinities``/``classes`` (B, K, Z, Y, X)
    from :func:`affinity_target`. Pair weights by class: ``FOREGROUND`` (two foreground
    voxels, the pairs the instance step uses) 1, ``BOUNDARY`` ``boundary_pair_weight``,
    ``BACKGROUND`` ``background_pair_weight``, ``OVERLAP`` ``overlap_pair_weight`` (0
    masks pairs touching overlap voxels), ``INVALID`` 0. Optional ``weight`` (B, Z, Y, X)
    multiplies each voxel's cross-entropy and ``pair_weight`` (B, K, Z, Y, X) each pair's
    weight (see :func:`pair_weights`); both means stay normalised by the total weight.
    With ``balance_offsets`` the BCE is the mean over offsets of each offset's own weighted
    mean (offsets without weighted pairs left out), so the few foreground pairs of a long
    offset weigh as much as the many of a short one.
    """
    logits = logits.float()
    class_weights = torch.tensor(list(numinst_class_weights), device=logits.device)
    if weight is None:
        ce = F.cross_entropy(logits[:, :NUMINST_CLASSES], numinst.long(), weight=class_weights)
    else:
        weight = weight.float() * class_weights[numinst.long()]
        per_voxel = F.cross_entropy(logits[:, :NUMINST_CLASSES], numinst.long(), reduction="none")
        ce = (per_voxel * weight).sum() / weight.sum().clamp_min(1e-6)
    table = torch.tensor(
        [0.0, background_pair_weight, boundary_pair_weight, 1.0, overlap_pair_weight],
        device=classes.device,
    )
    weights = table[classes.long()]
    if pair_weight is not None:
        weights = weights * pair_weight.float()
    per_pair = F.binary_cross_entropy_with_logits(
        logits[:, NUMINST_CLASSES:], affinities.float(), weight=weights, reduction="none"
    )
    if not balance_offsets:
        return ce, per_pair.sum() / weights.sum().clamp_min(1e-6)
    per_offset = per_pair.sum(dim=(0, 2, 3, 4))
    totals = weights.sum(dim=(0, 2, 3, 4))
    weighted = totals > 0
    bce = (per_offset[weighted] / totals[weighted]).sum() / weighted.sum().clamp_min(1)
    return ce, bce

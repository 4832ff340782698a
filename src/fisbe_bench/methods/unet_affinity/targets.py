"""Training targets from the multi-channel GT, and the B1 loss.

GT channels are packed into per-voxel bit sets (one bit per neuron), so "x and x + d
share a neuron" is a single AND per offset however many neurons an image holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


# pair classes, see ``batch_targets``
INVALID, BACKGROUND, BOUNDARY, FOREGROUND, OVERLAP = range(5)


@dataclass
class Targets:
    """One batch's training targets, built on the training device (:func:`batch_targets`)."""

    numinst: torch.Tensor  # (B, Z, Y, X) uint8 class: 0, 1 or 2+ neurons
    weight: torch.Tensor  # (B, Z, Y, X) float32 loss weight of each voxel
    affinities: torch.Tensor  # (B, K, Z, Y, X) uint8: 1 iff x and x + d share a neuron
    classes: torch.Tensor  # (B, K, Z, Y, X) uint8 pair class
    pair_weight: torch.Tensor  # (B, K, Z, Y, X) float32: the smaller voxel weight of a pair


def batch_targets(
    bits: torch.Tensor,
    counts: torch.Tensor,
    inside: torch.Tensor,
    weight: torch.Tensor,
    offsets: Sequence[Offset],
    margin: int,
) -> Targets:
    """Targets of a batch of crops, from what the loader carries over the crop plus
    ``margin`` voxels on every side (``margin`` >= the largest offset component): ``bits``
    (B, W, Z + 2m, Y + 2m, X + 2m) int64 packed label sets (:func:`pack_membership` viewed
    as int64), ``counts`` (B, Z + 2m, ...) neurons per voxel, ``inside`` (B, ...) bool, the
    voxels inside the volume, ``weight`` (B, ...) float32 voxel loss weights.

    Pair classes of (x, x + d): ``INVALID`` (x + d outside the volume), ``OVERLAP`` (x or
    x + d in two or more neurons), ``FOREGROUND`` (both in one neuron each), ``BOUNDARY`` (one
    in a neuron, one not), else ``BACKGROUND``. Built where the network trains, so that a
    loader item holds a few bytes per voxel rather than K affinity channels.
    """
    shape = tuple(s - 2 * margin for s in counts.shape[1:])
    centre = (slice(None), *(slice(margin, margin + s) for s in shape))
    batch = counts.shape[0]
    affinities = torch.empty((batch, len(offsets), *shape), dtype=torch.uint8, device=bits.device)
    classes = torch.empty_like(affinities)
    pair_weight = torch.empty(affinities.shape, dtype=torch.float32, device=bits.device)
    counts = counts.to(torch.uint8)
    for k, offset in enumerate(offsets):
        if max(abs(int(o)) for o in offset) > margin:
            raise ValueError(f"offset {tuple(offset)} exceeds margin {margin}")
        moved = (
            slice(None),
            *(
                slice(margin + int(o), margin + int(o) + s)
                for o, s in zip(offset, shape, strict=True)
            ),
        )
        shared = (bits[(slice(None), *centre)] & bits[(slice(None), *moved)]) != 0
        affinities[:, k] = shared.any(dim=1)
        # uint8 arithmetic: BACKGROUND + (most neurons, at most 2) + (least, at most 1; 1
        # where most is 2), times "both inside" (else INVALID)
        most = torch.maximum(counts[centre], counts[moved]).clamp_(max=2)
        least = torch.minimum(counts[centre], counts[moved]).clamp_(max=1)
        pair = most.add_(torch.maximum(least, most >> 1)).add_(BACKGROUND)
        classes[:, k] = pair.mul_(inside[centre] & inside[moved])
        torch.minimum(weight[centre], weight[moved], out=pair_weight[:, k])
    numinst = counts[centre].clamp(max=NUMINST_CLASSES - 1)
    return Targets(numinst, weight[centre].float(), affinities, classes, pair_weight)


def affinity_target(
    bits: np.ndarray, offsets: Sequence[Offset], margin: int, inside: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`batch_targets` of one crop on the CPU: (K, Z, Y, X) uint8 affinities and pair
    classes from ``bits`` (W, Z + 2m, Y + 2m, X + 2m) uint64 and ``inside`` (all, if None)."""
    counts = count_members(bits)
    inside = np.ones(counts.shape, dtype=bool) if inside is None else inside
    targets = batch_targets(
        torch.from_numpy(np.ascontiguousarray(bits).view(np.int64))[None],
        torch.from_numpy(counts)[None],
        torch.from_numpy(np.ascontiguousarray(inside))[None],
        torch.ones((1, *counts.shape)),
        offsets,
        margin,
    )
    return targets.affinities[0].numpy(), targets.classes[0].numpy()


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on numinst (per-class weights: background, one, two or more) and the
    weighted mean affinity BCE (float32 scalars).

    ``numinst`` (B, Z, Y, X) class indices; ``affinities``/``classes`` (B, K, Z, Y, X)
    from :func:`batch_targets`. Pair weights by class: ``FOREGROUND`` (two foreground
    voxels, the pairs the instance step uses) 1, ``BOUNDARY`` ``boundary_pair_weight``,
    ``BACKGROUND`` ``background_pair_weight``, ``OVERLAP`` ``overlap_pair_weight`` (0
    masks pairs touching overlap voxels), ``INVALID`` 0. Optional ``weight`` (B, Z, Y, X)
    multiplies each voxel's cross-entropy and ``pair_weight`` (B, K, Z, Y, X) each pair's
    weight (see :func:`batch_targets`); both means stay normalised by the total weight.
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
    bce = F.binary_cross_entropy_with_logits(
        logits[:, NUMINST_CLASSES:], affinities.float(), weight=weights, reduction="sum"
    ) / weights.sum().clamp_min(1e-6)
    return ce, bce

"""Training targets from the multi-channel GT, and the B1 loss.

GT channels are packed into per-voxel bit sets (one bit per neuron), so "x and x + d
share a neuron" is a single AND per offset however many neurons an image holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fisbe_bench.models.unet import NUMINST_CLASSES

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


def affinity_target(
    bits: np.ndarray, offsets: Sequence[Offset], margin: int, inside: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Affinities and their validity for the centre of a crop read with ``margin``.

    ``bits`` (W, Z + 2m, Y + 2m, X + 2m) covers the crop plus ``margin`` voxels on every
    side (``margin`` >= the largest offset component); ``inside`` marks voxels of the
    padded crop that lie inside the volume (all, if None). Returns (K, Z, Y, X) uint8
    targets (1 iff x and x + d share a neuron) and uint8 validity (x + d inside).
    """
    shape = tuple(s - 2 * margin for s in bits.shape[1:])
    centre = tuple(slice(margin, margin + s) for s in shape)
    targets = np.zeros((len(offsets), *shape), dtype=np.uint8)
    valid = np.ones((len(offsets), *shape), dtype=np.uint8)
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
        if inside is not None:
            valid[k] = inside[centre] & inside[moved]
    return targets, valid


def affinity_weights(
    numinst: torch.Tensor,
    valid: torch.Tensor,
    offsets: Sequence[Offset],
    background_pair_weight: float,
    overlap_pair_weight: float,
) -> torch.Tensor:
    """Per-pair loss weights (B, K, Z, Y, X).

    Pairs touching foreground weigh 1, background-only pairs ``background_pair_weight``,
    pairs touching an overlap voxel (two or more neurons) ``overlap_pair_weight`` (0 masks
    them), invalid pairs (partner outside the volume or crop) 0.
    """
    weights = torch.zeros(valid.shape, dtype=torch.float32, device=valid.device)
    spatial = numinst.shape[1:]
    for k, offset in enumerate(offsets):
        here = numinst
        there = torch.zeros_like(numinst)
        src = [slice(None)]
        dst = [slice(None)]
        for o, s in zip(offset, spatial, strict=True):
            o = int(o)
            dst.append(slice(max(0, -o), s - max(0, o)))
            src.append(slice(max(0, o), s + min(0, o)))
        there[tuple(dst)] = numinst[tuple(src)]
        foreground = (here > 0) | (there > 0)
        overlap = (here > 1) | (there > 1)
        w = torch.full(here.shape, background_pair_weight, device=valid.device)
        w[foreground] = 1.0
        w[overlap] = overlap_pair_weight
        weights[:, k] = w * valid[:, k].float()
    return weights


def loss_terms(
    logits: torch.Tensor,
    numinst: torch.Tensor,
    affinities: torch.Tensor,
    valid: torch.Tensor,
    offsets: Sequence[Offset],
    background_pair_weight: float = 0.1,
    overlap_pair_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy on numinst and weighted BCE on affinities (both float32 means).

    ``numinst`` (B, Z, Y, X) class indices; ``affinities``/``valid`` (B, K, Z, Y, X).
    Affinity pairs whose partner left the crop carry validity 0 (see ``affinity_target``).
    """
    logits = logits.float()
    ce = F.cross_entropy(logits[:, :NUMINST_CLASSES], numinst.long())
    weights = affinity_weights(
        numinst, valid, offsets, background_pair_weight, overlap_pair_weight
    )
    bce = F.binary_cross_entropy_with_logits(
        logits[:, NUMINST_CLASSES:], affinities.float(), weight=weights, reduction="sum"
    ) / weights.sum().clamp_min(1.0)
    return ce, bce

"""Consensus affinities: what every predicted patch covering a voxel pair says about it.

The patch of centre c gives P_c(d), the probability that c + d belongs to a neuron of c
(d in the (2r+1)^3 cube; P_c(0) = 1). Each patch votes with weight w_c = P(numinst = 1)
at c: a patch centred on background or on a crossing describes no single neuron. For the
pair (u, v = u + e), summed over the centres c whose patch covers both voxels,

    both = sum w_c P_c(u - c) P_c(v - c),   S_u = sum w_c P_c(u - c),   S_v likewise,

and the consensus is ``both / (D + PSEUDOCOUNT)``: D is the union S_u + S_v - both (the
share of the patches holding either voxel that hold both), moved towards min(S_u, S_v)
by the pair's overlap probability o = max(P_u(>=2), P_v(>=2)). A voxel in two neurons
lies in the patches of each, so a pair sharing one of them is judged by the patches of
the voxel held by fewer. Ideal patches (:mod:`.oracle`) give 1 iff u and v share a
neuron, B1's affinity target, so B1's decoding applies unchanged; overlap voxels join
every instance whose patches hold them (B1's mean-affinity rule on these values).

The pseudocount keeps weak evidence weak: a pair seen by a tenth of a patch stays below
one half. A pair that hardly any voting patch holds (union below ``MIN_SUPPORT``, e.g. a
pair 2r apart whose only covering centre, the midpoint, lies off the neuron) gets
``NO_VOTE``: B1's decoding makes no edge of it, where 0 would push the two apart. Only
voxels a decoding could call foreground are computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from fisbe_bench.methods.patchperpix.config import consensus_offsets, patch_layout, patch_offsets
from fisbe_bench.methods.unet_affinity.model import NUMINST_CLASSES
from fisbe_bench.methods.unet_affinity.predict import Head

PSEUDOCOUNT = 0.1
MIN_SUPPORT = 0.5  # patches (weighted) holding either voxel of a pair, for it to be judged
NO_VOTE = -1.0
CANDIDATE = 0.9  # voxels with P(background) below this get consensus values (else 0)
CHUNK = 1 << 20  # voxels per pass (memory: a few (K, CHUNK) float32 arrays)

Patch = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``patch(centres, channels) -> (m, n)``: P_c(d) at raster indices ``centres`` (n,) for
the patch channels ``channels`` (m,) (indices into :func:`.config.patch_offsets`)."""


def consensus(
    patch: Patch,
    single: torch.Tensor,
    overlap: torch.Tensor,
    voxels: torch.Tensor,
    shape: Sequence[int],
    radius: int,
    offsets: Sequence[Sequence[int]],
) -> torch.Tensor:
    """(K, n) float32 consensus of the pairs (u, u + e) for ``voxels`` u (raster indices
    into ``shape``) and the ``offsets`` e (|e| <= 2r per axis). ``single`` and ``overlap``
    are P(numinst = 1) and P(numinst >= 2) per voxel, flat; pairs leaving the volume get 0,
    pairs without votes ``NO_VOTE``."""
    out = torch.zeros((len(offsets), len(voxels)), dtype=torch.float32, device=voxels.device)
    for start in range(0, len(voxels), CHUNK):
        chunk = voxels[start : start + CHUNK]
        out[:, start : start + CHUNK] = _consensus_chunk(
            patch, single, overlap, chunk, shape, radius, offsets
        )
    return out


def _consensus_chunk(
    patch: Patch,
    single: torch.Tensor,
    overlap: torch.Tensor,
    voxels: torch.Tensor,
    shape: Sequence[int],
    radius: int,
    offsets: Sequence[Sequence[int]],
) -> torch.Tensor:
    device = voxels.device
    cube = patch_offsets(radius)
    channel = {offset: k for k, offset in enumerate(cube)}
    size = torch.tensor(list(shape), device=device)
    strides = torch.tensor([shape[1] * shape[2], shape[2], 1], device=device)
    coords = torch.stack(torch.unravel_index(voxels, tuple(shape)), dim=1)
    n, k_all = len(voxels), len(offsets)
    both = torch.zeros((k_all, n), dtype=torch.float32, device=device)
    s_u, s_v = torch.zeros_like(both), torch.zeros_like(both)
    for d in ((0, 0, 0), *cube):
        rows, channels = [], []
        for k, e in enumerate(offsets):
            target = (d[0] + int(e[0]), d[1] + int(e[1]), d[2] + int(e[2]))
            if max(map(abs, target)) <= radius:
                rows.append(k)
                channels.append(channel.get(target, -1))  # -1: the centre itself
        if not rows:
            continue
        centre = coords - torch.tensor(d, device=device)
        inside = ((centre >= 0) & (centre < size)).all(dim=1)
        flat = torch.where(inside, (centre * strides).sum(dim=1), 0)
        weight = single[flat].float() * inside
        p_u = patch(flat, torch.tensor([channel[d]], device=device))[0] if any(d) else 1.0
        index = torch.tensor(channels, device=device)
        p_v = patch(flat, index.clamp_min(0)).float()
        p_v[index < 0] = 1.0
        w_v = weight * p_v
        row = torch.tensor(rows, device=device)
        both.index_add_(0, row, w_v * p_u)
        s_u.index_add_(0, row, (weight * p_u).expand(len(rows), n))
        s_v.index_add_(0, row, w_v)
    partner = (
        coords[None] + torch.tensor([list(map(int, e)) for e in offsets], device=device)[:, None]
    )
    inside = ((partner >= 0) & (partner < size)).all(dim=2)
    partner_flat = torch.where(inside, (partner * strides).sum(dim=2), 0)
    o = torch.maximum(overlap[voxels].float()[None], overlap[partner_flat].float())
    union = s_u + s_v - both
    denominator = (1 - o) * union + o * torch.minimum(s_u, s_v)
    value = torch.where(union < MIN_SUPPORT, NO_VOTE, both / (denominator + PSEUDOCOUNT))
    return torch.where(inside, value, 0.0)


def tile_consensus(probs: torch.Tensor, radius: int) -> torch.Tensor:
    """A tile's network probabilities (3 + (2r+1)^3 - 1 + L, Z, Y, X) -> numinst, consensus
    affinities for :func:`.config.consensus_offsets` (r) and the L long-range affinities as
    predicted: (3 + K + L, Z, Y, X), K = 13 x the distinct scales. Values near the tile faces
    lack patches from outside the tile (the blending discards a margin of r voxels at
    interior faces). Where two overlapping tiles disagree on a pair having votes (float
    noise at ``MIN_SUPPORT``), the blend of ``NO_VOTE`` and a value is mostly still
    negative: no edge, as one tile said."""
    shape = probs.shape[1:]
    numinst = probs[:NUMINST_CLASSES]
    end = NUMINST_CLASSES + len(patch_offsets(radius))
    patches = probs[NUMINST_CLASSES:end].reshape(end - NUMINST_CLASSES, -1)
    offsets = consensus_offsets(radius)
    voxels = torch.nonzero(numinst[0].reshape(-1) < CANDIDATE).squeeze(1)

    def patch(centres: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
        return patches[channels[:, None], centres[None, :]]

    values = consensus(
        patch, numinst[1].reshape(-1), numinst[2].reshape(-1), voxels, shape, radius, offsets
    )
    long_range = probs[end:]
    k = NUMINST_CLASSES + len(offsets)
    out = torch.zeros((k + len(long_range), *shape), device=probs.device)
    out[:NUMINST_CLASSES] = numinst
    out[NUMINST_CLASSES:k].reshape(len(offsets), -1)[:, voxels] = values
    out[k:] = long_range
    return out


def consensus_head(offsets: Sequence[Sequence[int]]) -> Head:
    """The prediction head of a B3 model with output ``offsets`` (see
    :func:`.config.patch_layout`): consensus, then its long-range affinities."""
    radius, long_range = patch_layout(offsets)
    return Head(
        consensus_offsets(radius) + long_range,
        lambda probs: tile_consensus(probs, radius),
        radius,
    )

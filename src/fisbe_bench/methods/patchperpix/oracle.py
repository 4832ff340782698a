"""B3's ideal outputs from the ground truth, through its consensus and decoding.

A perfect network predicts numinst one-hot and every patch value and long-range affinity
as its training target, P_c(d) = 1 iff c and c + d share a neuron. The consensus
(:mod:`.consensus`, the same code the prediction runs per tile) reads those values straight
from the packed label bits at the voxels it needs, so a full FISBe volume never holds the
(2r+1)^3 patch channels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fisbe_bench.methods.patchperpix.config import (
    Offset,
    Params,
    consensus_offsets,
    load_preset,
    patch_layout,
    patch_offsets,
)
from fisbe_bench.methods.patchperpix.consensus import consensus
from fisbe_bench.methods.unet_affinity.config import neighbourhood_offsets
from fisbe_bench.methods.unet_affinity.instances import segment_graph
from fisbe_bench.methods.unet_affinity.oracle import ideal_values, read_membership

# the outputs of config/patchperpix/paper.yaml (a test keeps them equal): 7^3 patches, 9
DEFAULT_LAYOUT = (3, neighbourhood_offsets((9,)))


def ideal_instances(
    gt_path: str | Path,
    preset: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """B3's decoding of the ideal outputs for the GT sample at ``gt_path``: the patch
    radius and long-range offsets of the training ``preset`` (default: the paper preset)
    and the decoding parameters in ``params`` (decoding fields, or a method's config entry;
    default: built-in)."""
    radius, long_range = (
        patch_layout(load_preset(preset).model.offsets) if preset else DEFAULT_LAYOUT
    )
    return decode_ideal(gt_path, radius, long_range, Params.from_config(params or {}))


def ideal_consensus(bits: np.ndarray, flat: np.ndarray, radius: int) -> np.ndarray:
    """(K, n) consensus of ideal patches at the voxels ``flat`` (raster indices into the
    label bits ``bits``, see :func:`~fisbe_bench.methods.unet_affinity.oracle.membership_bits`).

    The bits are padded by 2r of background, so every centre and partner a voxel's pairs
    reach lies inside the array; pairs leaving the volume get 0."""
    pad = 2 * radius
    padded = np.pad(bits, pad)
    shape = padded.shape
    signed = torch.from_numpy(padded.reshape(-1).view(padded.dtype.str.replace("u", "i")))
    counts = torch.from_numpy(np.bitwise_count(padded.reshape(-1)))
    steps = torch.tensor(
        [z * shape[1] * shape[2] + y * shape[2] + x for z, y, x in patch_offsets(radius)]
    )

    def patch(centres: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
        partners = centres[None, :] + steps[channels][:, None]
        return ((signed[centres][None, :] & signed[partners]) != 0).float()

    coords = np.stack(np.unravel_index(flat, bits.shape), axis=1)
    voxels = np.ravel_multi_index(tuple((coords + pad).T), shape)
    offsets = consensus_offsets(radius)
    values = consensus(
        patch, counts == 1, counts >= 2, torch.from_numpy(voxels), shape, radius, offsets
    ).numpy()
    for k, offset in enumerate(offsets):  # as in the volume itself: pairs leaving it get 0
        moved = coords + np.asarray(offset)
        values[k, ~np.all((moved >= 0) & (moved < np.array(bits.shape)), axis=1)] = 0
    return values


def decode_ideal(
    gt_path: str | Path, radius: int, long_range: Sequence[Offset], params: Params
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Decode the ideal patches (radius ``radius``) and ``long_range`` affinities of the GT
    sample at ``gt_path``."""
    bits, flat, counts = read_membership(gt_path)
    values = np.concatenate(
        [ideal_consensus(bits, flat, radius), ideal_values(bits, flat, long_range)]
    )
    offsets = [*consensus_offsets(radius), *long_range]
    return segment_graph(bits.shape, flat, counts >= 2, values, offsets, params)

"""B1's ideal network outputs, rendered from the ground truth: the ceiling of its decoding.

A perfect network predicts numinst one-hot (so foreground = labelled voxels and overlap
voxels = those of two or more neurons, whatever the thresholds in (0, 1)) and every
affinity exactly as its training target
(:func:`~fisbe_bench.methods.unet_affinity.targets.affinity_target`): 1 iff x and x + d
share a neuron. Only the values the decoding reads are computed (at foreground voxels),
so a full FISBe volume costs one packed label volume, not K dense channels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from fisbe_bench.contract import GT_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.config import DEFAULT_OFFSETS, Params, load_config
from fisbe_bench.methods.unet_affinity.instances import segment_graph


def membership_bits(gt: zarr.Array | np.ndarray) -> np.ndarray:
    """(N, Z, Y, X) GT -> (Z, Y, X) unsigned bit sets, bit i = neuron i (N <= 64)."""
    n = gt.shape[0]
    if n > 64:
        raise FisbeError(f"the oracle handles up to 64 neurons per image, got {n}")
    dtype = np.dtype(f"uint{max(8, 1 << int(np.ceil(np.log2(max(n, 1)))))}")
    bits = np.zeros(gt.shape[1:], dtype=dtype)
    for channel in range(n):
        bits |= (np.asarray(gt[channel]) > 0).astype(dtype) << dtype.type(channel)
    return bits


def read_membership(gt_path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The GT sample's label bits (:func:`membership_bits`), its labelled voxels (raster
    indices) and their neuron counts."""
    try:
        gt = zarr.open_array(str(Path(gt_path) / GT_KEY), mode="r")
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(f"no ground truth {GT_KEY}", gt_path) from err
    if gt.ndim != 4:
        raise FisbeError(f"ground truth must be (N, Z, Y, X), got shape {gt.shape}", gt_path)
    bits = membership_bits(gt)
    flat = np.flatnonzero(bits)
    return bits, flat, np.bitwise_count(bits.reshape(-1)[flat])


def ideal_values(
    bits: np.ndarray, flat: np.ndarray, offsets: Sequence[Sequence[int]]
) -> np.ndarray:
    """(K, n) ideal affinities at the voxels ``flat`` (raster indices into ``bits``);
    pairs leaving the volume get 0 (the decoding never reads them)."""
    shape = np.array(bits.shape)
    coords = np.stack(np.unravel_index(flat, bits.shape), axis=1)
    plain = bits.reshape(-1)
    values = np.zeros((len(offsets), len(flat)), dtype=np.float32)
    for k, offset in enumerate(offsets):
        moved = coords + np.asarray(offset)
        inside = np.all((moved >= 0) & (moved < shape), axis=1)
        partner = np.ravel_multi_index(tuple(moved[inside].T), bits.shape)
        values[k, inside] = (plain[flat[inside]] & plain[partner]) != 0
    return values


def ideal_instances(
    gt_path: str | Path,
    preset: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """B1's decoding of the ideal outputs for the GT sample at ``gt_path``: the offsets of
    the training ``preset`` (default: built-in) and the decoding parameters in ``params``
    (decoding fields, or a method's config entry; default: built-in)."""
    offsets = load_config(preset).model.offsets if preset else DEFAULT_OFFSETS
    return decode_ideal(gt_path, offsets, Params.from_config(params or {}))


def decode_ideal(
    gt_path: str | Path, offsets: Sequence[Sequence[int]], params: Params
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Decode the ideal outputs (``offsets``) of the GT sample at ``gt_path``."""
    bits, flat, counts = read_membership(gt_path)
    offset_list = [tuple(int(o) for o in offset) for offset in offsets]
    values = ideal_values(bits, flat, offset_list)
    return segment_graph(bits.shape, flat, counts >= 2, values, offset_list, params)  # type: ignore[arg-type]

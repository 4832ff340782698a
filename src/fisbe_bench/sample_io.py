"""Writing and reading sample zarr groups in the FISBe layout (zarr v2, blosc-zstd chunks).

The keys, layout and normalisation are the data contract of :mod:`fisbe_bench.contract`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import zarr
from scipy import ndimage

from fisbe_bench.contract import PRED_KEY, RAW_KEY, normalise_raw

COMPRESSOR = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)


def write_array(
    group_path: str | Path,
    key: str,
    data: np.ndarray,
    chunks: tuple[int, ...],
    attrs: Mapping[str, Any] | None = None,
) -> zarr.Array:
    """Write ``data`` as a zarr v2 array ``key`` inside the group at ``group_path``."""
    group = zarr.open_group(str(group_path), mode="a", zarr_format=2)
    array = group.create_array(
        key,
        shape=data.shape,
        chunks=tuple(min(c, s) for c, s in zip(chunks, data.shape, strict=True)),
        dtype=data.dtype,
        compressors=COMPRESSOR,
        fill_value=0,
        overwrite=True,
    )
    array[...] = data
    if attrs:
        array.attrs.update(dict(attrs))
    return array


def read_raw(path: str | Path, key: str = RAW_KEY) -> np.ndarray:
    """Read a raw (C, Z, Y, X) volume as float32 normalised by clip(0, 1500) / 1500."""
    return normalise_raw(zarr.open_array(str(Path(path) / key), mode="r")[...])


def instance_dtype(n_instances: int) -> np.dtype:
    """Smallest unsigned dtype that can hold the id ``n_instances``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_instances <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def write_instances(
    path: str | Path,
    labels: np.ndarray,
    key: str = PRED_KEY,
    extra_voxels: Mapping[int, np.ndarray] | None = None,
    chunks: tuple[int, int, int] = (64, 128, 128),
    attrs: Mapping[str, Any] | None = None,
) -> int:
    """Write a label image (plus optional overlap voxels) as an (N, Z, Y, X) channel stack.

    ``labels`` holds ids 1..N (0 is background, ids must be sequential); ``extra_voxels``
    maps an id to a (k, 3) array of further voxel coordinates that also belong to it
    (overlaps). Channel i holds i+1, the FISBe GT layout. Each instance is written from
    its bounding box only, so memory stays at one label image. Returns N.
    """
    extra_voxels = extra_voxels or {}
    n = int(labels.max(initial=0))
    boxes = ndimage.find_objects(labels) if n else []
    group = zarr.open_group(str(path), mode="a", zarr_format=2)
    array = group.create_array(
        key,
        shape=(n, *labels.shape),
        chunks=(1, *(min(c, s) for c, s in zip(chunks, labels.shape, strict=True))),
        dtype=instance_dtype(n),
        compressors=COMPRESSOR,
        fill_value=0,
        overwrite=True,
    )
    for index in range(n):
        ident = index + 1
        coords = np.asarray(extra_voxels.get(ident, np.empty((0, 3), np.int64)))
        box = boxes[index]
        if box is None and not len(coords):
            continue
        lo = [s.start for s in box] if box is not None else list(coords.min(axis=0))
        hi = [s.stop for s in box] if box is not None else list(coords.max(axis=0) + 1)
        if len(coords):
            lo = np.minimum(lo, coords.min(axis=0)).tolist()
            hi = np.maximum(hi, coords.max(axis=0) + 1).tolist()
        window: tuple[slice, ...] = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        crop = labels[window] == ident
        if len(coords):
            local = coords - np.asarray(lo)
            crop[tuple(local.T)] = True
        array[(index, *window)] = crop.astype(array.dtype) * ident  # type: ignore[index]
    if attrs:
        array.attrs.update(dict(attrs))
    return n


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

"""B1 prediction (network outputs): tiled U-Net inference, written chunk by chunk.

Tiles start on the pooling grid and overlap; each tile's output is weighted by a window
that is zero in a ``margin`` next to interior tile faces (where zero padding distorts
the prediction) and ramps linearly across the rest of the overlap, then normalised. Only
one z-row of tiles is accumulated in memory: (C, tile_z, Y, X) float32. Output:
``volumes/numinst`` (3, Z, Y, X) and ``volumes/affinities`` (K, Z, Y, X), both float16
probabilities, with the offsets as an attribute of the affinities.

Flip test-time augmentation (``tta``) averages each tile's outputs over its 8 mirrorings
(see :func:`flip_average`): 8x the compute, the memory of one tile's outputs 3x.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr

from fisbe_bench import contract, sample_io
from fisbe_bench.atomic import atomic_directory
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.config import (
    AFFINITY_KEY,
    METHOD,
    NUMINST_KEY,
    TrainConfig,
    config_from_dict,
)
from fisbe_bench.methods.unet_affinity.data import read_padded
from fisbe_bench.methods.unet_affinity.model import NUMINST_CLASSES, AffinityUNet, probabilities
from fisbe_bench.volumes import CheckedArray

OUT_CHUNKS = (32, 128, 128)

Reader = Callable[[Sequence[int], Sequence[int]], np.ndarray]
Writer = Callable[[int, int, np.ndarray], None]


def resolve_device(name: str = "auto", expect_gpu: bool = False) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; a CUDA request without CUDA is an error.

    ``expect_gpu`` (a workflow rule holding a GPU): falling back to CPU prints one warning
    line to stderr (the rule's log).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
        if name == "cpu" and expect_gpu:
            print(f"warning: CUDA is not available, {METHOD} falls back to CPU", file=sys.stderr)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FisbeError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when enabled; a no-op elsewhere (CPU runs in float32)."""
    if device.type == "cuda" and bf16:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[AffinityUNet, TrainConfig]:
    """Load a ``best.pt`` / ``last.pt`` checkpoint into an eval-mode model on ``device``."""
    try:
        state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
        config = config_from_dict(state["config"], Path(checkpoint))
        model = AffinityUNet(config.model)
        model.load_state_dict(state["model"])
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise FisbeError(f"cannot read checkpoint: {err}", checkpoint) from err
    except pickle.UnpicklingError as err:  # torch's message is many lines of advice
        problem = "torch.load refused it (not a torch.save file of tensors)"
        raise FisbeError(f"not a fisbe-bench checkpoint: {problem}", checkpoint) from err
    except (OSError, RuntimeError, EOFError, zipfile.BadZipFile, KeyError, TypeError) as err:
        first_line = str(err).strip().split("\n")[0]
        problem = f"{type(err).__name__}: {first_line}"
        raise FisbeError(f"not a fisbe-bench checkpoint: {problem}", checkpoint) from err
    model.to(device).eval()
    if config.channels_last:
        model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    return model, config


def tile_grid(size: int, tile: int, overlap: int, divisor: int) -> tuple[int, int, list[int]]:
    """(padded size, tile size, tile starts) along one axis.

    The volume is zero-padded at the end to a multiple of ``divisor``; starts are
    multiples of ``divisor`` (pooling stays aligned with whole-volume inference).
    """
    padded = -(-size // divisor) * divisor
    tile = min(tile, padded)
    step = max(divisor, tile - overlap)
    starts = list(range(0, padded - tile, step)) + [padded - tile]
    return padded, tile, starts


def blend_window(
    tile: int, low_interior: bool, high_interior: bool, overlap: int, margin: int
) -> np.ndarray:
    """1-D weights: zero for ``margin`` voxels at interior faces, then a linear ramp."""
    weights = np.ones(tile, dtype=np.float32)
    ramp_length = max(1, overlap - 2 * margin)
    ramp = np.clip((np.arange(tile, dtype=np.float32) - margin + 1) / (ramp_length + 1), 0, 1)
    if low_interior:
        weights *= ramp
    if high_interior:
        weights *= ramp[::-1]
    return weights


Offset = tuple[int, int, int]


@dataclass(frozen=True)
class Head:
    """What a tile's network probabilities become before blending and writing.

    B1 writes them as they are (``transform`` None, ``offsets`` the model's); B3
    (patchperpix) turns its patch channels into consensus affinities on the device.
    ``offsets``: the affinity channels written; ``margin``: voxels next to interior tile
    faces that ``transform`` cannot compute exactly (the blending discards at least these).
    """

    offsets: tuple[Offset, ...]
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    margin: int = 0


FLIPS: tuple[tuple[int, ...], ...] = tuple(
    tuple(axis for axis in range(3) if mask >> axis & 1) for mask in range(8)
)
"""The spatial axes mirrored by each of the 8 flips (z, y, x and combinations), () first."""


def mirror(offset: Sequence[int], axes: Sequence[int]) -> Offset:
    """``offset`` with its components along ``axes`` negated."""
    z, y, x = (-v if axis in axes else v for axis, v in enumerate(offset))
    return z, y, x


def flip_sources(offsets: Sequence[Sequence[int]], axes: Sequence[int]) -> list[tuple[int, bool]]:
    """Per offset e: the channel that predicts e on input mirrored along ``axes`` (once
    un-mirrored), and whether it predicts the reversed pair (then it is read at x + e).

    Un-mirrored, channel k (offset d) at voxel x is the affinity of (x, x + mirror(d)):
    offset e is channel mirror(e) itself, or channel -mirror(e) read at x + e (affinities
    are symmetric). An offset set without either raises :class:`FisbeError`.
    """
    index = {tuple(int(v) for v in offset): k for k, offset in enumerate(offsets)}
    sources = []
    for offset in offsets:
        image = mirror(offset, axes)
        reverse = mirror(image, range(3))
        if image in index:
            sources.append((index[image], False))
        elif reverse in index:
            sources.append((index[reverse], True))
        else:
            raise FisbeError(
                f"flip test-time augmentation needs offsets closed under mirroring: "
                f"{list(offset)} mirrored along axes {list(axes)} is {list(image)}, and "
                f"neither it nor {list(reverse)} is an offset of the model"
            )
    return sources


def shift_back(values: torch.Tensor, offset: Sequence[int], fallback: torch.Tensor) -> torch.Tensor:
    """``values`` read at x + offset, ``fallback`` where x + offset lies outside."""
    out = fallback.clone()
    target, source = [], []
    for d, size in zip(offset, values.shape, strict=True):
        target.append(slice(max(0, -d), max(0, size - max(0, d))))
        source.append(slice(max(0, d), max(0, size + min(0, d))))
    out[tuple(target)] = values[tuple(source)]
    return out


def flip_average(
    forward: Callable[[torch.Tensor], torch.Tensor],
    raw: torch.Tensor,
    offsets: Sequence[Sequence[int]],
) -> torch.Tensor:
    """Mean of ``forward`` (raw (3, Z, Y, X) -> probabilities (3 + K, Z, Y, X)) over the 8
    flips of ``raw``: each output is un-mirrored, numinst as is, affinities remapped to
    their offsets by :func:`flip_sources`; a remapped value whose partner voxel lies
    outside the tile takes the unaugmented prediction. Holds three outputs at a time."""
    plans = [(axes, flip_sources(offsets, axes)) for axes in FLIPS]  # refuse before computing
    base = forward(raw)
    total = base.clone()
    for axes, sources in plans[1:]:
        dims = [axis + 1 for axis in axes]
        out = forward(raw.flip(dims)).flip(dims)
        total[:NUMINST_CLASSES] += out[:NUMINST_CLASSES]
        for k, (source, reversed_pair) in enumerate(sources):
            values = out[NUMINST_CLASSES + source]
            if reversed_pair:
                values = shift_back(values, offsets[k], base[NUMINST_CLASSES + k])
            total[NUMINST_CLASSES + k] += values
        del out
    return total / len(FLIPS)


@torch.no_grad()
def forward_probabilities(
    model: AffinityUNet,
    raw: np.ndarray,
    device: torch.device,
    bf16: bool = True,
    tta: bool = False,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """(3, Z, Y, X) normalised raw -> (3 + K, Z, Y, X) float32 probabilities; ``tta``:
    averaged over the 8 flips (:func:`flip_average`); ``transform``: see :class:`Head`."""
    channels_last = model.down[0][0].weight.is_contiguous(memory_format=torch.channels_last_3d)  # type: ignore[index]

    def forward(volume: torch.Tensor) -> torch.Tensor:
        batch = volume[None]
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last_3d)
        with autocast(device, bf16):
            logits = model(batch)
        return probabilities(logits)[0]

    volume = torch.from_numpy(np.ascontiguousarray(raw)).to(device)
    probs = flip_average(forward, volume, model.config.offsets) if tta else forward(volume)
    if transform is not None:
        probs = transform(probs.float())
    return probs.cpu().numpy()


def predict_tiled(
    model: AffinityUNet,
    read: Reader,
    shape: Sequence[int],
    write: Writer,
    tile: Sequence[int],
    overlap: Sequence[int],
    margin: Sequence[int] | None = None,
    device: torch.device | None = None,
    bf16: bool = True,
    progress: bool = False,
    tta: bool = False,
    head: Head | None = None,
) -> int:
    """Run ``model`` over a volume of spatial ``shape`` in blended tiles; returns #tiles.

    ``read(start, size)`` returns normalised raw (3, *size), zero outside the volume;
    ``write(z0, z1, probs)`` receives finished z-slabs (C, z1 - z0, Y, X) float32 in order.
    ``tta``: each tile averaged over its 8 flips; ``head``: see :class:`Head` (default:
    the probabilities as they are). ``margin`` defaults to overlap / 4, at least the head's.
    """
    from tqdm import tqdm

    device = device or next(model.parameters()).device
    head = head or Head(model.config.offsets)
    divisor = model.config.divisor
    if margin is None:
        margin = [max(o // 4, head.margin) for o in overlap]
    margin = list(margin)
    if any(2 * m > o for m, o in zip(margin, overlap, strict=True)):
        raise FisbeError(f"margin {margin} must be at most half the overlap {overlap}")
    grids = [tile_grid(s, t, o, divisor) for s, t, o in zip(shape, tile, overlap, strict=True)]
    padded = [g[0] for g in grids]
    sizes = [g[1] for g in grids]
    windows = [
        [blend_window(size, start > 0, start + size < pad, o, m) for start in starts]
        for (pad, size, starts), o, m in zip(grids, overlap, margin, strict=True)
    ]
    channels = NUMINST_CLASSES + len(head.offsets)
    accumulator = np.zeros((channels, sizes[0], padded[1], padded[2]), dtype=np.float32)
    weight_sum = np.zeros((sizes[0], padded[1], padded[2]), dtype=np.float32)
    z_starts = grids[0][2]
    total = len(z_starts) * len(grids[1][2]) * len(grids[2][2])
    bar = tqdm(total=total, desc="tiles", unit="tile", disable=not progress)

    def flush(z_from: int, z_to: int) -> None:
        n = z_to - z_from
        stop = min(z_to, shape[0]) - z_from
        if stop > 0:
            out = accumulator[:, :stop, : shape[1], : shape[2]]
            write(z_from, z_from + stop, out / weight_sum[:stop, : shape[1], : shape[2]])
        accumulator[:, : sizes[0] - n] = accumulator[:, n:].copy()
        accumulator[:, sizes[0] - n :] = 0
        weight_sum[: sizes[0] - n] = weight_sum[n:].copy()
        weight_sum[sizes[0] - n :] = 0

    for row, z in enumerate(z_starts):
        if row:
            flush(z_starts[row - 1], z)
        for iy, y in enumerate(grids[1][2]):
            for ix, x in enumerate(grids[2][2]):
                probs = forward_probabilities(
                    model, read((z, y, x), sizes), device, bf16, tta, head.transform
                )
                weight = (
                    windows[0][row][:, None, None]
                    * windows[1][iy][None, :, None]
                    * windows[2][ix][None, None, :]
                )
                region = (slice(None), slice(y, y + sizes[1]), slice(x, x + sizes[2]))
                accumulator[(slice(None), *region)] += probs * weight
                weight_sum[region] += weight
                bar.update()
    flush(z_starts[-1], z_starts[-1] + sizes[0])
    bar.close()
    return total


def predict_array(
    model: AffinityUNet,
    raw: np.ndarray,
    tile: Sequence[int] | None = None,
    overlap: Sequence[int] = (0, 0, 0),
    margin: Sequence[int] | None = None,
    bf16: bool = True,
    tta: bool = False,
) -> np.ndarray:
    """In-memory prediction of a normalised (3, Z, Y, X) volume (whole volume if no tile)."""
    shape = raw.shape[1:]
    tile = tile or [-(-s // model.config.divisor) * model.config.divisor for s in shape]
    channels = NUMINST_CLASSES + len(model.config.offsets)
    out = np.zeros((channels, *shape), dtype=np.float32)

    def read(start: Sequence[int], size: Sequence[int]) -> np.ndarray:
        return read_padded(raw, start, size)

    def write(z0: int, z1: int, probs: np.ndarray) -> None:
        out[:, z0:z1] = probs

    predict_tiled(model, read, shape, write, tile, overlap, margin, bf16=bf16, tta=tta)
    return out


def predict_zarr(
    model: AffinityUNet,
    raw_path: str | Path,
    out_path: str | Path,
    tile: Sequence[int],
    overlap: Sequence[int],
    margin: Sequence[int] | None = None,
    bf16: bool = True,
    progress: bool = False,
    attrs: dict[str, Any] | None = None,
    tta: bool = False,
    head: Head | None = None,
) -> int:
    """Predict one sample zarr into ``out_path`` (atomically); returns the tile count.
    ``head``: see :class:`Head`; the written offsets are its offsets."""
    try:
        raw: zarr.Array | CheckedArray = zarr.open_array(
            str(Path(raw_path) / contract.RAW_KEY), mode="r"
        )
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(f"no array {contract.RAW_KEY!r}", raw_path) from err
    if raw.ndim != 4 or raw.shape[0] != 3:
        raise FisbeError(f"{contract.RAW_KEY} must be (3, Z, Y, X), got {raw.shape}", raw_path)
    raw = CheckedArray(raw, Path(raw_path) / contract.RAW_KEY)
    shape = raw.shape[1:]
    head = head or Head(model.config.offsets)
    offsets = [list(o) for o in head.offsets]

    def read(start: Sequence[int], size: Sequence[int]) -> np.ndarray:
        return contract.normalise_raw(read_padded(raw, start, size))

    with atomic_directory(out_path) as tmp:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
        arrays = []
        for key, channels in ((NUMINST_KEY, NUMINST_CLASSES), (AFFINITY_KEY, len(offsets))):
            arrays.append(
                group.create_array(
                    key,
                    shape=(channels, *shape),
                    chunks=(1, *(min(c, s) for c, s in zip(OUT_CHUNKS, shape, strict=True))),
                    dtype=np.float16,
                    compressors=sample_io.COMPRESSOR,
                    fill_value=0,
                )
            )
        arrays[1].attrs["offsets"] = offsets
        group.attrs.update({"method": METHOD, "offsets": offsets, **(attrs or {})})

        def write(z0: int, z1: int, probs: np.ndarray) -> None:
            arrays[0][:, z0:z1] = probs[:NUMINST_CLASSES].astype(np.float16)
            arrays[1][:, z0:z1] = probs[NUMINST_CLASSES:].astype(np.float16)

        return predict_tiled(
            model, read, shape, write, tile, overlap, margin, bf16=bf16, progress=progress,
            tta=tta, head=head,
        )  # fmt: skip


def predict(
    checkpoint: str | Path,
    raw_path: str | Path,
    out_path: str | Path,
    tile: Sequence[int] | None = None,
    overlap: Sequence[int] | None = None,
    margin: Sequence[int] | None = None,
    device: str = "auto",
    threads: int | None = None,
    progress: bool = False,
    expect_gpu: bool = False,
    tta: bool = False,
    head_of: Callable[[TrainConfig], Head] | None = None,
    method: str = METHOD,
) -> dict[str, object]:
    """Network outputs of one sample from a checkpoint (tile/overlap default to its config),
    written to ``out_path`` atomically; prints and returns a summary. ``tta``: averaged
    over the 8 flips of each tile (the model's offsets must be closed under mirroring).
    ``head_of``: the :class:`Head` of the checkpoint's config (another kind's outputs, e.g.
    B3's consensus); ``method``: the kind named in the output's attributes."""
    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device, expect_gpu)
    model, config = load_model(checkpoint, dev)
    tile = list(tile or config.tile)
    overlap = list(overlap or config.overlap)
    divisor = config.model.divisor
    if any(t % divisor or o % divisor for t, o in zip(tile, overlap, strict=True)):
        raise FisbeError(f"tile {tile} and overlap {overlap} must be multiples of {divisor}")
    if tta:
        for axes in FLIPS:
            flip_sources(config.model.offsets, axes)
    started = time.perf_counter()
    head = head_of(config) if head_of else None
    attrs = {"method": method, "checkpoint": str(checkpoint), "tta": tta}
    tiles = predict_zarr(
        model, raw_path, out_path, tile, overlap, margin, config.bf16,
        progress=progress, attrs=attrs, tta=tta, head=head,
    )  # fmt: skip
    seconds = round(time.perf_counter() - started, 2)
    summary = {
        "sample": Path(raw_path).name,
        "device": str(dev),
        "tiles": tiles,
        "tta": tta,
        "seconds": seconds,
    }
    print(json.dumps(summary))
    return summary

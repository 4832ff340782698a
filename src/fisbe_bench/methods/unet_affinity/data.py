"""Training crops read straight from zarr, PatchPerPix-style sampling, augmentation
(``augment``) and loss weights.

Each item is drawn by its own generator seeded with ``(seed, index)``, so a batch depends
only on the seed and the step: resuming, or using more loader workers, yields the same
data. Only crops are read; the per-sample index of foreground and overlap voxels is built
once from GT z-slabs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import zarr
from scipy import ndimage

from fisbe_bench import contract
from fisbe_bench.contract import GT_KEY, RAW_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.augment import (
    Augment,
    Crop,
    draw_warp,
    intensity,
    mirror_transpose,
    overlay,
    source_box,
    warp,
)
from fisbe_bench.methods.unet_affinity.targets import count_members, pack_membership

if TYPE_CHECKING:
    from fisbe_bench.volumes import CheckedArray

MAX_POINTS = 100_000  # coordinates kept per sample and kind (a random subset)
DARK_SMOOTHING = 3  # box filter of the brightest channel, against noise
DARK_REACH = 5  # window of the maximum filter: dark means no bright voxel within 2 voxels


@dataclass(frozen=True)
class SampleIndex:
    """A training sample: its path, shape and candidate crop centres."""

    path: Path
    shape: tuple[int, int, int]
    foreground: np.ndarray  # (n, 3) int32 voxel coordinates
    overlap: np.ndarray  # (m, 3) int32 voxel coordinates of two or more neurons
    partly: bool = False  # partly labelled: unlabelled neurons lie in the GT's background


def _subsample(points: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    stacked = np.concatenate(points) if points else np.empty((0, 3), np.int32)
    if len(stacked) > MAX_POINTS:
        stacked = stacked[np.sort(rng.choice(len(stacked), MAX_POINTS, replace=False))]
    return stacked.astype(np.int32)


def index_sample(
    path: str | Path, seed: int = 0, slab: int = 32, partly: bool = False
) -> SampleIndex:
    """Find foreground and overlap voxels of one sample, reading the GT in z-slabs."""
    path = Path(path)
    try:
        gt = zarr.open_array(str(path / GT_KEY), mode="r")
        raw = zarr.open_array(str(path / RAW_KEY), mode="r")
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(f"not a FISBe sample (needs {RAW_KEY} and {GT_KEY})", path) from err
    if gt.ndim != 4 or raw.ndim != 4 or gt.shape[1:] != raw.shape[1:]:
        raise FisbeError(f"GT {gt.shape} and raw {raw.shape} must be (N|C, Z, Y, X)", path)
    rng = np.random.default_rng(seed)
    foreground: list[np.ndarray]
    overlap: list[np.ndarray]
    foreground, overlap = [], []
    for z0 in range(0, gt.shape[1], slab):
        counts = (np.asarray(gt[:, z0 : z0 + slab]) > 0).sum(axis=0)
        for points, mask in ((foreground, counts > 0), (overlap, counts > 1)):
            coords = np.argwhere(mask)
            coords[:, 0] += z0
            points.append(coords)
    return SampleIndex(
        path,
        cast(tuple[int, int, int], tuple(gt.shape[1:])),
        _subsample(foreground, rng),
        _subsample(overlap, rng),
        partly,
    )


def dark_background(raw: np.ndarray, factor: float) -> np.ndarray:
    """Voxels of a normalised (C, Z, Y, X) ``raw`` with no signal nearby: the brightest
    channel, box-smoothed, stays below ``factor`` times its median (the background level;
    neurons fill a few percent of a volume) within :data:`DARK_REACH`."""
    smooth = ndimage.uniform_filter(raw.max(axis=0), DARK_SMOOTHING, mode="nearest")
    level = float(np.median(smooth))
    return cast(
        np.ndarray, ndimage.maximum_filter(smooth, DARK_REACH, mode="nearest") < factor * level
    )


def read_padded(
    array: zarr.Array | np.ndarray | CheckedArray, start: Sequence[int], size: Sequence[int]
) -> np.ndarray:
    """Read ``array[:, start:start+size]`` (spatial axes), zero outside the volume."""
    shape = array.shape[1:]
    lo = [max(0, s) for s in start]
    hi = [min(d, s + n) for s, n, d in zip(start, size, shape, strict=True)]
    out = np.zeros((array.shape[0], *size), dtype=array.dtype)
    if all(h > low for low, h in zip(lo, hi, strict=True)):
        dst = tuple(slice(a - s, b - s) for a, b, s in zip(lo, hi, start, strict=True))
        out[(slice(None), *dst)] = array[
            (slice(None), *(slice(a, b) for a, b in zip(lo, hi, strict=True)))
        ]
    return out


class CropDataset:
    """Map-style dataset: item ``i`` is one augmented crop and what its targets are built
    from on the training device (:func:`~fisbe_bench.methods.unet_affinity.targets.batch_targets`).

    Returns a dict of ``raw`` (3, Z, Y, X) float32 and, over the crop plus :attr:`margin`
    voxels on every side, ``bits`` (W, ...) int64 packed label sets, ``counts`` (...) uint8
    neurons per voxel, ``inside`` (...) bool (inside the volume) and ``weight`` (...) float32,
    the loss weight of each voxel (in partly labelled images ``partly_background_weight``
    outside every labelled neuron unless :func:`dark_background` at ``partly_dark_factor``,
    else 1): a few bytes per voxel, whatever the number of offsets.
    """

    def __init__(
        self,
        samples: Sequence[SampleIndex],
        crop: Sequence[int],
        offsets: Sequence[Sequence[int]],
        seed: int,
        p_foreground: float = 0.7,
        p_overlap: float = 0.25,
        augment: bool | Augment = True,
        partly_background_weight: float = 0.01,
        partly_dark_factor: float = 0.0,
    ) -> None:
        if not samples:
            raise FisbeError("no training samples")
        self.samples = list(samples)
        self.crop = tuple(int(c) for c in crop)
        self.offsets = [tuple(int(o) for o in offset) for offset in offsets]
        self.margin = max(abs(o) for offset in self.offsets for o in offset)
        self.seed = seed
        self.p_foreground = p_foreground
        self.p_overlap = p_overlap
        self.augment = augment if isinstance(augment, Augment) else Augment.parse(augment)
        self.partly_background_weight = partly_background_weight
        self.partly_dark_factor = partly_dark_factor
        self._arrays: dict[Path, tuple[zarr.Array, zarr.Array]] = {}

    def __len__(self) -> int:
        return 2**62

    def _open(self, path: Path) -> tuple[zarr.Array, zarr.Array]:
        if path not in self._arrays:
            self._arrays[path] = (
                zarr.open_array(str(path / RAW_KEY), mode="r"),
                zarr.open_array(str(path / GT_KEY), mode="r"),
            )
        return self._arrays[path]

    def _start(self, sample: SampleIndex, rng: np.random.Generator) -> list[int]:
        roll = rng.random()
        points = sample.foreground
        if roll >= self.p_foreground and len(sample.overlap):
            points = sample.overlap
        if roll >= self.p_foreground + self.p_overlap or not len(points):
            return [
                int(rng.integers(0, max(1, d - c + 1))) if d >= c else (d - c) // 2
                for d, c in zip(sample.shape, self.crop, strict=True)
            ]
        centre = points[rng.integers(len(points))]
        start = []
        for p, c, d in zip(centre, self.crop, sample.shape, strict=True):
            s = int(p) - c // 2 + int(rng.integers(-(c // 4), c // 4 + 1))
            start.append(min(max(s, 0), d - c) if d >= c else (d - c) // 2)
        return start

    def _read(self, rng: np.random.Generator) -> Crop:
        """A crop of a random sample, rotated and elastically deformed (if drawn) from a
        box of the volume large enough to fill it and its margin."""
        sample = self.samples[int(rng.integers(len(self.samples)))]
        raw_array, gt_array = self._open(sample.path)
        start = self._start(sample, rng)
        m = self.margin
        box_start = [s - m for s in start]
        box_size = [c + 2 * m for c in self.crop]
        coords = draw_warp(box_size, rng, self.augment.elastic, self.augment.rotate)
        # the darkness test of a partly crop looks into the margin: read the box once
        dark_test = sample.partly and self.partly_dark_factor > 0
        if coords is None and not dark_test:
            raw = contract.normalise_raw(read_padded(raw_array, start, self.crop))
        else:
            if coords is not None:
                low, box_size = source_box(coords)
                box_start = [s + lo for s, lo in zip(box_start, low, strict=True)]
                coords -= np.asarray(low, dtype=np.float32).reshape(3, 1, 1, 1)
            raw = contract.normalise_raw(read_padded(raw_array, box_start, box_size))
        bits = pack_membership(read_padded(gt_array, box_start, box_size))
        inside = np.zeros(box_size, dtype=bool)
        inside[
            tuple(
                slice(max(0, -s), max(0, min(n, d - s)))
                for s, n, d in zip(box_start, box_size, sample.shape, strict=True)
            )
        ] = True
        weight = np.ones(box_size, dtype=np.float32)
        if sample.partly:
            unlabelled = (bits == 0).all(axis=0)
            if dark_test:
                unlabelled &= ~dark_background(raw, self.partly_dark_factor)
            weight[unlabelled] = self.partly_background_weight
        if coords is None:
            if dark_test:  # the crop is the box's centre
                raw = raw[(slice(None), *(slice(m, m + c) for c in self.crop))]
            return Crop(raw, bits, inside, weight)
        return warp(raw, bits, inside, weight, coords, m)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        crop = self._read(rng)
        if rng.random() < self.augment.overlay:
            crop = overlay(crop, self._read(rng))
        crop = mirror_transpose(crop, rng, self.augment)
        return {
            "raw": intensity(crop.raw, rng, self.augment),
            "bits": np.ascontiguousarray(crop.bits).view(np.int64),
            "counts": count_members(crop.bits),
            "inside": np.ascontiguousarray(crop.inside),
            "weight": np.ascontiguousarray(crop.weight),
        }

"""Training crops read straight from zarr, PatchPerPix-style sampling and augmentation.

Each item is drawn by its own generator seeded with ``(seed, index)``, so a batch depends
only on the seed and the step: resuming, or using more loader workers, yields the same
data. Only crops are read; the per-sample index of foreground and overlap voxels is built
once from GT z-slabs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import zarr

from fisbe_bench import contract
from fisbe_bench.contract import GT_KEY, RAW_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.targets import (
    affinity_target,
    count_members,
    numinst_target,
    pack_membership,
)

if TYPE_CHECKING:
    from fisbe_bench.volumes import CheckedArray

MAX_POINTS = 100_000  # coordinates kept per sample and kind (a random subset)


@dataclass(frozen=True)
class SampleIndex:
    """A training sample: its path, shape and candidate crop centres."""

    path: Path
    shape: tuple[int, int, int]
    foreground: np.ndarray  # (n, 3) int32 voxel coordinates
    overlap: np.ndarray  # (m, 3) int32 voxel coordinates of two or more neurons


def _subsample(points: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    stacked = np.concatenate(points) if points else np.empty((0, 3), np.int32)
    if len(stacked) > MAX_POINTS:
        stacked = stacked[np.sort(rng.choice(len(stacked), MAX_POINTS, replace=False))]
    return stacked.astype(np.int32)


def index_sample(path: str | Path, seed: int = 0, slab: int = 32) -> SampleIndex:
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


def hue_rotation(angle: float) -> np.ndarray:
    """3x3 rotation about the grey axis (1, 1, 1): a hue shift that keeps brightness."""
    axis = np.ones(3) / math.sqrt(3.0)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return (
        math.cos(angle) * np.eye(3)
        + math.sin(angle) * cross
        + (1 - math.cos(angle)) * np.outer(axis, axis)
    ).astype(np.float32)


class CropDataset:
    """Map-style dataset: item ``i`` is one augmented crop with its targets.

    Returns a dict of ``raw`` (3, Z, Y, X) float32, ``numinst`` (Z, Y, X) uint8,
    ``affinities`` and ``classes`` (K, Z, Y, X) uint8 (see ``targets.affinity_target``).
    """

    def __init__(
        self,
        samples: Sequence[SampleIndex],
        crop: Sequence[int],
        offsets: Sequence[Sequence[int]],
        seed: int,
        p_foreground: float = 0.7,
        p_overlap: float = 0.25,
        augment: bool = True,
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
        self.augment = augment
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

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        sample = self.samples[int(rng.integers(len(self.samples)))]
        raw_array, gt_array = self._open(sample.path)
        start = self._start(sample, rng)
        m = self.margin
        raw = contract.normalise_raw(read_padded(raw_array, start, self.crop))
        padded_start = [s - m for s in start]
        padded_size = [c + 2 * m for c in self.crop]
        bits = pack_membership(read_padded(gt_array, padded_start, padded_size))
        inside = np.zeros(padded_size, dtype=bool)
        window = tuple(
            slice(max(0, -s), max(0, min(n, d - s)))
            for s, n, d in zip(padded_start, padded_size, sample.shape, strict=True)
        )
        inside[window] = True
        if self.augment:
            raw, bits, inside = self._augment(raw, bits, inside, rng)
        affinities, classes = affinity_target(bits, self.offsets, m, inside)
        centre = tuple(slice(m, m + c) for c in raw.shape[1:])
        numinst = numinst_target(count_members(bits[(slice(None), *centre)]))
        return {
            "raw": np.ascontiguousarray(raw),
            "numinst": numinst,
            "affinities": affinities,
            "classes": classes,
        }

    @staticmethod
    def _augment(
        raw: np.ndarray, bits: np.ndarray, inside: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mirror, Y/X transpose, RGB permutation, hue rotation, intensity scale/shift.

        Spatial transforms act on the crop and on the GT crop with its symmetric margin
        alike, so offsets keep their meaning (targets are computed afterwards).
        """
        for axis in range(3):
            if rng.random() < 0.5:
                raw, bits = np.flip(raw, axis + 1), np.flip(bits, axis + 1)
                inside = np.flip(inside, axis)
        if raw.shape[2] == raw.shape[3] and rng.random() < 0.5:
            raw, bits = raw.swapaxes(2, 3), bits.swapaxes(2, 3)
            inside = inside.swapaxes(1, 2)
        if rng.random() < 0.5:
            raw = raw[rng.permutation(3)]
        if rng.random() < 0.3:
            rotation = hue_rotation(float(rng.uniform(-math.pi / 4, math.pi / 4)))
            raw = np.einsum("ij,j...->i...", rotation, raw)
        if rng.random() < 0.5:
            scale = rng.uniform(0.8, 1.2, size=(3, 1, 1, 1)).astype(np.float32)
            shift = rng.uniform(-0.05, 0.05, size=(3, 1, 1, 1)).astype(np.float32)
            raw = raw * scale + shift
        return raw.astype(np.float32), np.ascontiguousarray(bits), np.ascontiguousarray(inside)

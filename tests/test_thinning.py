"""The sparse Lee thinning equals scikit-image's ``skeletonize`` voxel for voxel."""

from __future__ import annotations

from collections.abc import Callable

import h5py
import numpy as np
import pytest
import zarr
from conftest import DUAN_KEY, FISBE_REAL, R14, VT
from scipy import ndimage
from skimage.morphology import skeletonize

from fisbe_bench.metrics.localize import collect_instances, in_sorted, skeleton
from fisbe_bench.thinning import EULER
from fisbe_bench.volumes import as_volume

Shape = Callable[[np.random.Generator], np.ndarray]


def walk(
    rng: np.random.Generator, shape: tuple[int, int, int], steps: int, thick: int
) -> np.ndarray:
    """A random walk, each step a box of up to ``thick`` voxels per side; may hit the border."""
    mask = np.zeros(shape, bool)
    point = np.array(shape) // 2
    for _ in range(steps):
        point = np.clip(point + rng.integers(-1, 2, 3), 0, np.array(shape) - 1)
        lo = np.maximum(point - rng.integers(0, thick + 1, 3), 0)
        mask[lo[0] : point[0] + 1, lo[1] : point[1] + 1, lo[2] : point[2] + 1] = True
    return mask


def noise(rng: np.random.Generator) -> np.ndarray:
    """Independent voxels of random density: many small components, holes, cavities."""
    return rng.random(tuple(rng.integers(3, 12, 3))) < rng.uniform(0.1, 0.9)


def blobs(rng: np.random.Generator) -> np.ndarray:
    """Smoothed noise thresholded: round blobs with tunnels, filling the box to its faces."""
    field = ndimage.gaussian_filter(rng.random((14, 18, 22)), rng.uniform(1.0, 2.5))
    return field > np.quantile(field, rng.uniform(0.3, 0.8))


def tube(rng: np.random.Generator) -> np.ndarray:
    return walk(rng, (20, 30, 30), 150, 3)


def line(rng: np.random.Generator) -> np.ndarray:
    return walk(rng, (12, 16, 16), 80, 0)


def few_voxels(rng: np.random.Generator) -> np.ndarray:
    """One to four voxels anywhere, corners and faces included."""
    mask = np.zeros((3, 4, 5), bool)
    mask.flat[rng.choice(mask.size, rng.integers(1, 5), replace=False)] = True
    return mask


def flat(rng: np.random.Generator) -> np.ndarray:
    """A one-slice volume, where scikit-image sweeps only the four in-plane directions."""
    return walk(rng, (1, 20, 20), 60, 2) if rng.random() < 0.5 else noise(rng)[:1]


def plate(rng: np.random.Generator) -> np.ndarray:
    """Thin in y or x instead: all six directions still apply."""
    mask = rng.random((9, 10, 11)) < 0.7
    return mask[:, :1] if rng.random() < 0.5 else mask[:, :, :2]


SHAPES: dict[str, Shape] = {
    "noise": noise,
    "blobs": blobs,
    "tube": tube,
    "line": line,
    "few_voxels": few_voxels,
    "flat": flat,
    "plate": plate,
}


def assert_same_as_skimage(mask: np.ndarray) -> None:
    ours = skeleton(np.flatnonzero(mask), mask.shape)
    assert np.array_equal(ours, np.flatnonzero(skeletonize(mask)))


@pytest.mark.parametrize("kind", sorted(SHAPES))
@pytest.mark.parametrize("seed", range(4))
def test_random_shapes_equal_skimage(kind: str, seed: int) -> None:
    rng = np.random.default_rng([seed, sorted(SHAPES).index(kind)])
    for _ in range(25):
        assert_same_as_skimage(SHAPES[kind](rng))


@pytest.mark.parametrize(
    "mask",
    [
        np.zeros((4, 5, 6), bool),
        np.ones((1, 1, 1), bool),
        np.ones((4, 5, 6), bool),  # fills the whole volume
        np.ones((7, 2, 9), bool),
        np.pad(np.ones((5, 5, 5), bool), 1),
    ],
    ids=["empty", "one-voxel-volume", "full", "full-thin", "cube"],
)
def test_special_shapes_equal_skimage(mask: np.ndarray) -> None:
    assert_same_as_skimage(mask)


def test_euler_table_counts_points() -> None:
    """8 x chi shares: empty and full windows add nothing; a lone voxel's eight windows add 8."""
    assert EULER[0] == EULER[255] == 0
    assert [EULER[1 << i] for i in range(8)] == [1] * 8
    one = np.array([17])
    assert np.array_equal(skeleton(one, (3, 4, 5)), one)


def crop_skeleton(voxels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The former ``skeleton``: skimage on the bounding box grown by one zero voxel."""
    coords = np.unravel_index(voxels, shape)
    lo = [max(int(c.min()) - 1, 0) for c in coords]
    hi = [min(int(c.max()) + 2, s) for c, s in zip(coords, shape, strict=True)]
    crop = np.zeros([h - low for low, h in zip(lo, hi, strict=True)], dtype=bool)
    crop[tuple(c - low for c, low in zip(coords, lo, strict=True))] = True
    local = np.unravel_index(np.flatnonzero(skeletonize(crop)), crop.shape)
    return np.ravel_multi_index(tuple(c + low for c, low in zip(local, lo, strict=True)), shape)


@pytest.mark.slow
@pytest.mark.xdist_group("metrics_fixtures")
@pytest.mark.parametrize("name", [R14, VT])
def test_every_real_instance_equals_skimage(name: str) -> None:
    """All GT neurons and predictions of both real fixtures, and GT neurons without the
    voxels they share with another (what ``recall_without_shared`` skeletonizes)."""
    gt = collect_instances(
        as_volume(zarr.open_array(str(FISBE_REAL / "gt" / f"{name}.zarr" / "volumes/gt_instances")))
    )
    with h5py.File(FISBE_REAL / "pred" / f"{name}.hdf", "r") as handle:
        pred = collect_instances(as_volume(handle[DUAN_KEY]))
    unshared = [v[~in_sorted(v, gt.shared_voxels)] for v in gt.voxels] if gt.overlapping else []
    cases = [(v, gt.shape) for v in [*gt.voxels, *unshared]] + [
        (v, pred.shape) for v in pred.voxels
    ]
    assert len(cases) >= 15
    for voxels, shape in cases:
        assert np.array_equal(skeleton(voxels, shape), crop_skeleton(voxels, shape))

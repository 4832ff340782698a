"""Synthetic FISBe-like data: MCFO-style multicolour neurons in 3-D, in the FISBe layout.

Geometry (matched to measured FISBe ground truth with ``fisbe-bench dataset-stats``): 5-10
labelled neurons per image, each a tree of 3-D polylines, a smooth, gently wandering projection
fibre from a soma near the volume's surface to one or two shared "neuropil" hubs (spanning
about half the volume), where it ends in a bushy arbor of tortuous, branching twigs.
Centerlines are sampled every half voxel and thickened by splatting balls: about 40 % of the
neurons have 1-voxel twigs (oblique runs are 26- but not 6-connected), the others 3-voxel-wide
ones. Signal gaps make the raw faint and leave the GT unlabelled over a few voxels, so GT
neurons fall apart into several 26-connected pieces. Neurons that share a hub cross and
overlap voxel for voxel.

Appearance: each neuron has its own MCFO colour (some alike, a quarter dim, near the
background) that drifts smoothly along it; brightness is compensated for tube width, so
thin twigs stay visible and somata do not saturate. Channel crosstalk mixes the channels;
unlabelled trachea-like tubes, blobs and autofluorescent puncta are added; an anisotropic
PSF (wider in Z) blurs everything, plus wide out-of-focus haze; then textured background
autofluorescence, per-channel depth and lateral illumination, Poisson (shot, Gaussian
approximation) plus Gaussian (read) noise, 12-bit quantisation. Partly labelled samples
carry many extra neurons that only the raw shows.

Every sample is drawn from its own generator seeded by ``SeedSequence([seed, set, index])``,
so one sample regenerates bit-identically on its own, in any order and with any ``--jobs``.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import multiprocessing
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage, signal

from fisbe_bench import splits
from fisbe_bench.atomic import atomic_directory, write_text
from fisbe_bench.contract import DIM_NEURONS_ATTR, GT_KEY, RAW_KEY, SETS, SPLITS
from fisbe_bench.errors import FisbeError
from fisbe_bench.plan import SampleSpec, plan_dataset
from fisbe_bench.sample_io import write_array

__all__ = [
    "SampleSpec",
    "configure_parser",
    "generate_sample",
    "plan_dataset",
    "run",
    "sample_path",
    "split_file_text",
    "write_dataset",
    "write_sample",
    "write_split_file",
]

SPLIT_FILE = "sample_list_per_split.txt"
STALE_NAME = re.compile(r"synth_[cp]\d{3,}\.zarr")
SET_CODES = {name: code for code, name in enumerate(SETS)}
MIN_SHAPE = 16
MAX_VALUE = 4095
RAW_CHUNKS = (1, 64, 128, 128)
GT_CHUNKS = (1, 64, 128, 128)
STEP = 0.5  # centerline sample spacing (voxels): dense enough for gap-free tubes
BALL_RADII = np.array([0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0])  # 0: a single voxel
PSF_SIGMA = (1.6, 0.7, 0.7)  # Gaussian PSF in voxels (Z, Y, X): axial blur ~2x lateral
PEAK = 1000.0  # post-blur peak of a bright tube of any width (12-bit grey values)
THIN_SHARE = 0.4  # neurons with 1-voxel twigs
COLOUR_DRIFT = 0.3  # log-sd of each channel's smooth drift along a neuron
HAZE_BIN = 4  # out-of-focus haze is computed on 4^3 blocks
HAZE_SIGMA = 3.0  # its blur, in blocks
TEXTURE_SIGMA = 1.5  # grain of the background autofluorescence (voxels)
SLAB = 8  # Z planes per step of the noise stage
READ_NOISE = 12.0  # Gaussian read noise (12-bit grey values)
GAIN = 2.0  # grey values per photon: shot-noise variance = GAIN * signal


def _ball(radius: float) -> np.ndarray:
    """Integer offsets (k, 3) of a digital ball of the given radius."""
    r = int(np.floor(radius))
    grid = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1].reshape(3, -1).T
    return grid[(grid**2).sum(axis=1) <= radius**2 + 1e-6]


_BALLS = [_ball(r) for r in BALL_RADII]


# --------------------------------------------------------------------------- geometry


def _resample(points: np.ndarray, step: float = STEP) -> np.ndarray:
    """Resample a polyline at uniform arc-length spacing ``step``."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] < step:
        return points[:1]
    samples = np.arange(0.0, arc[-1], step)
    return np.stack([np.interp(samples, arc, points[:, k]) for k in range(3)], axis=1)


def _inside_prefix(points: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """The leading run of ``points`` that stays inside the volume (cut at the first exit)."""
    outside = ((points < 0) | (points > shape - 1)).any(axis=1)
    stop = int(np.argmax(outside)) if outside.any() else len(points)
    return points[:stop]


def _fibre(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, wiggle: float
) -> np.ndarray:
    """A smooth wandering path from ``start`` to ``end`` (a smoothed Brownian bridge)."""
    length = float(np.linalg.norm(end - start))
    n = max(int(length / STEP) + 1, 2)
    t = np.linspace(0.0, 1.0, n)[:, None]
    walk = np.cumsum(rng.standard_normal((n, 3)), axis=0)
    bridge = ndimage.gaussian_filter1d(walk - t * walk[-1], sigma=n / 12 + 1, axis=0)
    bridge -= bridge[0] + t * (bridge[-1] - bridge[0])
    bridge *= wiggle * length / max(float(np.abs(bridge).max()), 1e-6)
    return _resample(start + t * (end - start) + bridge)


def _walk(
    rng: np.random.Generator, start: np.ndarray, direction: np.ndarray, length: float, corr: float
) -> np.ndarray:
    """A persistent random walk (tortuous twig): AR(1) velocity, correlation length ``corr``."""
    n = max(int(length / STEP), 2)
    a = float(np.exp(-STEP / corr))
    kick = rng.standard_normal((n, 3)) * np.sqrt(1.0 - a * a) * 0.6
    velocity, _ = signal.lfilter([1.0], [1.0, -a], kick, axis=0, zi=a * direction[None, :])
    velocity /= np.maximum(np.linalg.norm(velocity, axis=1, keepdims=True), 1e-6)
    return np.concatenate([start[None], start + np.cumsum(velocity * STEP, axis=0)])


def _turn(rng: np.random.Generator, direction: np.ndarray, low: float, high: float) -> np.ndarray:
    """``direction`` turned by a random angle in [low, high] radians about a random axis."""
    perp = rng.standard_normal(3)
    perp -= perp.dot(direction) * direction
    perp /= max(float(np.linalg.norm(perp)), 1e-6)
    angle = rng.uniform(low, high)
    return np.cos(angle) * direction + np.sin(angle) * perp


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


def _gap_mask(rng: np.random.Generator, n: int, radius: float, rate: float) -> np.ndarray:
    """Centerline samples inside signal gaps: Poisson(``rate`` per voxel) runs, each longer
    than the tube is wide, so the labelled tube falls apart into 26-connected pieces."""
    n_gaps = int(rng.poisson(rate * n * STEP))
    starts = rng.integers(0, n, n_gaps)
    stops = starts + (rng.uniform(2 * radius + 3, 2 * radius + 10, n_gaps) / STEP).astype(int)
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, starts, 1)
    np.add.at(delta, np.minimum(stops, n), -1)
    return np.cumsum(delta[:-1]) > 0


class _Tree:
    """Centerline samples of one structure: positions, ball radii, brightness, labelled."""

    def __init__(self, shape: np.ndarray, gap_rate: float = 0.0, labelled: bool = True) -> None:
        self.shape = shape
        self.gap_rate = gap_rate
        self.in_gt = labelled
        self.points: list[np.ndarray] = []
        self.radii: list[np.ndarray] = []
        self.gains: list[np.ndarray] = []
        self.labelled: list[np.ndarray] = []

    def add(self, rng: np.random.Generator, points: np.ndarray, radius: float) -> np.ndarray:
        """Add a branch (cut at the volume border) with a beaded brightness profile and
        signal gaps (faint in the raw, unlabelled in the GT)."""
        points = _inside_prefix(points, self.shape)
        if len(points) == 0:
            return points
        n = len(points)
        sigma = 6 / STEP  # white noise smoothed by a Gaussian has sd (2 sqrt(pi) sigma)^-1/2
        noise = rng.standard_normal(max(n, int(8 * sigma)))  # long enough to smooth
        profile = ndimage.gaussian_filter1d(noise, sigma, mode="wrap")[:n]
        profile *= 0.3 * np.sqrt(2 * np.sqrt(np.pi) * sigma)
        beads = rng.random(n) < 0.03 * STEP  # varicosities: a bit thicker and brighter
        gaps = _gap_mask(rng, n, radius, self.gap_rate)
        self.points.append(points)
        self.radii.append(np.where(beads, radius + 0.5, radius))
        self.gains.append(np.exp(profile) * np.where(beads, 1.3, 1.0) * np.where(gaps, 0.1, 1.0))
        self.labelled.append(~gaps & self.in_gt)
        return points

    def arbor(
        self,
        rng: np.random.Generator,
        stem: np.ndarray,
        size: float,
        budget: float,
        radii: tuple[float, float],
    ) -> None:
        """A bushy arbor of tortuous branches sprouting from the end of ``stem``.

        Primary branches leave the last quarter of the stem; the arbor spans about
        ``size`` voxels and holds about ``budget`` voxels of centerline; ``radii`` are the
        ball radii of primary branches and of finer twigs (0: one voxel wide).
        """
        queue: collections.deque[tuple[np.ndarray, np.ndarray, int, float]] = collections.deque()
        for _ in range(int(rng.integers(2, 6))):
            at = int(rng.integers(len(stem) * 3 // 4, len(stem)))
            tangent = _unit(stem[min(at + 4, len(stem) - 1)] - stem[max(at - 4, 0)])
            direction = _turn(rng, tangent, 0.2, 1.4)
            queue.append((stem[at], direction, 0, size * rng.uniform(0.5, 1.0)))
        total = 0.0
        while queue and total < budget:  # breadth first: the budget trims the finest twigs
            start, direction, generation, length = queue.popleft()
            corr = max(24.0 / (generation + 1), 5.0)
            points = self.add(
                rng, _walk(rng, start, direction, length, corr), radii[generation > 0]
            )
            if len(points) < 4:
                continue
            total += len(points) * STEP
            if generation >= 4:
                continue
            n_children = rng.poisson(len(points) * STEP / 6.0) + (generation == 0)
            for at in rng.integers(1, len(points) - 1, size=n_children):
                tangent = _unit(points[at + 1] - points[at - 1])
                child = rng.uniform(0.35, 0.75) * length
                if child >= 3.0:
                    queue.append((points[at], _turn(rng, tangent, 0.4, 1.3), generation + 1, child))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.concatenate(self.points),
            np.concatenate(self.radii),
            np.concatenate(self.gains),
            np.concatenate(self.labelled),
        )


def _soma_site(rng: np.random.Generator, shape: np.ndarray) -> np.ndarray:
    """A point near one of the volume's four lateral faces (cell bodies sit in the cortex)."""
    point = rng.uniform(0.1, 0.9, 3) * (shape - 1)
    axis = int(rng.integers(1, 3))
    point[axis] = rng.uniform(0.02, 0.12) * (shape[axis] - 1)
    if rng.random() < 0.5:
        point[axis] = shape[axis] - 1 - point[axis]
    return point


def _arbor_sites(
    rng: np.random.Generator, shape: np.ndarray, hubs: np.ndarray, shared_first: bool
) -> list[np.ndarray]:
    """One or two arbor centres: shared neuropil hubs (where neurons meet) or private sites."""
    sites = []
    for k in range(int(rng.integers(1, 3))):
        if (k == 0 and shared_first) or rng.random() < 0.5:
            site = hubs[rng.integers(len(hubs))] if k or not shared_first else hubs[0]
        else:
            site = rng.uniform(0.15, 0.85, 3) * (shape - 1)
        jitter = rng.normal(0.0, 0.08 * float(np.exp(np.log(shape).mean())), 3)
        sites.append(np.clip(site + jitter, 0.05 * shape, 0.95 * (shape - 1)))
    return sites


def _neuron(rng: np.random.Generator, shape: np.ndarray, targets: list[np.ndarray]) -> _Tree:
    """One neuron: soma, projection fibre to the first target, arbors at the targets.

    About 40 % of neurons are thin (1-voxel twigs on a 3-voxel-wide trunk), the others
    have a thicker trunk and 3-voxel-wide twigs; each has its own rate of signal gaps.
    """
    scale = float(np.exp(np.log(shape).mean()))
    tree = _Tree(shape, gap_rate=float(np.exp(rng.uniform(np.log(1 / 2000), np.log(1 / 150)))))
    soma = _soma_site(rng, shape)
    thin = rng.random() < THIN_SHARE
    trunk_radius = float(rng.choice([1.0, 1.5] if thin else [1.5, 2.0, 2.5]))
    twigs = (1.0, 0.0) if thin else (1.5, 1.0)
    if rng.random() < 0.6:
        tree.add(rng, soma[None], float(rng.choice([3.0, 4.0])))
    trunk = tree.add(rng, _fibre(rng, soma, targets[0], rng.uniform(0.05, 0.2)), trunk_radius)
    stems = [trunk] if len(trunk) >= 8 else []
    for target in targets[1:]:
        if len(trunk) < 8:
            break
        fork = trunk[int(rng.integers(len(trunk) // 3, len(trunk) - 1))]
        branch = _fibre(rng, fork, target, rng.uniform(0.05, 0.2))
        collateral = tree.add(rng, branch, max(trunk_radius - 0.5, 1.0))
        if len(collateral) >= 8:
            stems.append(collateral)
    denser = max(1.0, np.sqrt(scale / 200.0))  # FISBe-size arbors are denser
    for stem in stems:
        tree.arbor(rng, stem, 0.3 * scale, rng.uniform(2.0, 5.0) * scale * denser, twigs)
    return tree


def _clutter(rng: np.random.Generator, shape: np.ndarray) -> _Tree:
    """Non-neuronal structures (never labelled): trachea-like wide tubes and blobs."""
    tree = _Tree(shape, labelled=False)
    volume = float(np.prod(shape))
    for _ in range(int(rng.poisson(volume / 4e7 + 0.5))):
        start, end = _soma_site(rng, shape), _soma_site(rng, shape)
        tree.add(rng, _fibre(rng, start, end, rng.uniform(0.05, 0.15)), rng.uniform(2.5, 4.0))
    for _ in range(int(rng.poisson(volume / 2e6 + 1))):
        tree.add(rng, rng.uniform(0, 1, (1, 3)) * (shape - 1), float(rng.choice([4.0, 5.0, 6.0])))
    return tree


def _splat(
    points: np.ndarray, radii: np.ndarray, shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Flat voxel indices covered by balls around ``points``, and the sample of each."""
    centers = np.rint(points).astype(np.int64)
    classes = np.abs(radii[:, None] - BALL_RADII[None, :]).argmin(axis=1)
    size = np.asarray(shape, dtype=np.int64)
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    indices, owners = [], []
    for k, ball in enumerate(_BALLS):
        chosen = np.flatnonzero(classes == k)
        if not len(chosen):
            continue
        _, first = np.unique(centers[chosen] @ strides, return_index=True)
        chosen = chosen[first]
        voxels = centers[chosen][:, None, :] + ball[None, :, :]
        valid = ((voxels >= 0) & (voxels < size)).all(axis=2)
        indices.append(voxels[valid] @ strides)
        owners.append(np.broadcast_to(chosen[:, None], valid.shape)[valid])
    return np.concatenate(indices), np.concatenate(owners)


def _rasterise(
    tree: _Tree, values: np.ndarray, shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw voxels of a tree: flat indices (unique) and (k, 3) values (brightest sample);
    and the GT voxels (flat indices of its labelled samples' balls)."""
    points, radii, _, labelled = tree.arrays()
    index, owner = _splat(points, radii, shape)
    order = np.lexsort((values[owner].sum(axis=1), index))
    index, owner = index[order], owner[order]
    last = np.append(index[1:] != index[:-1], True)
    gt: np.ndarray | list[int] = (
        np.unique(_splat(points[labelled], radii[labelled], shape)[0]) if labelled.any() else []
    )
    return index[last], values[owner[last]].astype(np.float32), np.asarray(gt, dtype=np.int64)


# --------------------------------------------------------------------------- appearance


def _colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """MCFO colours (n, 3): random tag mixes, some neurons sharing a near-identical colour."""
    colours = np.zeros((n, 3))
    originals: list[int] = []
    for i in range(n):
        copies = i - len(originals)
        if originals and copies < max(1, n // 3) and rng.random() < 0.3:
            twin = colours[originals[rng.integers(len(originals))]]
            colours[i] = np.clip(twin + rng.normal(0.0, 0.07, 3), 0.0, 1.0)
            continue
        originals.append(i)
        on = rng.random(3) < 0.45
        on[rng.integers(3)] = True
        colours[i] = np.where(on, rng.uniform(0.35, 1.0, 3), rng.uniform(0.0, 0.08, 3))
    return colours / colours.max(axis=1, keepdims=True)


def _drifting_colour(
    rng: np.random.Generator, points: np.ndarray, colour: np.ndarray
) -> np.ndarray:
    """Per-sample colour (n, 3): ``colour`` times a smooth random field per channel (random
    plane waves of 40-250 voxel wavelength, log-sd ``COLOUR_DRIFT``), max channel <= 1."""
    n_waves = 4
    k = rng.standard_normal((3, n_waves, 3))
    k *= (2 * np.pi / rng.uniform(40.0, 250.0, (3, n_waves)))[..., None] / np.linalg.norm(
        k, axis=2, keepdims=True
    )
    phase = rng.uniform(0.0, 2 * np.pi, (3, n_waves))
    field = np.cos(np.einsum("nd,cwd->ncw", points, k) + phase).sum(axis=2)
    drifted = (colour + 0.03) * np.exp(COLOUR_DRIFT * np.sqrt(2.0 / n_waves) * field)
    return drifted / np.maximum(drifted.max(axis=1, keepdims=True), 1.0)


def _tube_gains() -> np.ndarray:
    """Pre-blur gain per ball class that gives a straight tube of it a post-blur peak of 1
    (geometric mean over a tube along X and one along Z): thin tubes are not fainter than
    thick ones and somata do not saturate."""
    half = 12
    gains = []
    for ball in _BALLS:
        retention = []
        for axis in (0, 2):
            line = np.zeros((2 * half + 1,) * 3, dtype=np.float32)
            centre: list[int | slice] = [half, half, half]
            centre[axis] = slice(None)
            line[tuple(centre)] = 1.0
            footprint = np.zeros_like(line, dtype=bool)
            footprint[tuple((ball + half).T)] = True
            tube = ndimage.binary_dilation(line > 0, footprint[3:-3, 3:-3, 3:-3]).astype(np.float32)
            retention.append(
                ndimage.gaussian_filter(tube, PSF_SIGMA, truncate=2.5)[half, half, half]
            )
        gains.append(1.0 / np.sqrt(retention[0] * retention[1]))
    return np.asarray(gains)


_TUBE_GAINS = _tube_gains()


def _sample_values(
    rng: np.random.Generator, tree: _Tree, colour: np.ndarray, brightness: float
) -> np.ndarray:
    """Pre-blur (k, 3) intensities of a tree's centerline samples."""
    points, radii, gains, _ = tree.arrays()
    classes = np.abs(radii[:, None] - BALL_RADII[None, :]).argmin(axis=1)
    scale = PEAK * brightness * gains * _TUBE_GAINS[classes]
    return _drifting_colour(rng, points, colour) * scale[:, None]


def _smooth_field(rng: np.random.Generator, length: int, n_knots: int, spread: float) -> np.ndarray:
    """A smooth random 1-D profile around 1 (cubic through ``n_knots`` random knots)."""
    knots = 1.0 + rng.uniform(-spread, spread, n_knots)
    return ndimage.zoom(knots, length / n_knots, order=3, mode="nearest")[:length]


def _field_2d(rng: np.random.Generator, shape: tuple[int, int], spread: float) -> np.ndarray:
    """A smooth random 2-D field around 1 (bicubic zoom of a coarse random grid)."""
    grid = 1.0 + rng.uniform(-spread, spread, (4, 4))
    field = ndimage.zoom(grid, (shape[0] / 4, shape[1] / 4), order=3, mode="nearest")
    return np.clip(field[: shape[0], : shape[1]], 0.2, None)


def _neuron_count(rng: np.random.Generator, shape: Sequence[int]) -> int:
    """Number of labelled neurons: 3-5 in tiny test volumes, 5-10 from about 64x128x128."""
    scale = float(np.exp(np.log(shape).mean()))
    return int(rng.integers(3, 6) if scale < 100 else rng.integers(5, 11))


def _haze(
    index: np.ndarray, values: np.ndarray, shape: tuple[int, int, int], strength: float
) -> np.ndarray:
    """Out-of-focus haze (ceil(Z/b), Y, X): the signal binned in b^3 blocks, blurred widely,
    upsampled laterally (each plane serves b slices)."""
    coarse = tuple(-(-s // HAZE_BIN) for s in shape)
    zyx = np.unravel_index(index, shape)
    bins = np.ravel_multi_index(tuple(c // HAZE_BIN for c in zyx), coarse)
    binned = np.bincount(bins, weights=values, minlength=int(np.prod(coarse))).reshape(coarse)
    binned = ndimage.gaussian_filter(binned.astype(np.float32), HAZE_SIGMA, mode="constant")
    binned *= np.float32(strength / HAZE_BIN**3)
    lateral = ndimage.zoom(binned, (1, HAZE_BIN, HAZE_BIN), order=1, grid_mode=True, mode="nearest")
    return lateral[:, : shape[1], : shape[2]]


def _render(
    rng: np.random.Generator,
    masks: list[tuple[np.ndarray, np.ndarray]],
    shape: tuple[int, int, int],
) -> np.ndarray:
    """The 12-bit raw image (3, Z, Y, X) of structures ``masks`` (flat index, (k, 3) values).

    Channel crosstalk mixes the channels; structures plus autofluorescent puncta are
    blurred by the PSF, plus out-of-focus haze; then come textured background
    autofluorescence, per-channel illumination (depth attenuation times a smooth lateral
    field), shot noise (Gaussian approximation of Poisson) plus read noise.
    """
    size = np.asarray(shape)
    crosstalk = np.eye(3) + np.diag(rng.uniform(0.02, 0.12, 2), 1)
    crosstalk += np.diag(rng.uniform(0.02, 0.12, 2), -1)
    n_puncta = int(rng.poisson(2e-5 * size.prod()) + 1)
    puncta = (rng.random((n_puncta, 3)) * size).astype(np.int64) @ np.array(
        [shape[1] * shape[2], shape[2], 1]
    )
    puncta_level = rng.uniform(300.0, 2500.0, n_puncta)
    puncta_tint = 0.6 + 0.4 * rng.random((n_puncta, 3))
    texture = ndimage.gaussian_filter(
        rng.standard_normal(shape, dtype=np.float32), TEXTURE_SIGMA, truncate=2.0
    )
    texture *= np.float32(0.25 * (2.0 * np.sqrt(np.pi) * TEXTURE_SIGMA) ** 1.5)  # sd 0.25
    texture += np.float32(1.0)
    np.maximum(texture, 0.0, out=texture)
    all_index = np.concatenate([index for index, _ in masks])
    all_values = np.concatenate([values for _, values in masks]) @ crosstalk
    haze_strength = rng.uniform(0.5, 2.0)
    raw = np.empty((3, *shape), dtype=np.uint16)
    for channel in range(3):
        volume = np.zeros(shape, dtype=np.float32)
        flat = volume.reshape(-1)
        for index, values in masks:
            flat[index] += (values @ crosstalk[:, channel]).astype(np.float32)
        np.add.at(flat, puncta, (puncta_level * puncta_tint[:, channel]).astype(np.float32))
        volume = ndimage.gaussian_filter(volume, PSF_SIGMA, truncate=2.5)
        haze = _haze(all_index, all_values[:, channel], shape, haze_strength)
        background = (_field_2d(rng, shape[1:], 0.5) * rng.uniform(40.0, 110.0)).astype(np.float32)
        falloff = np.exp(-np.arange(shape[0]) / (shape[0] * rng.uniform(1.5, 4.0)))
        depth = (_smooth_field(rng, shape[0], 5, 0.15) * falloff).astype(np.float32)[:, None, None]
        lateral = _field_2d(rng, shape[1:], 0.35).astype(np.float32)
        for z in range(0, shape[0], SLAB):  # slab by slab: small temporaries, cache friendly
            slab = volume[z : z + SLAB]
            slab += haze[np.arange(z, z + len(slab)) // HAZE_BIN]
            slab += background * texture[z : z + SLAB]
            slab *= lateral
            slab *= depth[z : z + SLAB]
            noise_sd = np.maximum(slab, 0.0)
            noise_sd *= np.float32(GAIN)
            noise_sd += np.float32(READ_NOISE**2)
            np.sqrt(noise_sd, out=noise_sd)
            noise_sd *= rng.standard_normal(slab.shape, dtype=np.float32)
            slab += noise_sd
            np.rint(slab, out=slab)
            np.clip(slab, 0, MAX_VALUE, out=slab)
            raw[channel, z : z + SLAB] = slab
    return raw


def generate_sample(
    spec: SampleSpec, shape: Sequence[int], seed: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Generate one sample: raw (3, Z, Y, X) uint16, GT (N, Z, Y, X) uint8, dim neuron ids.

    Depends only on ``(seed, spec.set, spec.index, shape)``; GT channel i holds i+1 and
    ``dim_neurons`` lists the 1-based ids of the faint labelled neurons.
    """
    zyx = tuple(int(s) for s in shape)
    if len(zyx) != 3 or min(zyx) < MIN_SHAPE:
        raise FisbeError(f"shape must be 3 sizes >= {MIN_SHAPE}, got {tuple(shape)}")
    if seed < 0:
        raise FisbeError(f"seed must be >= 0, got {seed}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, SET_CODES[spec.set], spec.index]))
    size = np.asarray(zyx, dtype=float)

    n_labelled = _neuron_count(rng, zyx)
    n_hidden = 0
    if spec.set == "partly":
        n_hidden = int(rng.integers(1, 4) if min(zyx) < 48 else rng.integers(4, 11))
    n_total = n_labelled + n_hidden
    hubs = rng.uniform(0.25, 0.75, (1 + n_total // 4, 3)) * (size - 1)
    trees = [_neuron(rng, size, _arbor_sites(rng, size, hubs, k < 2)) for k in range(n_total)]

    colours = _colours(rng, n_total)
    dim = rng.random(n_total) < 0.25
    brightness = np.where(dim, rng.uniform(0.08, 0.22, n_total), rng.uniform(0.5, 1.3, n_total))
    dim_neurons = [i + 1 for i in range(n_labelled) if dim[i]]
    clutter = _clutter(rng, size)
    grey = np.clip(rng.uniform(0.7, 1.0) + rng.normal(0.0, 0.1, 3), 0.0, 1.0)
    trees.append(clutter)
    colours = np.vstack([colours, grey])
    brightness = np.append(brightness, rng.uniform(0.15, 0.4))

    masks, gt_masks = [], []
    for tree, colour, level in zip(trees, colours, brightness, strict=True):
        if not tree.points:
            gt_masks.append(np.zeros(0, dtype=np.int64))
            continue
        index, values, labelled = _rasterise(tree, _sample_values(rng, tree, colour, level), zyx)
        masks.append((index, values))
        gt_masks.append(labelled)

    gt = np.zeros((n_labelled, *zyx), dtype=np.uint8)
    for i in range(n_labelled):
        gt[i].reshape(-1)[gt_masks[i]] = i + 1

    raw = _render(rng, masks, zyx)
    return raw, gt, dim_neurons


# --------------------------------------------------------------------------- writing


def sample_path(out: str | Path, spec: SampleSpec) -> Path:
    """Where a sample lives: ``out/<set>/<split>/<name>.zarr`` (FISBe archive layout)."""
    return Path(out) / spec.set / spec.split / f"{spec.name}.zarr"


def write_sample(out: str | Path, spec: SampleSpec, shape: Sequence[int], seed: int) -> Path:
    """Generate one sample and write it atomically into the dataset folder ``out``."""
    raw, gt, dim_neurons = generate_sample(spec, shape, seed)
    path = sample_path(out, spec)
    with atomic_directory(path) as tmp:
        write_array(tmp, RAW_KEY, raw, RAW_CHUNKS)
        write_array(tmp, GT_KEY, gt, GT_CHUNKS, attrs={DIM_NEURONS_ATTR: dim_neurons})
    return path


def split_file_text(plan: Iterable[SampleSpec]) -> str:
    """The official split-file text for a plan (sections, headers, blank lines as FISBe)."""
    return splits.split_file_text(splits.SplitEntry(s.name, s.set, s.split) for s in plan)


def write_split_file(out: str | Path, n_completely: int, n_partly: int) -> Path:
    """Write ``out/sample_list_per_split.txt`` atomically; return its path."""
    return write_text(Path(out) / SPLIT_FILE, split_file_text(plan_dataset(n_completely, n_partly)))


def _check(n_completely: int, n_partly: int, shape: Sequence[int], seed: int, jobs: int) -> None:
    if n_completely < 0 or n_partly < 0:
        raise FisbeError(f"sample counts must be >= 0, got {n_completely} and {n_partly}")
    if n_completely + n_partly == 0:
        raise FisbeError("nothing to generate: both sample counts are 0")
    if len(shape) != 3 or min(shape) < MIN_SHAPE:
        raise FisbeError(f"shape must be 3 sizes (Z Y X) >= {MIN_SHAPE}, got {tuple(shape)}")
    if seed < 0:
        raise FisbeError(f"seed must be >= 0, got {seed}")
    if jobs < 1:
        raise FisbeError(f"jobs must be >= 1, got {jobs}")


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork where possible: spawned workers would re-run the caller's main script (e.g. a
    Snakemake script, which has no ``__main__`` guard); zarr resets its loop after fork."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _worker_init() -> None:
    """Keep blosc off its global thread pool, which a forked child must not reuse."""
    import numcodecs.blosc

    numcodecs.blosc.use_threads = False


def write_dataset(
    out: str | Path,
    n_completely: int,
    n_partly: int,
    shape: Sequence[int],
    seed: int,
    only: str | None = None,
    jobs: int = 1,
) -> list[Path]:
    """Write a synthetic dataset (or only the sample named ``only``) into ``out``.

    Samples are written one by one, each atomically; a full run then deletes generated
    samples (``synth_c###``/``synth_p###``) that an earlier run left where the plan has
    none, and writes the split file last, so a dataset without it is known to be
    incomplete. Returns the paths of the samples written.
    """
    _check(n_completely, n_partly, shape, seed, jobs)
    from tqdm import tqdm

    plan = plan_dataset(n_completely, n_partly)
    if only is not None:
        if only not in {s.name for s in plan}:
            ranges = [
                f"{names[0]}..{names[-1]}"
                for set_name in SETS
                if (names := [s.name for s in plan if s.set == set_name])
            ]
            raise FisbeError(f"unknown sample {only!r} (this plan has {', '.join(ranges)})", out)
        plan = [s for s in plan if s.name == only]
    bar = tqdm(total=len(plan), desc="synth", unit="sample", disable=None)
    paths: list[Path] = []
    if jobs == 1 or len(plan) == 1:
        for spec in plan:
            paths.append(write_sample(out, spec, shape, seed))
            bar.update()
    else:
        with concurrent.futures.ProcessPoolExecutor(
            min(jobs, len(plan)), _pool_context(), initializer=_worker_init
        ) as pool:
            futures = [pool.submit(write_sample, out, s, tuple(shape), seed) for s in plan]
            for future in concurrent.futures.as_completed(futures):
                future.result()
                bar.update()
            paths = [f.result() for f in futures]
    bar.close()
    if only is None:
        _remove_stale(out, plan)
        write_split_file(out, n_completely, n_partly)
    return paths


def _remove_stale(out: str | Path, plan: list[SampleSpec]) -> None:
    """Delete generated samples of an earlier run that the current plan does not place there."""
    expected = {sample_path(out, spec) for spec in plan}
    for set_name in SETS:
        for split in SPLITS:
            for path in (Path(out) / set_name / split).glob("synth_[cp][0-9]*.zarr"):
                if path not in expected and STALE_NAME.fullmatch(path.name):
                    shutil.rmtree(path)


# --------------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``fisbe-bench synth``."""
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    parser.add_argument("--n-completely", type=int, default=3, help="completely labelled samples")
    parser.add_argument("--n-partly", type=int, default=3, help="partly labelled samples")
    parser.add_argument(
        "--shape", type=int, nargs=3, default=[128, 256, 256], metavar=("Z", "Y", "X")
    )
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (>= 0)")
    parser.add_argument("--sample", default=None, metavar="NAME", help="write only this sample")
    parser.add_argument("--jobs", type=int, default=1, help="samples generated in parallel")


def run(args: argparse.Namespace) -> int:
    """Run ``fisbe-bench synth``."""
    paths = write_dataset(
        args.out,
        args.n_completely,
        args.n_partly,
        tuple(args.shape),
        args.seed,
        only=args.sample,
        jobs=args.jobs,
    )
    print(f"wrote {len(paths)} sample(s) to {args.out}")
    return 0

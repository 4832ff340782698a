"""Training augmentation of B1 crops (numpy, scipy and torch on the CPU).

A crop is the normalised raw (C, Z, Y, X), the GT as packed neuron bit sets, the mask of
voxels inside the volume and the per-voxel loss weight, the last three over the crop plus a
symmetric margin (the largest affinity offset) so targets can be computed afterwards.
Spatial transforms move all four alike: raw by linear interpolation, the bit sets, mask
and weight by nearest-neighbour index lookup (bits are never interpolated, so no new bit
value can appear). Every random draw comes from the caller's generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from fisbe_bench.methods.unet_affinity.config import Augment

MAX_TILT = math.pi / 18  # rotations: any angle about z, tilts of up to 10 degrees
ELASTIC_SPACING = 16  # voxels between the control points of the elastic displacement
ELASTIC_SIGMA = 2.0  # standard deviation (voxels) of a control point's displacement
NOISE_SIGMA = (0.005, 0.03)  # Gaussian noise, its standard deviation drawn from this range
BLUR_SIGMA = (0.5, 1.2)  # voxels
GAMMA = (0.7, 1.4)
HUE_ANGLE = math.pi / 4


@dataclass
class Crop:
    """Normalised ``raw`` (C, Z, Y, X); ``bits`` (W, Z+2m, Y+2m, X+2m) uint64; ``inside``
    (bool) and ``weight`` (float32) over the same padded grid."""

    raw: np.ndarray
    bits: np.ndarray
    inside: np.ndarray
    weight: np.ndarray


def _bspline_matrix(n: int, spacing: int) -> np.ndarray:
    """(n, k) cubic B-spline weights of k control points ``spacing`` apart for n voxels."""
    t = np.arange(n)[:, None] / spacing - np.arange(-1, n // spacing + 3)[None, :]
    t = np.abs(t)
    inner = (4 - 6 * t**2 + 3 * t**3) / 6
    outer = np.clip(2 - t, 0, None) ** 3 / 6
    return np.where(t < 1, inner, outer).astype(np.float32)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A random rotation of (z, y, x) vectors: any angle about z, small tilts."""
    angle, tilt_y, tilt_x = rng.uniform(0, 2 * math.pi), *rng.uniform(-MAX_TILT, MAX_TILT, 2)

    def turn(i: int, j: int, a: float) -> np.ndarray:
        matrix = np.eye(3)
        matrix[[i, i, j, j], [i, j, i, j]] = [math.cos(a), -math.sin(a), math.sin(a), math.cos(a)]
        return matrix

    return turn(1, 2, angle) @ turn(0, 2, tilt_y) @ turn(0, 1, tilt_x)


def draw_warp(
    size: Sequence[int], rng: np.random.Generator, p_elastic: float, p_rotate: float
) -> np.ndarray | None:
    """Source coordinates (3, *size) float32 for every voxel of a crop of ``size``, after a
    rotation about its centre and/or an elastic displacement; None when neither is drawn.

    Coordinates are relative to the crop's origin and may lie outside it: read the box they
    span (:func:`source_box`)."""
    elastic, rotate = rng.random() < p_elastic, rng.random() < p_rotate
    if not (elastic or rotate):
        return None
    matrix = (_rotation(rng) if rotate else np.eye(3)).astype(np.float32)
    centre = ((np.asarray(size) - 1) / 2).astype(np.float32)
    axes = [np.arange(n, dtype=np.float32) - c for n, c in zip(size, centre, strict=True)]
    coords = np.empty((3, *size), dtype=np.float32)
    for d in range(3):
        coords[d] = (
            matrix[d, 0] * axes[0][:, None, None]
            + matrix[d, 1] * axes[1][None, :, None]
            + matrix[d, 2] * axes[2][None, None, :]
            + centre[d]
        )
    if elastic:
        bases = [_bspline_matrix(n, ELASTIC_SPACING) for n in size]
        control = rng.normal(0, ELASTIC_SIGMA, (3, *(b.shape[1] for b in bases)))
        field = np.einsum("kabc,xc->kabx", control.astype(np.float32), bases[2])
        field = np.einsum("kabx,yb->kayx", field, bases[1])
        coords += np.einsum("kayx,za->kzyx", field, bases[0], optimize=True)
    return coords


def source_box(coords: np.ndarray) -> tuple[list[int], list[int]]:
    """Start and size of the voxel box that ``coords`` interpolate from, with one voxel to
    spare on each side (coordinates shifted to the box never round out of it)."""
    flat = coords.reshape(3, -1)
    low = np.floor(flat.min(axis=1)).astype(int) - 1
    high = np.floor(flat.max(axis=1)).astype(int) + 3
    return low.tolist(), (high - low).tolist()


def warp(
    raw: np.ndarray,
    bits: np.ndarray,
    inside: np.ndarray,
    weight: np.ndarray,
    coords: np.ndarray,
    margin: int,
) -> Crop:
    """Resample a crop read over the :func:`source_box` of ``coords`` (all four arrays
    over that box, ``coords`` shifted to it): raw trilinear at the centre (``margin``
    cut), the rest nearest-neighbour over the whole padded grid."""
    box = bits.shape[1:]
    centre = tuple(slice(margin, n - margin) for n in coords.shape[1:])
    # grid_sample: (x, y, z) last, -1 and 1 the centres of the first and last voxel
    grid = np.empty((*(n - 2 * margin for n in coords.shape[1:]), 3), dtype=np.float32)
    for axis in range(3):
        grid[..., 2 - axis] = coords[axis][centre] * np.float32(2 / (box[axis] - 1)) - 1
    sampled = F.grid_sample(
        torch.from_numpy(raw)[None], torch.from_numpy(grid)[None], align_corners=True
    )[0].numpy()
    shape = coords.shape[1:]
    index = np.zeros(int(np.prod(shape)), dtype=np.int64)  # nearest voxel, flat in the box
    for axis, stride in enumerate((box[1] * box[2], box[2], 1)):
        index += np.rint(coords[axis].reshape(-1)).astype(np.int64) * stride
    return Crop(
        sampled,
        np.take(bits.reshape(bits.shape[0], -1), index, axis=1).reshape(bits.shape[0], *shape),
        np.take(inside.reshape(-1), index).reshape(shape),
        np.take(weight.reshape(-1), index).reshape(shape),
    )


def _used_bits(bits: np.ndarray) -> int:
    """Number of bit positions up to the highest one set anywhere (0 if none)."""
    for word in range(bits.shape[0] - 1, -1, -1):
        used = int(np.bitwise_or.reduce(bits[word], axis=None))
        if used:
            return 64 * word + used.bit_length()
    return 0


def shift_bits(bits: np.ndarray, shift: int, words: int) -> np.ndarray:
    """Bit sets moved up by ``shift`` bit positions into ``words`` words (bits that would
    leave them must not be set)."""
    out = np.zeros((words, *bits.shape[1:]), dtype=np.uint64)
    step, offset = divmod(shift, 64)
    for word in range(bits.shape[0]):
        if word + step < words:
            out[word + step] |= bits[word] << np.uint64(offset)
        if offset and word + step + 1 < words:
            out[word + step + 1] |= bits[word] >> np.uint64(64 - offset)
    return out


def overlay(first: Crop, second: Crop) -> Crop:
    """Both crops in one: raw per-voxel maximum, the second crop's neurons moved to bit
    positions above the first's (all stay distinct), ``inside`` where both are inside, and
    the weight of a voxel in a labelled neuron of either crop the larger of the two, else
    the smaller (it may hide an unlabelled neuron of either)."""
    shift = _used_bits(first.bits)
    words = max(1, -(-(shift + _used_bits(second.bits)) // 64))
    bits = shift_bits(first.bits, 0, words) | shift_bits(second.bits, shift, words)
    labelled = (first.bits != 0).any(axis=0) | (second.bits != 0).any(axis=0)
    weight = np.where(
        labelled,
        np.maximum(first.weight, second.weight),
        np.minimum(first.weight, second.weight),
    )
    return Crop(np.maximum(first.raw, second.raw), bits, first.inside & second.inside, weight)


def mirror_transpose(crop: Crop, rng: np.random.Generator, augment: Augment) -> Crop:
    """Mirror each axis and swap Y and X (square crops), all arrays alike."""
    arrays = [crop.raw, crop.bits, crop.inside[None], crop.weight[None]]
    for axis in (1, 2, 3):
        if rng.random() < augment.mirror:
            arrays = [np.flip(a, axis) for a in arrays]
    if crop.raw.shape[2] == crop.raw.shape[3] and rng.random() < augment.transpose:
        arrays = [a.swapaxes(2, 3) for a in arrays]
    raw, bits, inside, weight = (np.ascontiguousarray(a) for a in arrays)
    return Crop(raw, bits, inside[0], weight[0])


def hue_rotation(angle: float) -> np.ndarray:
    """3x3 rotation about the grey axis (1, 1, 1): a hue shift that keeps brightness."""
    axis = np.ones(3) / math.sqrt(3.0)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return (
        math.cos(angle) * np.eye(3)
        + math.sin(angle) * cross
        + (1 - math.cos(angle)) * np.outer(axis, axis)
    ).astype(np.float32)


def intensity(raw: np.ndarray, rng: np.random.Generator, augment: Augment) -> np.ndarray:
    """Channel permutation, hue rotation, scale/shift, gamma, blur and noise of normalised
    raw (3, Z, Y, X); the result (a new float32 array) stays in [0, 1]."""
    raw = raw.astype(np.float32)  # a copy, changed in place below
    if rng.random() < augment.permute:
        raw = raw[rng.permutation(3)]
    if rng.random() < augment.hue:
        rotation = hue_rotation(float(rng.uniform(-HUE_ANGLE, HUE_ANGLE)))
        raw = np.einsum("ij,j...->i...", rotation, raw)
    if rng.random() < augment.intensity:
        raw *= rng.uniform(0.8, 1.2, size=(3, 1, 1, 1)).astype(np.float32)
        raw += rng.uniform(-0.05, 0.05, size=(3, 1, 1, 1)).astype(np.float32)
    np.clip(raw, 0, 1, out=raw)
    if rng.random() < augment.gamma:
        np.power(raw, np.float32(rng.uniform(*GAMMA)), out=raw)
    if rng.random() < augment.blur:
        blur = float(rng.uniform(*BLUR_SIGMA))
        for channel in raw:
            channel[...] = ndimage.gaussian_filter(channel, blur)
    if rng.random() < augment.noise:
        noise = np.float32(rng.uniform(*NOISE_SIGMA))
        raw += noise * rng.standard_normal(raw.shape, dtype=np.float32)
        np.clip(raw, 0, 1, out=raw)
    return np.ascontiguousarray(raw)

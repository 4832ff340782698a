"""B1 augmentation: spatial warps keep raw and GT aligned and bits exact, overlays keep
neurons distinct, intensities stay in [0, 1], probabilities parse from the preset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import ndimage

from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.augment import (
    Crop,
    draw_warp,
    hue_rotation,
    intensity,
    overlay,
    shift_bits,
    source_box,
    warp,
)
from fisbe_bench.methods.unet_affinity.config import Augment, config_from_dict
from fisbe_bench.methods.unet_affinity.targets import count_members, pack_membership

NONE = Augment.parse(False)
MARGIN = 3


def tubes(low: np.ndarray, size: list[int], centre: np.ndarray) -> np.ndarray:
    """GT (2, *size) of a box at ``low``: two tubes of radius 3 crossing at ``centre``,
    one along x, one along y."""
    z, y, x = np.meshgrid(
        *(np.arange(lo, lo + n) for lo, n in zip(low, size, strict=True)), indexing="ij"
    )
    dz, dy, dx = z - centre[0], y - centre[1], x - centre[2]
    return np.stack([dz**2 + dy**2 <= 9, dz**2 + (dx - 4) ** 2 <= 9]).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_warp_keeps_raw_and_gt_aligned_and_bits_exact(seed: int) -> None:
    size = [26, 40, 40]  # the padded crop: a 20 x 34 x 34 crop with margin 3
    rng = np.random.default_rng(seed)
    coords = draw_warp(size, rng, p_elastic=1.0, p_rotate=1.0)
    assert coords is not None and coords.shape == (3, *size)
    low, box = source_box(coords)
    gt = tubes(np.asarray(low), box, (np.asarray(size) - 1) / 2)
    bits = pack_membership(gt)
    raw = gt.astype(np.float32)  # raw channel i: indicator of neuron i
    raw = np.concatenate([raw, raw[:1]])
    inside = np.ones(box, dtype=bool)
    weight = np.where(gt.any(axis=0), 1.0, 0.01).astype(np.float32)
    shifted = coords - np.asarray(low, dtype=np.float32).reshape(3, 1, 1, 1)
    crop = warp(raw, bits, inside, weight, shifted, MARGIN)
    assert crop.raw.shape == (3, 20, 34, 34) and crop.bits.shape == (1, *size)
    assert set(np.unique(crop.bits)) <= set(np.unique(bits))  # no new bit values
    assert set(np.unique(crop.weight)) <= {np.float32(0.01), 1} and crop.inside.all()
    centre = (slice(None), *(slice(MARGIN, n - MARGIN) for n in size))
    members = np.stack([(crop.bits[0] >> np.uint64(i)) & np.uint64(1) for i in range(2)])
    members = members[centre].astype(bool)
    cube = np.ones((3, 3, 3), dtype=bool)
    for neuron in range(2):
        member = members[neuron]
        assert member.sum() > 500
        disagree = (crop.raw[neuron] > 0.5) != member
        # only where linear and nearest sampling differ: next to the neuron's surface
        surface = ndimage.binary_dilation(member, cube) & ~ndimage.binary_erosion(member, cube)
        assert not (disagree & ~surface).any() and disagree.sum() < 0.06 * member.sum()
    np.testing.assert_array_equal(crop.weight == 1, (crop.bits != 0).any(axis=0))
    unwarped = pack_membership(tubes(np.zeros(3, int), size, (np.asarray(size) - 1) / 2))
    assert not np.array_equal(unwarped, crop.bits)  # the warp did move the neurons


def test_no_warp_drawn_with_zero_probabilities() -> None:
    assert draw_warp([8, 8, 8], np.random.default_rng(0), 0.0, 0.0) is None


def test_warp_marks_voxels_from_outside_the_volume() -> None:
    size = [16, 16, 16]
    coords = draw_warp(size, np.random.default_rng(1), 0.0, 1.0)
    assert coords is not None
    low, box = source_box(coords)
    inside = np.zeros(box, dtype=bool)
    inside[:, : box[1] // 2] = True  # half of the box lies outside the volume
    bits = np.zeros((1, *box), dtype=np.uint64)
    crop = warp(
        np.zeros((3, *box), np.float32), bits, inside, np.ones(box, np.float32),
        coords - np.asarray(low, dtype=np.float32).reshape(3, 1, 1, 1), 2,
    )  # fmt: skip
    assert 0.2 < crop.inside.mean() < 0.8


def crop_of(gt: np.ndarray, raw_value: float, weight: float) -> Crop:
    bits = pack_membership(gt)
    shape = gt.shape[1:]
    labelled = gt.any(axis=0)
    return Crop(
        np.full((3, *(n - 2 for n in shape)), raw_value, np.float32),
        bits,
        np.ones(shape, bool),
        np.where(labelled, 1.0, weight).astype(np.float32),
    )


def test_overlay_keeps_neurons_distinct_and_counts_overlaps() -> None:
    first = np.zeros((2, 6, 6, 6), np.uint8)
    first[0, 2, 2, :] = 1
    first[1, 2, :, 3] = 2  # crosses neuron 1 at (2, 2, 3)
    second = np.zeros((3, 6, 6, 6), np.uint8)
    second[0, :, 2, 3] = 1  # through the first crop's crossing
    second[2, 4, 4, :] = 3  # its channel 1 is empty
    a, b = crop_of(first, 0.2, 0.01), crop_of(second, 0.6, 1.0)
    a.inside[0] = False
    both = overlay(a, b)
    assert both.bits.shape[0] == 1
    counts = count_members(both.bits)
    np.testing.assert_array_equal(counts, (first > 0).sum(0) + (second > 0).sum(0))
    assert counts[2, 2, 3] == 3
    expected = [first[0], first[1], second[0], second[1], second[2]]
    for position, mask in enumerate(expected):
        bit = (both.bits[0] >> np.uint64(position)) & np.uint64(1)
        np.testing.assert_array_equal(bit.astype(bool), mask > 0)
    assert not (both.bits[0] >> np.uint64(len(expected))).any()
    assert (both.raw == 0.6).all() and not both.inside[0].any() and both.inside[1:].all()
    # unlabelled in both: the smaller weight; labelled in either: the larger
    np.testing.assert_array_equal(both.weight, np.where(counts > 0, 1.0, 0.01).astype(np.float32))


def test_overlay_spills_into_a_second_word() -> None:
    first = np.zeros((40, 2, 2, 2), np.uint8)
    first[39, 0, 0, 0] = 40
    second = np.zeros((30, 2, 2, 2), np.uint8)
    second[29, 1, 1, 1] = 30
    second[0, 1, 1, 1] = 1
    both = overlay(crop_of(first, 0, 1.0), crop_of(second, 0, 1.0))
    assert both.bits.shape[0] == 2
    assert both.bits[0, 0, 0, 0] == np.uint64(1) << np.uint64(39)
    assert both.bits[0, 1, 1, 1] == np.uint64(1) << np.uint64(40)  # second's neuron 0
    assert both.bits[1, 1, 1, 1] == np.uint64(1) << np.uint64(40 + 29 - 64)
    assert count_members(both.bits).sum() == 3
    moved = shift_bits(pack_membership(second), 64 + 3, 2)
    assert moved[1, 1, 1, 1] == (np.uint64(1) << np.uint64(3)) | (np.uint64(1) << np.uint64(32))


def test_hue_rotation_is_clipped_to_the_unit_range() -> None:
    raw = np.zeros((3, 4, 4, 4), np.float32)
    raw[0] = 1.0  # saturated red: a hue rotation leaves [0, 1] unless clipped
    rotated = np.einsum("ij,j...->i...", hue_rotation(np.pi / 4), raw)
    assert rotated.min() < 0 or rotated.max() > 1
    only_hue = dataclasses.replace(NONE, hue=1.0)
    everything = Augment.parse({name: 1.0 for name in Augment.names()})
    for seed in range(5):
        for augment in (only_hue, everything):
            out = intensity(raw, np.random.default_rng(seed), augment)
            assert out.dtype == np.float32 and out.shape == raw.shape
            assert out.min() >= 0 and out.max() <= 1


def test_augment_probabilities_parse() -> None:
    assert Augment.parse(True) == Augment()
    assert all(getattr(NONE, name) == 0 for name in Augment.names())
    assert Augment.parse({"elastic": 1}) == dataclasses.replace(Augment(), elastic=1.0)
    config = config_from_dict({"augment": {"overlay": 0.0, "blur": 1}})
    assert config.augment.overlay == 0 and config.augment.blur == 1.0
    assert config_from_dict(config.to_dict()) == config
    assert config_from_dict({"augment": False}).augment == NONE
    with pytest.raises(FisbeError, match="unknown augment keys"):
        config_from_dict({"augment": {"elastik": 0.5}})
    for bad in (2, None, "often"):
        with pytest.raises(FisbeError, match=r"augment.noise must be a probability in \[0, 1\]"):
            config_from_dict({"augment": {"noise": bad}})
    with pytest.raises(FisbeError, match="true, false or a mapping"):
        config_from_dict({"augment": "yes"})
    with pytest.raises(FisbeError, match="partly_background_weight"):
        config_from_dict({"partly_background_weight": -1})

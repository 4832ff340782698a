"""Flip test-time augmentation of B1: affinity remapping, shifts, border fallback, refusal."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch

from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.config import DEFAULT_OFFSETS, ModelConfig
from fisbe_bench.methods.unet_affinity.model import AffinityUNet
from fisbe_bench.methods.unet_affinity.predict import (
    FLIPS,
    flip_average,
    flip_sources,
    predict_array,
    shift_back,
)

UNIT_26 = [d for d in itertools.product((-1, 0, 1), repeat=3) if any(d)]
UNIT_13 = [d for d in UNIT_26 if d > (0, 0, 0)]  # one of each +/- pair (first non-zero > 0)
LONG = [(3, 0, 0), (0, 3, 0), (0, 0, 3), (0, 3, 3), (0, 3, -3), (9, 0, 0), (0, 9, 0), (0, 0, 9)]
OFFSET_SETS = {
    "default axis 1/3/9": list(DEFAULT_OFFSETS),
    "13-neighbourhood": UNIT_13,
    "26-neighbourhood": UNIT_26,
    "13-neighbourhood + long range": UNIT_13 + LONG,
}


def pair_function(
    offsets: Sequence[Sequence[int]],
) -> Callable[[torch.Tensor], torch.Tensor]:
    """An exactly flip-equivariant stand-in for the network: numinst from each voxel,
    affinity k a symmetric function of the voxel and its partner at offset k (zero
    outside the tile), like ground-truth affinities of the input."""
    reach = max(abs(v) for offset in offsets for v in offset)

    def forward(raw: torch.Tensor) -> torch.Tensor:
        value = raw[0] + 2 * raw[1] - raw[2]
        numinst = torch.stack([value, value**2, raw[1]]).softmax(0)
        padded = torch.nn.functional.pad(value, [reach] * 6)
        shape = value.shape
        affinities = []
        for offset in offsets:
            window = tuple(
                slice(reach + d, reach + d + n) for d, n in zip(offset, shape, strict=True)
            )
            partner = padded[window]
            affinities.append(torch.sigmoid(value * partner - (value - partner).abs()))
        return torch.cat([numinst, torch.stack(affinities)])

    return forward


@pytest.mark.parametrize("name", OFFSET_SETS)
def test_tta_of_an_equivariant_function_is_the_plain_output(name: str) -> None:
    offsets = OFFSET_SETS[name]
    forward = pair_function(offsets)
    raw = torch.from_numpy(np.random.default_rng(0).random((3, 12, 14, 16), dtype=np.float32))
    plain = forward(raw)
    augmented = flip_average(forward, raw, offsets)
    torch.testing.assert_close(augmented, plain, atol=1e-6, rtol=0)
    assert not torch.allclose(plain, forward(raw.flip(1)).flip(1))  # flips do change outputs


def test_each_offset_reads_its_mirror_or_the_reversed_mirror() -> None:
    offsets = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (3, 0, 0), (0, 3, 0), (0, 0, 3)]  # axis-aligned
    assert flip_sources(offsets, ()) == [(k, False) for k in range(len(offsets))]
    for axes in FLIPS:
        for k, (source, reversed_pair) in enumerate(flip_sources(offsets, axes)):
            assert source == k  # axis offsets: their own channel ...
            assert reversed_pair == any(offsets[k][a] for a in axes)  # ... reversed if mirrored
    diagonal = UNIT_13.index((0, 1, -1))
    source, reversed_pair = flip_sources(UNIT_13, (1,))[diagonal]  # y-mirror: (0, -1, -1)
    assert (UNIT_13[source], reversed_pair) == ((0, 1, 1), True)
    source, reversed_pair = flip_sources(UNIT_13, (2,))[diagonal]  # x-mirror: (0, 1, 1)
    assert (UNIT_13[source], reversed_pair) == ((0, 1, 1), False)
    for axes in FLIPS:  # the 26-neighbourhood always holds the mirror itself
        assert all(not r for _, r in flip_sources(UNIT_26, axes))
    assert len(set(FLIPS)) == 8


def test_shift_back_reads_the_partner_and_falls_back_at_the_border() -> None:
    values = torch.arange(4 * 5 * 6, dtype=torch.float32).reshape(4, 5, 6)
    fallback = torch.full_like(values, -1.0)
    out = shift_back(values, (0, 2, -1), fallback)
    assert out[1, 0, 1] == values[1, 2, 0]
    assert (out[:, 3:] == -1).all() and (out[:, :, 0] == -1).all()
    assert (shift_back(values, (9, 0, 0), fallback) == -1).all()


def test_tta_refuses_offsets_not_closed_under_mirroring() -> None:
    offsets = [(1, 0, 0), (0, 1, 1)]
    with pytest.raises(FisbeError, match=r"\[0, 1, 1\] mirrored along axes \[1\]"):
        flip_average(pair_function(offsets), torch.zeros(3, 4, 4, 4), offsets)
    model = AffinityUNet(ModelConfig(base=4, depth=1, offsets=tuple(offsets))).eval()
    raw = np.zeros((3, 8, 8, 8), dtype=np.float32)
    assert predict_array(model, raw).shape == (5, 8, 8, 8)
    with pytest.raises(FisbeError, match="closed under mirroring"):
        predict_array(model, raw, tta=True)


def test_tiled_tta_of_a_network() -> None:
    torch.manual_seed(0)
    config = ModelConfig(base=4, depth=1, offsets=tuple(UNIT_13))
    model = AffinityUNet(config).eval()
    raw = np.random.default_rng(1).random((3, 12, 20, 16), dtype=np.float32)
    plain = predict_array(model, raw, tile=(8, 12, 12), overlap=(4, 4, 4))
    augmented = predict_array(model, raw, tile=(8, 12, 12), overlap=(4, 4, 4), tta=True)
    assert augmented.shape == plain.shape == (3 + 13, 12, 20, 16)
    assert np.isfinite(augmented).all() and augmented.min() >= 0 and augmented.max() <= 1
    np.testing.assert_allclose(augmented[:3].sum(0), 1, atol=1e-5)
    assert not np.allclose(augmented, plain)

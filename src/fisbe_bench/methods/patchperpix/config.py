"""Configuration of B3: decoding ``Params`` (B1's, under this kind's name) and training
presets (``config/patchperpix/*.yaml``): a B1 preset whose ``patch_radius`` r (and optional
``long_range`` distances) replace ``model.offsets``: the patch cube, then B1-style affinities
of the 13 directions at each long-range distance (beyond 2r, where no patch reaches)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import params_from_config
from fisbe_bench.methods.unet_affinity import config as b1
from fisbe_bench.methods.unet_affinity.config import TrainConfig

METHOD = "patchperpix"
WORKFLOW_KEYS = frozenset({"kind", "preset", "grid", "tta"})
MAX_RADIUS = 4
Offset = tuple[int, int, int]


class Params(b1.Params):
    """B1's decoding thresholds (:class:`fisbe_bench.methods.unet_affinity.config.Params`),
    read from a ``methods.<name>`` entry of kind ``patchperpix``."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Params:
        return params_from_config(cls, config, METHOD, WORKFLOW_KEYS)


def patch_offsets(radius: int) -> tuple[Offset, ...]:
    """The patch channels: every offset of the (2r+1)^3 cube but the centre, raster order."""
    span = range(-radius, radius + 1)
    return tuple(o for o in itertools.product(span, span, span) if any(o))


def patch_layout(offsets: Sequence[Sequence[int]]) -> tuple[int, tuple[Offset, ...]]:
    """(r, long-range offsets) of a model whose outputs are :func:`patch_offsets` (r)
    followed by long-range affinity offsets (each longer than 2r)."""
    plain = tuple((int(o[0]), int(o[1]), int(o[2])) for o in offsets)
    for radius in range(1, MAX_RADIUS + 1):
        cube = patch_offsets(radius)
        rest = plain[len(cube) :]
        if plain[: len(cube)] == cube and all(max(map(abs, o)) > 2 * radius for o in rest):
            return radius, rest
    raise FisbeError("not a patchperpix model: its outputs are not a patch cube")


def consensus_offsets(radius: int) -> tuple[Offset, ...]:
    """Pairs the consensus scores (written as affinities): the 13 directions of the
    26-neighbourhood at distances 1, r and 2r (the longest a patch covers both ends of)."""
    return b1.neighbourhood_offsets(tuple(sorted({1, radius, 2 * radius})))


def load_preset(path: str | Path) -> TrainConfig:
    """A B3 preset: B1 keys (:func:`~fisbe_bench.methods.unet_affinity.config.config_from_dict`)
    plus ``patch_radius`` (1..4) and optional ``long_range`` (distances above 2r) instead of
    ``model.offsets``."""
    path = Path(path)
    data = b1.read_preset_mapping(path)
    radius = data.pop("patch_radius", None)
    if isinstance(radius, bool) or not isinstance(radius, int) or not 1 <= radius <= MAX_RADIUS:
        raise FisbeError(
            f"patch_radius must be an integer in 1..{MAX_RADIUS}, got {radius!r}", path
        )
    long_range = data.pop("long_range", []) or []
    if not isinstance(long_range, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d > 2 * radius for d in long_range
    ):
        raise FisbeError(
            f"long_range must be a list of distances above 2 * patch_radius = {2 * radius}, "
            f"got {long_range!r}",
            path,
        )
    model = dict(data.get("model") or {})
    if "offsets" in model:
        raise FisbeError("model.offsets is set by patch_radius in a patchperpix preset", path)
    offsets = patch_offsets(radius) + b1.neighbourhood_offsets(tuple(sorted(set(long_range))))
    data["model"] = {**model, "offsets": [list(o) for o in offsets]}
    return b1.config_from_dict(data, path)

"""Configuration of B3: decoding ``Params`` (B1's, under this kind's name) and training
presets (``config/patchperpix/*.yaml``): a B1 preset whose ``patch_radius`` r replaces
``model.offsets`` by the patch cube."""

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


def patch_radius(offsets: Sequence[Sequence[int]]) -> int:
    """r of a model whose output offsets are exactly :func:`patch_offsets` (r)."""
    radius = max((abs(int(v)) for o in offsets for v in o), default=0)
    if radius < 1 or tuple(tuple(int(v) for v in o) for o in offsets) != patch_offsets(radius):
        raise FisbeError("not a patchperpix model: its outputs are not a patch cube")
    return radius


def consensus_offsets(radius: int) -> tuple[Offset, ...]:
    """Pairs the consensus scores (written as affinities): the 13 directions of the
    26-neighbourhood at distances 1, r and 2r (the longest a patch covers both ends of)."""
    return b1.neighbourhood_offsets(tuple(sorted({1, radius, 2 * radius})))


def load_preset(path: str | Path) -> TrainConfig:
    """A B3 preset: B1 keys (:func:`~fisbe_bench.methods.unet_affinity.config.config_from_dict`)
    plus ``patch_radius`` (1..4) instead of ``model.offsets``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise FisbeError(f"cannot read preset: {err}", path) from err
    if not isinstance(data, dict):
        raise FisbeError("preset must be a mapping", path)
    radius = data.pop("patch_radius", None)
    if isinstance(radius, bool) or not isinstance(radius, int) or not 1 <= radius <= 4:
        raise FisbeError(f"patch_radius must be an integer in 1..4, got {radius!r}", path)
    model = dict(data.get("model") or {})
    if "offsets" in model:
        raise FisbeError("model.offsets is set by patch_radius in a patchperpix preset", path)
    data["model"] = {**model, "offsets": [list(o) for o in patch_offsets(radius)]}
    return b1.config_from_dict(data, path)

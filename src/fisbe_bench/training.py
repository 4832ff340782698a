"""What a method was trained on, for the two FISBe leaderboards, with which seeds and on how
many cores (stdlib + PyYAML only).

``completely``: trained on completely labelled data; ``completely+partly``: also on partly
labelled data; ``none``: not trained (appears on both leaderboards).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from fisbe_bench.errors import FisbeError

LEARNED_KINDS = ("unet_affinity", "patchperpix")  # trained from a preset YAML with `sets`
TRAININGS = ("completely", "completely+partly", "none")
BOARDS = {
    "completely": "trained on completely labelled data",
    "completely+partly": "trained on completely + partly labelled data",
}


def method_training(method: Mapping[str, Any], repo: str | Path) -> str:
    """The training of one configured method (``methods.<name>`` of the config).

    An explicit ``training`` wins; learned kinds (:data:`LEARNED_KINDS`) follow ``sets`` of
    their preset YAML (relative to ``repo``); other kinds are untrained.
    """
    if "training" in method:
        if method["training"] not in TRAININGS:
            raise FisbeError(f"training must be one of {TRAININGS}, got {method['training']!r}")
        return str(method["training"])
    if method.get("kind") not in LEARNED_KINDS:
        return "none"
    sets = set(_preset(method, repo).get("sets", ["completely"]))
    return "completely+partly" if "partly" in sets else "completely"


def method_seeds(method: Mapping[str, Any], repo: str | Path) -> list[int]:
    """Training seeds of one configured method, the first being its main run: ``seeds``,
    else the ``seed`` of a learned kind's preset (default 0); none for untrained kinds."""
    if method.get("kind") not in LEARNED_KINDS:
        return []
    if "seeds" in method:
        return [int(seed) for seed in method["seeds"]]
    return [int(_preset(method, repo).get("seed", 0))]


def training_threads(method: Mapping[str, Any], repo: str | Path) -> int:
    """Cores of a learned kind's training job: one for the network, one per data-loader worker
    of its preset (``num_workers``); 1 for untrained kinds."""
    if method.get("kind") not in LEARNED_KINDS:
        return 1
    return 1 + int(_preset(method, repo).get("num_workers", 0))


def _preset(method: Mapping[str, Any], repo: str | Path) -> Mapping[str, Any]:
    preset = Path(method.get("preset", "config/unet/demo.yaml"))
    path = preset if preset.is_absolute() else Path(repo) / preset
    try:
        modified = path.stat().st_mtime_ns
    except OSError as err:
        raise FisbeError(f"cannot read the training preset: {err}", path) from err
    return _read_preset(path, modified)


@functools.lru_cache(maxsize=64)
def _read_preset(path: Path, modified: int) -> Mapping[str, Any]:
    """A preset read once per version (``modified``: its mtime) for the three questions above."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise FisbeError(f"cannot read the training preset: {err}", path) from err
    if not isinstance(data, dict):
        raise FisbeError("the training preset must be a mapping", path)
    return MappingProxyType(data)

"""Configuration of B1: ``Params`` (decoding, from the method's config entry) and
``TrainConfig`` (training, from a YAML preset ``config/unet/*.yaml``)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fisbe_bench import contract
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import params_from_config

METHOD = "unet_affinity"
# read by the workflow: ``grid`` (decoding tuning), ``seeds`` (one training run per seed),
# ``tta`` (prediction rule)
WORKFLOW_KEYS = frozenset({"kind", "preset", "grid", "label_fractions", "seeds", "tta"})
# network outputs (``predict``), the input of ``decode``: probabilities (C, Z, Y, X)
NUMINST_KEY = "volumes/numinst"
AFFINITY_KEY = "volumes/affinities"
SELECTIONS = ("best", "last")  # the checkpoint a training run exports (``TrainConfig.select``)


def neighbourhood_offsets(scales: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    """The 13 directions of the 26-neighbourhood (one of each +/- pair: an affinity is
    symmetric), each at every distance in ``scales``, nearest first."""
    directions = [d for d in itertools.product((-1, 0, 1), repeat=3) if d > (0, 0, 0)]
    return tuple(
        (s * z, s * y, s * x) for s in scales for z, y, x in sorted(directions, key=_length)
    )


def _length(direction: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    return sum(map(abs, direction)), direction


# Scale 1 gives the 26-connected fragments; 3 and 9 jump across crossings and signal gaps
# (the oracle: `fisbe-bench oracle`, docs/baselines in README).
DEFAULT_OFFSETS = neighbourhood_offsets((1, 3, 9))


@dataclass(frozen=True)
class Params:
    """Thresholds of the B1 decoding step, network outputs -> instances (probabilities in
    [0, 1]); the training configuration comes from the preset (:class:`TrainConfig`)."""

    foreground_threshold: float = 0.5
    overlap_threshold: float = 0.5
    affinity_threshold: float = 0.5
    fragment_threshold: float = 0.9
    merge_bias: float = 0.5
    min_size: int = contract.MIN_SIZE
    overlap_rounds: int = 50
    bridge_overlaps: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Params:
        """Parameters from a ``methods.<name>`` entry of kind ``unet_affinity`` (``preset``
        names the training preset)."""
        return params_from_config(cls, config, METHOD, WORKFLOW_KEYS)


@dataclass(frozen=True)
class ModelConfig:
    """Network shape: ``base`` features at full resolution, times ``factor`` per level;
    ``chromaticity`` appends colour / brightness channels to the input (a cue that does
    not fade along a dim neurite); ``batch_norm`` adds BatchNorm after each conv (running
    statistics at inference, so tiling stays exact)."""

    base: int = 12
    factor: int = 2
    depth: int = 3
    offsets: tuple[tuple[int, int, int], ...] = DEFAULT_OFFSETS
    chromaticity: bool = True
    batch_norm: bool = False

    @property
    def divisor(self) -> int:
        """Input sizes must be multiples of this (one 2x pooling per level)."""
        return 2**self.depth


@dataclass(frozen=True)
class Augment:
    """Probability of each augmentation per crop (mirroring per axis)."""

    mirror: float = 0.5
    transpose: float = 0.5  # swap Y and X (square crops)
    permute: float = 0.5  # RGB channel permutation
    hue: float = 0.3
    intensity: float = 0.5  # per-channel scale and shift
    elastic: float = 0.5
    rotate: float = 0.5
    overlay: float = 0.3  # a second crop on top: crossings of distinct neurons
    noise: float = 0.3
    blur: float = 0.2
    gamma: float = 0.3

    @classmethod
    def parse(cls, value: bool | Mapping[str, Any]) -> Augment:
        """``true``: these defaults; ``false``: none; a mapping overrides defaults by name."""
        if isinstance(value, bool):
            return cls() if value else cls(**dict.fromkeys(cls.names(), 0.0))
        if not isinstance(value, Mapping):
            raise ValueError(f"augment must be true, false or a mapping, got {value!r}")
        unknown = sorted(set(value) - set(cls.names()))
        if unknown:
            raise ValueError(f"unknown augment keys {unknown} (known: {sorted(cls.names())})")
        for key, p in value.items():
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
                raise ValueError(f"augment.{key} must be a probability in [0, 1], got {p!r}")
        return dataclasses.replace(cls(), **{key: float(p) for key, p in value.items()})

    @classmethod
    def names(cls) -> list[str]:
        """The augmentation names (mapping keys)."""
        return [f.name for f in dataclasses.fields(cls)]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (weights depend on nothing else).

    ``sets``: the FISBe training regime, ``[completely]`` or ``[completely, partly]``; in
    partly labelled images voxels outside every labelled neuron weigh
    ``partly_background_weight`` in the loss (they may belong to an unlabelled neuron),
    except where the raw signal is dark (:func:`~.data.dark_background` at
    ``partly_dark_factor`` times the background level; 0: nowhere), certain background.
    ``ema``: the exported and validated weights are an exponential moving average of the
    trained ones with this decay (0: the trained weights themselves). ``select``: the model a
    run exports, ``best`` (best validation S under the default decoding) or ``last`` (the
    final step: a fixed budget, its decoding tuned on val afterwards).
    ``augment``: per-augmentation probabilities (:class:`Augment`; YAML ``true`` for the
    defaults, ``false`` for none, or a mapping of some of them).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    crop: tuple[int, int, int] = (64, 64, 64)
    batch: int = 2
    steps: int = 1000
    lr: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 100
    val_every: int = 500
    val_max_samples: int = 5
    log_every: int = 10
    sets: tuple[str, ...] = ("completely",)
    p_foreground: float = 0.7
    p_overlap: float = 0.25
    affinity_weight: float = 1.0
    background_pair_weight: float = 0.0
    boundary_pair_weight: float = 0.1
    overlap_pair_weight: float = 1.0
    numinst_class_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    partly_background_weight: float = 0.01
    partly_dark_factor: float = 0.0
    ema: float = 0.0
    select: str = "best"
    augment: Augment = field(default_factory=Augment)
    num_workers: int = 0  # data-loader processes; a training job asks for 1 + num_workers cores
    bf16: bool = True
    channels_last: bool = True
    compile: bool = False
    tile: tuple[int, int, int] = (64, 64, 64)
    overlap: tuple[int, int, int] = (16, 16, 16)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists, no tuples) for checkpoints and YAML."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _triple(value: Any, name: str, source: Path | None) -> tuple[int, int, int]:
    if isinstance(value, int):
        value = [value] * 3
    if not (isinstance(value, list | tuple) and len(value) == 3):
        raise FisbeError(f"{name} must be an int or a list of 3 ints, got {value!r}", source)
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def config_from_dict(data: dict[str, Any], source: Path | None = None) -> TrainConfig:
    """Validate a mapping (YAML or checkpoint) into a :class:`TrainConfig`."""
    data = dict(data)
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FisbeError(f"unknown config keys {unknown} (known: {sorted(known)})", source)
    model_data = dict(data.pop("model", {}) or {})
    model_known = {f.name for f in dataclasses.fields(ModelConfig)}
    if set(model_data) - model_known:
        bad = sorted(set(model_data) - model_known)
        raise FisbeError(f"unknown model keys {bad} (known: {sorted(model_known)})", source)
    if "offsets" in model_data:
        model_data["offsets"] = tuple(_triple(o, "offset", source) for o in model_data["offsets"])
    model = ModelConfig(**model_data)
    for key in ("crop", "tile", "overlap"):
        if key in data:
            data[key] = _triple(data[key], key, source)
    if "sets" in data:
        data["sets"] = tuple(data["sets"])
    if "augment" in data:
        try:
            data["augment"] = Augment.parse(data["augment"])
        except ValueError as err:
            raise FisbeError(str(err), source) from err
    if "numinst_class_weights" in data:
        weights = data["numinst_class_weights"]
        if not (isinstance(weights, list | tuple) and len(weights) == 3):
            raise FisbeError(f"numinst_class_weights must be 3 numbers, got {weights!r}", source)
        data["numinst_class_weights"] = tuple(float(w) for w in weights)
    try:
        config = TrainConfig(model=model, **data)
    except TypeError as err:
        raise FisbeError(f"bad config: {err}", source) from err
    _check(config, source)
    return config


def _check(config: TrainConfig, source: Path | None) -> None:
    div = config.model.divisor
    problems = []
    if not config.model.offsets or any(not any(o) for o in config.model.offsets):
        problems.append("offsets must be a non-empty list of non-zero [z, y, x] offsets")
    for key in ("crop", "tile"):
        if any(s % div or s <= 0 for s in getattr(config, key)):
            problems.append(f"{key} {getattr(config, key)} must be positive multiples of {div}")
    if any(o % div or o < 0 or o >= t for o, t in zip(config.overlap, config.tile, strict=True)):
        problems.append(f"overlap {config.overlap} must be multiples of {div} below the tile")
    if min(config.batch, config.steps, config.checkpoint_every, config.log_every) <= 0:
        problems.append("batch, steps, checkpoint_every and log_every must be positive")
    if not 0 <= config.p_foreground + config.p_overlap <= 1:
        problems.append("p_foreground + p_overlap must lie in [0, 1]")
    if set(config.sets) - {"completely", "partly"} or not config.sets:
        problems.append(f"sets must be completely and/or partly, got {config.sets}")
    if not 0 <= config.partly_background_weight <= 1:
        problems.append("partly_background_weight must lie in [0, 1]")
    if config.partly_dark_factor < 0:
        problems.append("partly_dark_factor must not be negative")
    if not 0 <= config.ema < 1:
        problems.append("ema must lie in [0, 1)")
    if config.select not in SELECTIONS:
        problems.append(f"select must be one of {list(SELECTIONS)}, got {config.select!r}")
    if problems:
        raise FisbeError("; ".join(problems), source)


def read_preset_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML preset as a mapping (not yet validated)."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise FisbeError(f"cannot read config: {err}", path) from err
    if not isinstance(data, dict):
        raise FisbeError("config must be a mapping", path)
    return data


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a YAML preset."""
    return config_from_dict(read_preset_mapping(path), Path(path))

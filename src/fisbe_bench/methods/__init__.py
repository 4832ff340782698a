"""Segmentation methods (baselines) of the benchmark, one module or subpackage per kind.

Every method kind ``<kind>`` (the ``kind`` of a ``methods.<name>`` entry in the workflow
config) lives in ``fisbe_bench.methods.<kind>`` and offers the same small interface:

- ``Params``: a frozen dataclass of the method's parameters, with
  ``Params.from_config(config: Mapping) -> Params`` reading the method's config entry.
  Each kind names its ``WORKFLOW_KEYS`` (keys the workflow reads, such as ``kind`` or an
  input file); every other key must be a ``Params`` field, else :class:`FisbeError` names it.
- classical kinds: ``predict(raw_path, out_path, params) -> int`` segments one sample and
  writes ``volumes/instances`` atomically, returning the number of instances.
- learned kinds: ``train(...)`` (weights), ``predict(...)`` (network outputs of one sample)
  and ``decode(probs_path, out_path, params) -> int`` (instances from network outputs), in
  the submodules ``train``, ``predict`` and ``instances`` (one per workflow rule, so each
  rule imports only what it needs).
- a CLI module (``<kind>`` itself or ``<kind>.cli``) with ``configure_parser(parser)`` and
  ``run(args)``, whose sub-commands are the actions: ``fisbe-bench <kind-with-dashes> ACTION``.

Kinds: ``threshold_cc`` (B0), ``colour_clustering`` (B2, ``tune`` + ``predict``),
``unet_affinity`` (B1) and ``patchperpix`` (B3, built on B1's training and decoding). This
module stays import-light (standard library only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from fisbe_bench.errors import FisbeError

P = TypeVar("P")


def typed_params(cls: type[P], values: Mapping[str, Any], source: str | Path | None = None) -> P:
    """``cls()`` with ``values`` converted to each field's type; a mistyped value (a string,
    or a bool where a number belongs and vice versa) raises :class:`FisbeError`."""
    default = cls()
    converted = {}
    for name, value in values.items():
        kind = type(getattr(default, name))
        if (kind is bool) != isinstance(value, bool) or isinstance(value, str):
            raise FisbeError(f"parameter {name!r} must be a {kind.__name__}: {value!r}", source)
        converted[name] = kind(value)
    return cast(P, replace(cast(Any, default), **converted))


def params_from_config(
    cls: type[P], config: Mapping[str, Any], kind: str, workflow_keys: frozenset[str]
) -> P:
    """``cls`` from a method's config entry: ``workflow_keys`` are skipped, every other key
    must be a field of ``cls``; a wrong ``kind`` or an unknown key raises :class:`FisbeError`."""
    if config.get("kind", kind) != kind:
        raise FisbeError(f"method config of kind {config['kind']!r} given to {kind!r}")
    names = {f.name for f in fields(cast(Any, cls))}
    for key in config:
        if key not in names and key not in workflow_keys:
            known = ", ".join(sorted(names | workflow_keys))
            raise FisbeError(f"{kind}: unknown config key {key!r} (known: {known})")
    return typed_params(cls, {key: value for key, value in config.items() if key in names})

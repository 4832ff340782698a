"""Tuning shared by every method kind: grid, samples, score table and the params.json file.

A method kind scores each candidate of a grid on the samples of a split (usually val) with
the FISBe metrics; :func:`score_table` turns those per-sample results into one row per
candidate (S, avF1 and C per labelled set and averaged over the sets present, like the
leaderboard's combined row) and picks the highest S, ties going to the earlier candidate.
The choice is written as ``params.json`` (:func:`write_params`), which prediction reads.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

from fisbe_bench.atomic import write_text
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import typed_params

P = TypeVar("P")


class TuneSample(NamedTuple):
    """One tuning sample: its input (raw or network outputs), its ground truth and whether
    it is partly labelled."""

    raw_path: str
    gt_path: str
    partly: bool


def params_from_mapping(
    cls: type[P], values: Mapping[str, Any], kind: str, source: str | Path | None = None
) -> P:
    """``cls`` from a plain mapping of its fields; unknown names raise :class:`FisbeError`."""
    unknown = sorted(set(values) - {f.name for f in fields(cast(Any, cls))})
    if unknown:
        raise FisbeError(f"unknown {kind} parameter(s): {', '.join(unknown)}", source)
    return typed_params(cls, values, source)


def parameter_grid(grid: Mapping[str, Sequence[Any]], base: P, kind: str) -> list[P]:
    """All combinations of ``grid`` (name -> list of values) on top of ``base``, in grid order."""
    for name, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise FisbeError(f"grid entry {name!r} must be a non-empty list")
    base_values = asdict(cast(Any, base))
    names = list(grid)
    return [
        params_from_mapping(
            type(base), {**base_values, **dict(zip(names, combo, strict=True))}, kind
        )
        for combo in itertools.product(*(grid[name] for name in names))
    ]


def front_end_groups(candidates: Sequence[Any], front_end: Sequence[str]) -> list[list[int]]:
    """Candidate indices grouped by their values of the ``front_end`` fields (the costly
    steps a group computes once), in grid order."""
    groups: dict[tuple, list[int]] = {}
    for index, params in enumerate(candidates):
        groups.setdefault(tuple(getattr(params, f) for f in front_end), []).append(index)
    return list(groups.values())


def score_table(
    candidates: Sequence[Any],
    names: Sequence[str],
    per_sample: Sequence[Sequence[Any]],
    samples: Sequence[TuneSample],
) -> tuple[int, list[dict[str, Any]]]:
    """Index of the best candidate and one row per candidate; ``per_sample[s][c]`` is the
    metrics result of candidate ``c`` on sample ``s``; ``names`` are the tuned fields."""
    import numpy as np

    from fisbe_bench.metrics import aggregate

    table = []
    for index, params in enumerate(candidates):
        row: dict[str, Any] = {"candidate": index, **{n: getattr(params, n) for n in names}}
        sets = {}
        for set_name, partly in (("completely", False), ("partly", True)):
            results = [
                r[index] for r, s in zip(per_sample, samples, strict=True) if s.partly == partly
            ]
            if results:
                sets[set_name] = aggregate(results)
        for metric in ("S", "avF1", "C"):
            row[metric] = float(np.mean([summary[metric] for summary in sets.values()]))
            for set_name, summary in sets.items():
                row[f"{metric}_{set_name}"] = float(summary[metric])
        table.append(row)
    best = max(range(len(candidates)), key=lambda i: (table[i]["S"], -i))
    return best, table


def write_params(
    path: str | Path, kind: str, params: Any, table: Iterable[Mapping[str, Any]] = (), **info: Any
) -> None:
    """Write chosen parameters (plus the tuning table and notes) as JSON, atomically."""
    document = {"method": kind, "params": asdict(params), **info, "table": list(table)}
    write_text(path, json.dumps(document, indent=2) + "\n")


def read_params_document(path: str | Path) -> dict[str, Any]:
    """The JSON object of a params file (:func:`write_params`, or a plain mapping)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FisbeError(f"cannot read parameters: {err}", path) from err
    if not isinstance(document, dict):
        raise FisbeError("parameters must be a JSON object", path)
    return document


def read_params(path: str | Path, cls: type[P], kind: str) -> P:
    """Parameters of ``cls`` from a JSON file written by :func:`write_params` (or a plain
    mapping of fields)."""
    document = read_params_document(path)
    values = document.get("params", document)
    if not isinstance(values, dict):
        raise FisbeError("'params' must be a JSON object", path)
    return params_from_mapping(cls, values, kind, source=path)


def read_grid(path: str | Path, base: Any, kind: str) -> dict[str, list[Any]]:
    """Tuning grid from YAML (or JSON): parameter name -> non-empty list of values, each a
    valid value of ``base``'s field."""
    import yaml

    path = Path(path)
    try:
        grid = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise FisbeError(f"cannot read grid: {err}", path) from err
    if not isinstance(grid, dict) or not grid:
        raise FisbeError("grid must map parameter names to lists of values", path)
    try:
        parameter_grid(grid, base, kind)
    except FisbeError as err:
        raise FisbeError(err.problem, path) from err
    return grid


def tuning_samples(table_path: str | Path, split: str) -> list[TuneSample]:
    """Samples of ``split`` from a sample table with columns sample, set, split, path."""
    try:
        with open(table_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
    except OSError as err:
        raise FisbeError(f"cannot read sample table: {err}", table_path) from err
    lacking = {"sample", "set", "split", "path"} - set(rows[0] if rows else ())
    if lacking:
        raise FisbeError(f"sample table lacks column(s) {', '.join(sorted(lacking))}", table_path)
    chosen = [row for row in rows if row["split"] == split]
    if not chosen:
        raise FisbeError(f"no samples in split {split!r}", table_path)
    return [TuneSample(row["path"], row["path"], row["set"] == "partly") for row in chosen]

"""B2 tuning: grid search on a split scored with the FISBe metrics; the parameter file."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np

from fisbe_bench import contract
from fisbe_bench.atomic import write_text
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.colour_clustering.input import read_input
from fisbe_bench.methods.colour_clustering.params import METHOD, Params
from fisbe_bench.methods.colour_clustering.pipeline import finish, instance_stack, prepare


class TuneSample(NamedTuple):
    """One tuning sample: its raw input, its ground truth and whether it is partly labelled."""

    raw_path: str
    gt_path: str
    partly: bool


FRONT_END = ("sigma", "threshold", "relative", "background_window", "seed_spacing")


def parameter_grid(grid: Mapping[str, Sequence[Any]], base: Params | None = None) -> list[Params]:
    """All combinations of ``grid`` (name -> list of values) on top of ``base``, in grid order."""
    for name, values in grid.items():
        if not isinstance(values, list | tuple) or not values:
            raise FisbeError(f"grid entry {name!r} must be a non-empty list")
    base_values = asdict(base or Params())
    names = list(grid)
    return [
        Params.from_mapping({**base_values, **dict(zip(names, combo, strict=True))})
        for combo in itertools.product(*(grid[name] for name in names))
    ]


def _score_sample(sample: TuneSample, candidates: list[Params]) -> list[Any]:
    """Metrics of every candidate on one sample (front end shared between candidates)."""
    import zarr

    from fisbe_bench.metrics import evaluate_sample

    gt = zarr.open_array(str(Path(sample.gt_path) / contract.GT_KEY), mode="r")[...]
    results: list[Any] = [None] * len(candidates)
    groups: dict[tuple, list[int]] = {}
    for index, params in enumerate(candidates):
        groups.setdefault(tuple(getattr(params, f) for f in FRONT_END), []).append(index)
    for indices in groups.values():
        colour = read_input(sample.raw_path)  # re-read: cheaper than holding a pristine copy
        sv = prepare(colour, candidates[indices[0]])
        for index in indices:
            labels, extra = finish(sv, colour, candidates[index])
            results[index] = evaluate_sample(
                gt, instance_stack(labels, extra), partly=sample.partly
            )
    return results


def tune(
    samples: Sequence[TuneSample | tuple[str, str, bool]],
    grid: Mapping[str, Sequence[Any]],
    jobs: int = 1,
    base: Params | None = None,
    out: str | Path | None = None,
    notes: Mapping[str, Any] | None = None,
) -> tuple[Params, list[dict[str, Any]]]:
    """Grid search on (validation) samples; returns the best parameters and the score table.

    Each candidate is scored with the FISBe metrics: S, avF1 and C aggregated per labelled
    set (completely, partly) and averaged over the sets present, like the leaderboard's
    combined row. The highest S wins; ties go to the earlier candidate in grid order.
    With ``out``, the choice, its S, the samples, ``notes`` and the table are written there
    as JSON (:func:`write_params`), the file that prediction reads.
    """
    from fisbe_bench.metrics import aggregate

    samples = cast(
        list[TuneSample], [TuneSample(str(s[0]), str(s[1]), bool(s[2])) for s in samples]
    )
    if not samples:
        raise FisbeError("no tuning samples")
    candidates = parameter_grid(grid, base)
    if jobs > 1 and len(samples) > 1:
        with ProcessPoolExecutor(min(jobs, len(samples))) as pool:
            per_sample = list(pool.map(_score_sample, samples, [candidates] * len(samples)))
    else:
        per_sample = [_score_sample(sample, candidates) for sample in samples]
    table = []
    for index, params in enumerate(candidates):
        row: dict[str, Any] = {
            "candidate": index,
            **{name: getattr(params, name) for name in grid},
        }
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
    if out is not None:
        names = [Path(s.raw_path).name.removesuffix(".zarr") for s in samples]
        info = {"S": table[best]["S"], "samples": names, **(notes or {})}
        write_params(out, candidates[best], table, **info)
    return candidates[best], table


def write_params(
    path: str | Path, params: Params, table: Iterable[Mapping[str, Any]] = (), **info: Any
) -> None:
    """Write chosen parameters (plus the tuning table and notes) as JSON, atomically."""
    document = {"method": METHOD, "params": asdict(params), **info, "table": list(table)}
    write_text(path, json.dumps(document, indent=2) + "\n")


def read_params(path: str | Path) -> Params:
    """Parameters from a JSON file written by :func:`write_params` (or a plain mapping)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise FisbeError(f"cannot read parameters: {err}", path) from err
    if not isinstance(document, dict):
        raise FisbeError("parameters must be a JSON object", path)
    values = document.get("params", document)
    if not isinstance(values, dict):
        raise FisbeError("'params' must be a JSON object", path)
    return Params.from_mapping(values, source=path)


def read_grid(path: str | Path) -> dict[str, list[Any]]:
    """Tuning grid from YAML (or JSON): parameter name -> non-empty list of values."""
    import yaml

    path = Path(path)
    try:
        grid = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise FisbeError(f"cannot read grid: {err}", path) from err
    if not isinstance(grid, dict) or not grid:
        raise FisbeError("grid must map parameter names to lists of values", path)
    try:
        parameter_grid(grid)
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


def tune_to_file(
    samples_table: str | Path,
    split: str,
    grid_path: str | Path,
    out: str | Path,
    jobs: int = 1,
    base: Params | None = None,
) -> Params:
    """Tune on one split of a sample table, starting from ``base``; write the choice to ``out``."""
    grid = read_grid(grid_path)
    samples = tuning_samples(samples_table, split)
    notes = {"split": split, "grid": str(grid_path)}
    best, _ = tune(samples, grid, jobs=jobs, base=base, out=out, notes=notes)
    return best

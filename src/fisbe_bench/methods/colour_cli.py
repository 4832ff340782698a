"""CLI of B2 colour clustering: ``fisbe-bench colour-clustering {tune,predict}``.

- ``tune --samples TSV --split val --grid GRID.yaml --out params.json [--jobs N]``: grid search
  on one split of a sample table (columns sample, set, split, path; ``fisbe-bench splits``
  writes it), scored with the FISBe metrics; writes the best parameters and the score table.
- ``predict --raw SAMPLE.zarr --params params.json --out PRED.zarr``: segment one sample.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fisbe_bench import contract
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import colour


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
        colour.parameter_grid(grid)
    except FisbeError as err:
        raise FisbeError(err.problem, path) from err
    return grid


def tuning_samples(table_path: str | Path, split: str) -> list[colour.TuneSample]:
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
    return [colour.TuneSample(row["path"], row["path"], row["set"] == "partly") for row in chosen]


def tune_to_file(
    samples_table: str | Path,
    split: str,
    grid_path: str | Path,
    out: str | Path,
    jobs: int = 1,
    min_size: int = contract.MIN_SIZE,
) -> colour.ColourParams:
    """Tune on one split of a sample table and write the chosen parameters to ``out``."""
    grid = read_grid(grid_path)
    samples = tuning_samples(samples_table, split)
    base = colour.ColourParams(min_size=min_size)
    notes = {"split": split, "grid": str(grid_path)}
    best, _ = colour.tune(samples, grid, jobs=jobs, base=base, out=out, notes=notes)
    return best


def predict_to_file(
    raw_path: str | Path,
    out_path: str | Path,
    params_path: str | Path | None = None,
    key: str = contract.RAW_KEY,
) -> int:
    """Segment one sample with the parameters in ``params_path`` (default: built-in)."""
    params = colour.read_params(params_path) if params_path else colour.ColourParams()
    return colour.predict(raw_path, out_path, params, key=key)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Subcommands ``tune`` and ``predict``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="{tune,predict}")
    tune = sub.add_parser("tune", help="grid-search the parameters on a split (S of FISBe)")
    tune.add_argument("--samples", required=True, type=Path, help="sample table (TSV)")
    tune.add_argument("--split", default="val", help="split to tune on (default: val)")
    tune.add_argument("--grid", required=True, type=Path, help="grid YAML: name -> values")
    tune.add_argument("--out", required=True, type=Path, help="parameter JSON to write")
    tune.add_argument("--jobs", type=int, default=1, help="samples processed in parallel")
    tune.add_argument("--min-size", type=int, default=contract.MIN_SIZE, help="instance filter")
    predict = sub.add_parser("predict", help="segment one sample")
    predict.add_argument("--raw", required=True, type=Path, help="sample zarr (or colour HDF5)")
    predict.add_argument("--key", default=contract.RAW_KEY, help="input array inside --raw")
    predict.add_argument("--params", type=Path, help="parameter JSON (default: built-in)")
    predict.add_argument("--out", required=True, type=Path, help="prediction zarr to write")


def run(args: argparse.Namespace) -> int:
    """Run one subcommand; prints a one-line JSON summary."""
    if args.action == "tune":
        jobs = max(1, args.jobs)
        best = tune_to_file(args.samples, args.split, args.grid, args.out, jobs, args.min_size)
        print(json.dumps({"params": str(args.out), **asdict(best)}))
        return 0
    n = predict_to_file(args.raw, args.out, args.params, key=args.key)
    print(json.dumps({"sample": args.raw.stem, "instances": n}))
    return 0

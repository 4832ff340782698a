"""CLI of B2 colour clustering: ``fisbe-bench colour-clustering {tune,predict}``.

- ``tune --samples TSV --split val --grid GRID.yaml --out params.json [--jobs N]``: grid search
  on one split of a sample table (columns sample, set, split, path; ``fisbe-bench splits``
  writes it), scored with the FISBe metrics; writes the best parameters and the score table.
- ``predict --raw SAMPLE.zarr --params params.json --out PRED.zarr``: segment one sample.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from fisbe_bench import contract
from fisbe_bench.methods.colour_clustering.params import Params
from fisbe_bench.methods.colour_clustering.pipeline import predict
from fisbe_bench.methods.colour_clustering.tuning import read_params, tune_to_file


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
    segment = sub.add_parser("predict", help="segment one sample")
    segment.add_argument("--raw", required=True, type=Path, help="sample zarr (or colour HDF5)")
    segment.add_argument("--key", default=contract.RAW_KEY, help="input array inside --raw")
    segment.add_argument("--params", type=Path, help="parameter JSON (default: built-in)")
    segment.add_argument("--out", required=True, type=Path, help="prediction zarr to write")


def run(args: argparse.Namespace) -> int:
    """Run one subcommand; prints a one-line JSON summary."""
    if args.action == "tune":
        base = Params(min_size=args.min_size)
        best = tune_to_file(args.samples, args.split, args.grid, args.out, max(1, args.jobs), base)
        print(json.dumps({"params": str(args.out), **asdict(best)}))
        return 0
    params = read_params(args.params) if args.params else Params()
    n = predict(args.raw, args.out, params, key=args.key)
    print(json.dumps({"sample": args.raw.stem, "instances": n}))
    return 0

"""``fisbe-bench evaluate``: score a folder of predictions with the FISBe metrics."""

from __future__ import annotations

import argparse
import logging
import sys

from fisbe_bench.metrics.directories import SPLITS


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gt", required=True, metavar="GT_DIR", help="folder with <sample>.zarr")
    parser.add_argument(
        "--pred",
        required=True,
        metavar="PRED_DIR",
        help="folder with <sample>.zarr, .hdf/.h5 or .tif/.tiff predictions",
    )
    parser.add_argument(
        "--pred-key", default="volumes/instances", help="prediction array key (zarr/HDF5)"
    )
    parser.add_argument("--gt-key", default="volumes/gt_instances", help="GT array key")
    labelled = parser.add_mutually_exclusive_group()
    labelled.add_argument(
        "--split-file", metavar="FILE", help="official split file: which samples are partly"
    )
    labelled.add_argument("--partly", action="store_true", help="all samples are partly labelled")
    parser.add_argument(
        "--split", choices=SPLITS, help="score only this split's samples (needs --split-file)"
    )
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="samples in parallel")
    parser.add_argument(
        "--iou", action="store_true", help="also report IoU-matching F1 (separate keys)"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="OUT_DIR",
        help="output folder: new, empty or written by evaluate before (only its files change)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty OUT_DIR that evaluate did not write (other files are kept)",
    )


def run(args: argparse.Namespace) -> int:
    from fisbe_bench.errors import FisbeError
    from fisbe_bench.metrics.directories import evaluate_directories

    if args.split and not args.split_file:
        raise FisbeError("--split needs --split-file")
    if args.jobs < 1:
        raise FisbeError("--jobs must be at least 1")
    logging.basicConfig(
        level=logging.INFO, format="fisbe-bench evaluate: %(levelname)s: %(message)s"
    )
    summary = evaluate_directories(
        args.gt,
        args.pred,
        args.out,
        pred_key=args.pred_key,
        gt_key=args.gt_key,
        split_file=args.split_file,
        split=args.split,
        partly=args.partly,
        jobs=args.jobs,
        iou=args.iou,
        overwrite=args.overwrite,
    )
    columns = ("S", "avF1", "C", "clDice_TP", "tp", "FS", "FM", "num_images")
    print(f"{'set':<11}" + "".join(f"{c:>11}" for c in columns), file=sys.stdout)
    for set_name, values in summary.items():
        cells = "".join(
            f"{values[c]:>11.4f}" if isinstance(values[c], float) else f"{values[c]:>11}"
            for c in columns
        )
        print(f"{set_name:<11}{cells}")
    print(f"wrote {args.out}/summary.json, per_sample.csv, per_threshold.csv")
    return 0

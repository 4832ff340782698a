"""CLI of B1: ``fisbe-bench unet-affinity {train,predict,decode,tune}``.

- ``train --config C.yaml --data-root D --split-file F --out DIR``: train (or resume) the
  affinity U-Net from a YAML preset.
- ``predict --checkpoint best.pt --raw S.zarr --out PROB.zarr [--tta flip]``: tiled network
  outputs (optionally averaged over the 8 flips).
- ``decode --probs PROB.zarr --out PRED.zarr [--params params.json]``: instances from
  numinst + affinities.
- ``tune --samples splits.tsv --probs DIR --grid G.yaml --out params.json``: decoding
  parameters grid-searched on a split's network outputs.

torch is imported only by the actions that need it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from fisbe_bench.methods.unet_affinity.config import Params


def _triple(parser: argparse.ArgumentParser, flag: str, text: str) -> None:
    parser.add_argument(flag, nargs=3, type=int, metavar=("Z", "Y", "X"), help=text)


def configure_parser(parser: argparse.ArgumentParser, presets: str = "config/unet/*.yaml") -> None:
    """Subcommands ``train``, ``predict``, ``decode`` and ``tune``; ``presets``: where the
    training presets of the kind live (B3 shares these subcommands)."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="{train,predict,decode,tune}")
    train = sub.add_parser("train", help="train the U-Net from a YAML preset")
    train.add_argument("--config", required=True, type=Path, help=f"preset, {presets}")
    train.add_argument(
        "--data-root",
        required=True,
        type=Path,
        help="folder holding {completely,partly}/{train,val,test}/*.zarr",
    )
    train.add_argument("--split-file", required=True, type=Path, help="official-format split file")
    train.add_argument("--out", required=True, type=Path, help="run folder (resumed if present)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    train.add_argument("--steps", type=int, help="override the preset's number of steps")
    train.add_argument("--restart", action="store_true", help="discard a previous run in --out")
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    predict = sub.add_parser("predict", help="tiled U-Net inference (network outputs)")
    predict.add_argument("--checkpoint", required=True, type=Path, help="best.pt or last.pt")
    predict.add_argument("--raw", required=True, type=Path, help="sample zarr with volumes/raw")
    predict.add_argument("--out", required=True, type=Path, help="probability zarr to write")
    _triple(predict, "--tile", "tile size (default: the checkpoint's config)")
    _triple(predict, "--overlap", "tile overlap (default: the checkpoint's config)")
    _triple(predict, "--margin", "voxels discarded at interior tile faces (default overlap/4)")
    predict.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    predict.add_argument(
        "--tta",
        choices=("none", "flip"),
        default="none",
        help="test-time augmentation: flip averages each tile over its 8 mirrorings (8x time)",
    )
    predict.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    defaults = Params()
    decode = sub.add_parser("decode", help="instances from numinst + affinities")
    decode.add_argument("--probs", required=True, type=Path, help="zarr written by predict")
    decode.add_argument("--out", required=True, type=Path, help="prediction zarr to write")
    decode.add_argument("--foreground-threshold", type=float, default=defaults.foreground_threshold)
    decode.add_argument("--overlap-threshold", type=float, default=defaults.overlap_threshold)
    decode.add_argument("--params", type=Path, help="params.json of tune (flags below ignored)")
    decode.add_argument("--affinity-threshold", type=float, default=defaults.affinity_threshold)
    decode.add_argument(
        "--fragment-threshold",
        type=float,
        default=defaults.fragment_threshold,
        help="nearest-neighbour affinity that joins voxels into fragments",
    )
    decode.add_argument(
        "--merge-bias",
        type=float,
        default=defaults.merge_bias,
        help="fragments attract iff their mean affinity > this",
    )
    decode.add_argument("--min-size", type=int, default=defaults.min_size)
    decode.add_argument("--overlap-rounds", type=int, default=defaults.overlap_rounds)
    decode.add_argument(
        "--no-bridge", action="store_true", help="do not join instances through overlap runs"
    )

    tune = sub.add_parser("tune", help="grid-search the decoding on a split's network outputs")
    tune.add_argument("--samples", required=True, type=Path, help="sample table (splits.tsv)")
    tune.add_argument(
        "--probs", required=True, type=Path, help="folder of <sample>.zarr written by predict"
    )
    tune.add_argument("--split", default="val", help="split to tune on (default val)")
    tune.add_argument("--grid", required=True, type=Path, help="grid YAML (config/unet_grid.yaml)")
    tune.add_argument("--out", required=True, type=Path, help="params.json to write")


def _train(args: argparse.Namespace) -> None:
    import torch

    from fisbe_bench.methods.unet_affinity.config import load_config
    from fisbe_bench.methods.unet_affinity.train import clean_output, train

    config = load_config(args.config)
    if args.steps is not None:
        config = dataclasses.replace(config, steps=args.steps)
    if args.restart:
        clean_output(args.out)
    threads = torch.get_num_threads()
    summary = train(
        config, args.data_root, args.split_file, args.out, args.device,
        progress=not args.no_progress,
    )  # fmt: skip
    print(json.dumps({"out": str(args.out), "threads": threads, **summary}, default=str))


def _predict(args: argparse.Namespace) -> None:
    from fisbe_bench.methods.unet_affinity.predict import predict

    predict(
        args.checkpoint, args.raw, args.out, args.tile, args.overlap, args.margin,
        args.device, progress=not args.no_progress, tta=args.tta == "flip",
    )  # fmt: skip


def decode_action(args: argparse.Namespace) -> None:
    """``decode``: instances from network outputs (B3 decodes the same way)."""
    from fisbe_bench.methods.unet_affinity.instances import decode
    from fisbe_bench.methods.unet_affinity.tuning import read_params

    params = read_params(args.params) if args.params else Params(
        foreground_threshold=args.foreground_threshold,
        overlap_threshold=args.overlap_threshold,
        affinity_threshold=args.affinity_threshold,
        fragment_threshold=args.fragment_threshold,
        merge_bias=args.merge_bias,
        min_size=args.min_size,
        overlap_rounds=args.overlap_rounds,
        bridge_overlaps=not args.no_bridge,
    )  # fmt: skip
    started = time.perf_counter()
    n = decode(args.probs, args.out, params)
    seconds = round(time.perf_counter() - started, 2)
    print(json.dumps({"sample": Path(args.out).name, "instances": n, "seconds": seconds}))


def _tune(args: argparse.Namespace) -> None:
    from fisbe_bench.methods.unet_affinity.tuning import tune_to_file

    probabilities = {path.name.removesuffix(".zarr"): path for path in args.probs.glob("*.zarr")}
    best = tune_to_file(args.samples, probabilities, args.split, args.grid, args.out)
    print(json.dumps({"out": str(args.out), "params": dataclasses.asdict(best)}))


def run(args: argparse.Namespace) -> int:
    """Run one action; prints a one-line JSON summary."""
    actions = {"train": _train, "predict": _predict, "decode": decode_action, "tune": _tune}
    actions[args.action](args)
    return 0

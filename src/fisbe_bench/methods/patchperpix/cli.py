"""CLI of B3: ``fisbe-bench patchperpix {train,predict,decode,tune}``, B1's actions and
flags (``fisbe-bench unet-affinity --help``) with B3 presets (``config/patchperpix/*.yaml``),
the consensus head in ``predict`` and this kind's name in ``tune``'s params.json."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json

from fisbe_bench.methods.unet_affinity import cli as b1

configure_parser = functools.partial(b1.configure_parser, presets="config/patchperpix/*.yaml")


def _train(args: argparse.Namespace) -> None:
    import torch

    from fisbe_bench.methods.patchperpix.train import read_preset
    from fisbe_bench.methods.unet_affinity.train import clean_output, train

    config, head = read_preset(args.config)
    if args.steps is not None:
        config = dataclasses.replace(config, steps=args.steps)
    if args.restart:
        clean_output(args.out)
    summary = train(
        config, args.data_root, args.split_file, args.out, args.device,
        progress=not args.no_progress, head=head,
    )  # fmt: skip
    print(json.dumps({"out": str(args.out), "threads": torch.get_num_threads(), **summary}))


def _predict(args: argparse.Namespace) -> None:
    from fisbe_bench.methods.patchperpix.predict import predict

    predict(
        args.checkpoint, args.raw, args.out, tile=args.tile, overlap=args.overlap,
        margin=args.margin, device=args.device, progress=not args.no_progress,
        tta=args.tta == "flip",
    )  # fmt: skip


def _tune(args: argparse.Namespace) -> None:
    from fisbe_bench.methods.patchperpix.tuning import tune_to_file

    probabilities = {path.name.removesuffix(".zarr"): path for path in args.probs.glob("*.zarr")}
    best = tune_to_file(args.samples, probabilities, args.split, args.grid, args.out)
    print(json.dumps({"out": str(args.out), "params": dataclasses.asdict(best)}))


def run(args: argparse.Namespace) -> int:
    """Run one action; prints a one-line JSON summary."""
    actions = {"train": _train, "predict": _predict, "decode": b1.decode_action, "tune": _tune}
    actions[args.action](args)
    return 0

"""``fisbe-bench train``: train the B1 affinity U-Net from a YAML preset."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from fisbe_bench.atomic import write_bytes


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """CLI: ``fisbe-bench train --config C.yaml --data-root D --split-file F --out DIR``."""
    parser.add_argument("--config", required=True, type=Path, help="preset, config/unet/*.yaml")
    parser.add_argument(
        "--data-root",
        required=True,
        type=Path,
        help="folder holding {completely,partly}/{train,val,test}/*.zarr",
    )
    parser.add_argument("--split-file", required=True, type=Path, help="official-format split file")
    parser.add_argument("--out", required=True, type=Path, help="run folder (resumed if present)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--steps", type=int, help="override the preset's number of steps")
    parser.add_argument("--restart", action="store_true", help="discard a previous run in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Train or resume; print a one-line JSON summary."""
    import torch

    from fisbe_bench.models.config import load_config
    from fisbe_bench.models.train import clean_output, train

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
    return 0


def train_to_outputs(
    preset: str | Path,
    data_root: str | Path,
    split_file: str | Path,
    workdir: str | Path,
    model_out: str | Path,
    curve_out: str | Path,
    threads: int | None = None,
    device: str = "auto",
) -> dict:
    """Workflow step: train (resuming in ``workdir``), then copy ``best.pt`` and the loss
    curve to the rule's outputs atomically."""

    import torch

    from fisbe_bench.models.config import load_config
    from fisbe_bench.models.train import train

    if threads:
        torch.set_num_threads(threads)
    summary = train(load_config(preset), data_root, split_file, workdir, device, progress=False)
    for source, target in (
        (Path(workdir) / "best.pt", model_out),
        (Path(workdir) / "loss.png", curve_out),
    ):
        write_bytes(target, source.read_bytes(), fsync=True)
    print(json.dumps(summary, default=str))
    return summary

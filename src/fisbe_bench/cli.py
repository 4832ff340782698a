"""The ``fisbe-bench`` command line: a thin dispatcher over package modules.

Each subcommand lives in the module named in ``COMMANDS``; that module defines
``configure_parser(parser)`` and ``run(args) -> int``. Modules are imported only when
their subcommand runs, so ``fisbe-bench evaluate`` never imports torch. A method kind is one
command, ``fisbe-bench <kind-with-dashes> ACTION``, its actions being sub-commands
(``args.action``) of its CLI module.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from fisbe_bench import __version__
from fisbe_bench.errors import FisbeError

COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("fisbe_bench.synth", "write a synthetic FISBe-like dataset"),
    "download": ("fisbe_bench.download", "download a file with resume and checksum check"),
    "zenodo-pin": ("fisbe_bench.zenodo", "print a Zenodo record's files as a checksum table"),
    "extract": ("fisbe_bench.archive", "safely extract a FISBe archive"),
    "dataset-stats": ("fisbe_bench.dataset_stats", "per-neuron and per-image GT statistics"),
    "splits": ("fisbe_bench.splits", "turn an official split file into a sample table"),
    "evaluate": ("fisbe_bench.metrics.cli", "score predictions with the FISBe metrics"),
    "threshold-cc": ("fisbe_bench.methods.threshold_cc", "B0: threshold + connected components"),
    "colour-clustering": ("fisbe_bench.methods.colour_clustering.cli", "B2: colour clustering"),
    "unet-affinity": ("fisbe_bench.methods.unet_affinity.cli", "B1: affinity U-Net"),
    "patchperpix": ("fisbe_bench.methods.patchperpix.cli", "B3: PatchPerPix-style U-Net"),
    "oracle": ("fisbe_bench.oracle", "score a learned method's decoding of ideal network outputs"),
    "overfit": ("fisbe_bench.overfit", "train a learned method on one volume and score it there"),
    "leaderboard": ("fisbe_bench.reports.leaderboard", "aggregate evaluations into a leaderboard"),
    "figures": ("fisbe_bench.reports.figures", "draw the benchmark figures"),
    "view": ("fisbe_bench.viewer", "look at a sample and predictions in napari (3-D)"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<18} {text}" for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="fisbe-bench",
        description=f"FISBe benchmark tools.\n\ncommands:\n{lines}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="fisbe-bench [-h] [--version] COMMAND ...",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; user errors become one line on stderr and exit status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") or argv[0] not in COMMANDS:
        parser = _top_parser()
        if argv and not argv[0].startswith("-"):
            parser.error(f"unknown command {argv[0]!r}")
        parser.parse_args(argv)
        parser.print_help()
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"fisbe-bench {name}", description=COMMANDS[name][1])
    module.configure_parser(parser)
    args = parser.parse_args(rest)
    command = f"{name} {args.action}" if getattr(args, "action", None) else name
    try:
        return int(module.run(args) or 0)
    except FisbeError as err:
        print(f"fisbe-bench {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fisbe-bench {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

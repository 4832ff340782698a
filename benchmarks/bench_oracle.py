"""Decoding ceilings on the two real FISBe ground truths: ``fisbe-bench oracle`` for each
learned kind with its paper preset and default decoding, per labelled set, with the
wall time of rendering + decoding + scoring.

  python benchmarks/bench_oracle.py [--kind unet_affinity --kind patchperpix]

Writes ``benchmarks/RESULTS-oracle.md`` (one section per command).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import results_file

from fisbe_bench.oracle import KINDS, evaluate_oracle

FIXTURES = results_file.REPO / "tests" / "data"
PRESETS = {
    "unet_affinity": "config/unet/paper.yaml",
    "patchperpix": "config/patchperpix/paper.yaml",
}


def measure(kind: str) -> dict:
    """S, avF1 and C per set of ``kind``'s oracle on both real ground truths."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = evaluate_oracle(
            kind,
            FIXTURES / "fisbe-real" / "gt",
            Path(out) / "evaluation",
            preset=results_file.REPO / PRESETS[kind],
            split_file=FIXTURES / "sample_list_per_split.txt",
            progress=False,
        )
    sets = {
        name: {key: round(float(values[key]), 4) for key in ("S", "avF1", "C")}
        for name, values in summary.items()
    }
    return {"kind": kind, "preset": PRESETS[kind], "sets": sets,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", action="append", choices=KINDS, help="default: every kind")
    results_file.add_out_option(parser, "oracle")
    args = parser.parse_args()
    start = results_file.started()
    figures = [measure(kind) for kind in args.kind or KINDS]
    print(json.dumps(figures), flush=True)
    rows = [
        "| kind (preset) | set | S | avF1 | C | seconds (both images) |",
        "|---|---|---|---|---|---|",
    ]
    for figure in figures:
        for name, values in figure["sets"].items():
            rows.append(
                f"| {figure['kind']} ({figure['preset']}) | {name} | {values['S']} | "
                f"{values['avF1']} | {values['C']} | {figure['seconds']} |"
            )
    results_file.write_section(
        args.out,
        title="Decoding ceilings (oracle) on the real FISBe ground truths",
        start=start,
        raw=figures,
        table="\n".join(rows),
        notes="R14A02 (completely labelled), VT011145_I2 (partly labelled): tests/data/fisbe-real",
    )


if __name__ == "__main__":
    main()

"""Decoding ceilings on the two real FISBe ground truths: ``fisbe-bench oracle`` for each
learned kind with its paper preset and default decoding (and B3 without its long-range
affinities: PatchPerPix's own outputs), per labelled set, with the wall time of rendering +
decoding + scoring.

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
import yaml

from fisbe_bench.oracle import KINDS, evaluate_oracle

FIXTURES = results_file.REPO / "tests" / "data"
# kind -> (paper preset, overrides of its keys)
VARIANTS = {
    "unet_affinity": [("config/unet/paper.yaml", {})],
    "patchperpix": [("config/patchperpix/paper.yaml", {}),
                    ("config/patchperpix/paper.yaml", {"long_range": []})],
}  # fmt: skip


def measure(kind: str, preset: str, overrides: dict) -> dict:
    """S, avF1 and C per set of ``kind``'s oracle on both real ground truths."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        path = results_file.REPO / preset
        if overrides:
            data = {**yaml.safe_load(path.read_text()), **overrides}
            path = Path(out) / "preset.yaml"
            path.write_text(yaml.safe_dump(data))
        summary = evaluate_oracle(
            kind,
            FIXTURES / "fisbe-real" / "gt",
            Path(out) / "evaluation",
            preset=path,
            split_file=FIXTURES / "sample_list_per_split.txt",
            progress=False,
        )
    sets = {
        name: {key: round(float(values[key]), 4) for key in ("S", "avF1", "C")}
        for name, values in summary.items()
    }
    label = preset + "".join(f", {key}: {value}" for key, value in overrides.items())
    return {"kind": kind, "preset": label, "sets": sets,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", action="append", choices=KINDS, help="default: every kind")
    results_file.add_out_option(parser, "oracle")
    args = parser.parse_args()
    start = results_file.started()
    figures = [
        measure(kind, preset, overrides)
        for kind in args.kind or KINDS
        for preset, overrides in VARIANTS[kind]
    ]
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
        modules=[f"fisbe_bench.methods.{kind}.oracle" for kind in KINDS],  # imported by name
    )


if __name__ == "__main__":
    main()

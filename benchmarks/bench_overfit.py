"""The overfit check of every learned kind on a synthetic 64x128x128 volume, on the CPU.

    python benchmarks/bench_overfit.py [--shape 64 128 128] [--seed 3]

Writes one completely labelled synthetic sample (``fisbe_bench.synth``), then runs
``fisbe-bench overfit --method KIND`` for B1 and B3 side by side, one core each (2 cores in
all), with their built-in presets and budgets. Each prediction is re-scored with
``fisbe-bench evaluate``, and ``fisbe-bench oracle`` gives the ceiling of the same decoding
(the run's preset and tuned parameters) on the same volume. Writes
``benchmarks/RESULTS-overfit.md``: minutes, steps, S of the overfit run, the re-scored S and
the ceiling per kind, and B1's output errors before decoding (``diagnostics.json``:
foreground voxels missed and added, affinity recall per distance).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import results_file

from fisbe_bench.overfit import KINDS, PRESETS
from fisbe_bench.synth import write_dataset

CLI = [sys.executable, "-m", "fisbe_bench.cli"]


def fisbe_bench(*args: str | Path) -> str:
    """Run one ``fisbe-bench`` command; its standard output."""
    done = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"fisbe-bench {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def completely_s(folder: Path) -> float:
    """S of an evaluation folder (its only set: completely)."""
    summary = json.loads((folder / "summary.json").read_text())
    return round(float(summary["completely"]["S"]), 4)


def error_table(kind: str, errors: dict) -> str:
    """The output errors of one B1 run (``diagnostics.json``) as a markdown table."""
    rows = [
        ["foreground voxels missed / added", f"{errors['foreground_missed']} / "
         f"{errors['foreground_added']} of {errors['foreground_voxels']}"],
        ["overlap voxels found", f"{errors['overlap_found']} of {errors['overlap_voxels']}"],
    ] + [
        [f"distance {distance}: same / different neuron pairs right",
         f"{recall['same']} / {recall['different']}"]
        for distance, recall in errors["recall_by_distance"].items()
    ]  # fmt: skip
    return f"{kind} outputs before decoding (`diagnostics.json`):\n\n" + (
        results_file.markdown_table(["", "overfit run"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[64, 128, 128])
    parser.add_argument("--seed", type=int, default=3)
    results_file.add_out_option(parser, "overfit")
    args = parser.parse_args()
    start = results_file.started()
    with tempfile.TemporaryDirectory(prefix="fisbe-overfit-") as tmp:
        work = Path(tmp)
        write_dataset(work / "data", 1, 0, tuple(args.shape), args.seed)
        gt_dir = work / "data" / "completely" / "train"
        sample = next(gt_dir.glob("*.zarr"))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

        def run(kind: str) -> tuple[str, float]:
            """``fisbe-bench overfit`` of one kind: its output and wall minutes."""
            began = time.perf_counter()
            done = subprocess.run(
                [*CLI, "overfit", "--method", kind, "--sample", str(sample),
                 "--out", str(work / kind), "--no-progress"],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode:
                sys.exit(f"fisbe-bench overfit --method {kind} failed: {done.stderr[-2000:]}")
            return done.stdout, round((time.perf_counter() - began) / 60, 2)

        with ThreadPoolExecutor(len(KINDS)) as pool:  # side by side, one core each
            outcomes = dict(zip(KINDS, pool.map(run, KINDS), strict=True))
        figures = []
        for kind, (output, minutes) in outcomes.items():
            reported = json.loads(output.strip().splitlines()[-1])["S"]["completely"]
            fisbe_bench("evaluate", "--gt", gt_dir, "--pred", work / kind / "predictions",
                        "--out", work / kind / "rescored")  # fmt: skip
            fisbe_bench("oracle", "--method", kind, "--gt", gt_dir, "--out", work / kind / "oracle",
                        "--preset", work / kind / "preset.yaml", "--params",
                        work / kind / "params.json", "--no-progress")  # fmt: skip
            figures.append({
                "kind": kind,
                "steps": PRESETS[kind]["steps"],
                "minutes": minutes,
                "S_overfit": reported,
                "S_rescored": completely_s(work / kind / "rescored"),
                "S_ceiling": completely_s(work / kind / "oracle"),
            })  # fmt: skip
            diagnostics = work / kind / "diagnostics.json"
            if diagnostics.is_file():  # B1: its output errors before decoding
                errors = json.loads(diagnostics.read_text())
                figures[-1]["output_errors"] = {
                    key: errors[key]
                    for key in ("foreground_voxels", "foreground_missed", "foreground_added",
                                "overlap_voxels", "overlap_found", "recall_by_distance")
                }  # fmt: skip
    print(json.dumps(figures), flush=True)
    rows = [[f["kind"], f["steps"], f["minutes"], f["S_overfit"], f["S_rescored"], f["S_ceiling"]]
            for f in figures]  # fmt: skip
    header = ["kind", "steps", "minutes (one core)", "S overfit", "S re-scored", "S ceiling"]
    table = results_file.markdown_table(header, rows)
    for f in figures:
        if "output_errors" in f:
            table += "\n" + error_table(f["kind"], f["output_errors"])
    results_file.write_section(
        args.out,
        title="Overfit check of the learned baselines on the CPU",
        start=start,
        raw=figures,
        table=table,
        notes=f"One synthetic completely labelled volume, {'x'.join(map(str, args.shape))}, "
        f"seed {args.seed}; `fisbe-bench overfit` per kind with its built-in preset, both "
        "kinds side by side on one core each; re-scored with `fisbe-bench evaluate`; ceiling: "
        "`fisbe-bench oracle` with the run's preset and tuned decoding on the same volume.",
        # run as commands: fisbe-bench evaluate and oracle
        modules=["fisbe_bench.metrics.cli", "fisbe_bench.oracle"]
        + [f"fisbe_bench.methods.{kind}.oracle" for kind in KINDS],
    )


if __name__ == "__main__":
    main()

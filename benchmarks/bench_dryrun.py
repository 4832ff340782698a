"""Wall time of a dry run of the real FISBe config with four methods (median of N runs).

    python benchmarks/bench_dryrun.py [--runs 5] [--profile-out dryrun.prof] [--out FILE]

The config is `config/fisbe.yaml` plus three methods (a second threshold_cc variant and two
external prediction folders), written to a temporary working directory; each run is a fresh
`python -m snakemake -n` process, i.e. what a user waits for. With `--profile-out`, one more run
is made under cProfile and the top functions by cumulative time are printed. For scale, the same
is timed for a one-rule Snakefile: the floor that Snakemake's own start-up sets on this machine.
The table and the raw runs go to ``--out`` (``benchmarks/RESULTS-dryrun.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import results_file
import yaml

REPO = Path(__file__).resolve().parents[1]
EXTRA_METHODS = {
    "threshold_cc": {"kind": "threshold_cc"},
    "threshold_cc_otsu": {"kind": "threshold_cc", "otsu": True},
    "external_a": {"kind": "external", "path": "external/a"},
    "external_b": {"kind": "external", "path": "external/b", "pred_key": "volumes/labels"},
}


def prepare(workdir: Path) -> list[str]:
    """Write the four-method config into ``workdir``; the Snakemake arguments of a dry run."""
    config = yaml.safe_load((REPO / "config/fisbe.yaml").read_text())
    config["methods"] = EXTRA_METHODS
    for method in EXTRA_METHODS.values():
        if method["kind"] == "external":
            (workdir / method["path"]).mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return [
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(path),
        "--dry-run",
        "--quiet",
    ]


def prepare_floor(workdir: Path) -> list[str]:
    """Dry-run arguments of a one-rule workflow (Snakemake's start-up alone)."""
    snakefile = workdir / "Snakefile"
    snakefile.write_text('rule all:\n    output: "x"\n    shell: "touch {output}"\n')
    return ["--snakefile", str(snakefile), "--directory", str(workdir), "--dry-run", "--quiet"]


def time_runs(args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of ``runs`` fresh Snakemake processes."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", *args], check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def profile_once(args: list[str], out: Path) -> None:
    from snakemake.cli import main

    with contextlib.suppress(SystemExit):
        cProfile.runctx("main(args)", {"main": main, "args": args}, {}, str(out))
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile-out", type=Path)
    results_file.add_out_option(parser, "dryrun")
    opts = parser.parse_args()
    start = results_file.started()
    raw: dict[str, dict[str, list[float]]] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as floor_tmp:
        args = prepare(Path(tmp))
        cases = {
            "config/fisbe.yaml + 4 methods (58 jobs)": args,
            "one-rule Snakefile (start-up floor)": prepare_floor(Path(floor_tmp)),
        }
        for name, case_args in cases.items():
            time_runs(case_args, 1)  # warm-up: file caches, .snakemake/ created
            walls, cpus = time_runs(case_args, opts.runs)
            raw[name] = {
                "wall_s": [round(t, 3) for t in walls],
                "cpu_s": [round(t, 3) for t in cpus],
            }
            rows.append(
                [
                    name,
                    f"{statistics.median(walls):.2f}",
                    f"{min(walls):.2f}–{max(walls):.2f}",
                    f"{statistics.median(cpus):.2f}",
                ]
            )
        if opts.profile_out:
            profile_once(args, opts.profile_out)
    header = [f"dry run ({opts.runs} fresh processes)", "wall median s", "range s", "CPU median s"]
    table = results_file.markdown_table(header, rows)
    print(table, end="")
    results_file.write_section(
        opts.out,
        title="Dry run of the real FISBe config: results",
        start=start,
        raw=raw,
        table=table,
        trees=["workflow"],
    )


if __name__ == "__main__":
    main()

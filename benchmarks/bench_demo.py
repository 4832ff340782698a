"""The `make demo` run: wall time of the whole workflow + report, and its leaderboard.

    python benchmarks/bench_demo.py [--cores 2] [--configfile config/config.yaml] [--out F]

Copies the repository's files (tracked and untracked, not ignored: what ``git ls-files``
lists) into a scratch directory, so earlier ``results/`` neither shorten the run nor get
overwritten, and runs there what ``make demo`` runs on a fresh clone, each step timed:

    make setup                     # the copy's own .venv (``--no-setup``: this interpreter's)
    snakemake --cores N
    snakemake --cores N --report results/<dataset>/report.zip

with the copied ``src`` first on ``PYTHONPATH``.

``--configfile F`` replaces the copy's ``config/config.yaml`` by ``F`` (for a quick check
with a tiny config; the README's figures come from the default).

It writes to ``--out`` (``benchmarks/RESULTS-demo.md``) the wall time of each step and in
all, and from ``results/<dataset>/leaderboard/leaderboard.csv`` the README's table (S with
its 95 % bootstrap interval per set, combined avF1 and C) plus the median number of
26-connected pieces per neuron of the dataset (``results/<dataset>/data/dataset_stats.csv``)
beside the two real FISBe ground truths, and where the workflow's wall time went: per rule,
its jobs' summed and longest wall seconds from Snakemake's log (:func:`rule_seconds`).
``--keep`` keeps the scratch copy.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import results_file
import yaml

REPO = results_file.REPO
REAL_STATS = REPO / "src" / "fisbe_bench" / "data" / "fisbe_real_stats.csv"
BUDGET = "6 min, set-up included"


def minutes(seconds: float) -> str:
    """``5 min 30 s`` (rounded to the second)."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def copy_repository(target: Path) -> None:
    """The files ``git ls-files`` lists (tracked and untracked, not ignored) into ``target``."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in (n.decode() for n in listed if n):
        source = REPO / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target / name, follow_symlinks=False)


def run_step(command: list[str], workdir: Path, log: Path) -> float:
    """Run one command in ``workdir``; its wall seconds (output appended to ``log``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(workdir / "src"), env.get("PYTHONPATH", "")) if p
    )
    start = time.perf_counter()
    with open(log, "a") as handle:
        done = subprocess.run(
            command, cwd=workdir, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False
        )
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}); log: {log}")
    return seconds


LOG_TIME = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
LOG_RULE = re.compile(r"^(?:local)?rule (\w+):$")
LOG_JOB = re.compile(r"^\s+jobid: (\d+)$")
LOG_DONE = re.compile(r"^Finished jobid: (\d+)")


def rule_seconds(log: str) -> dict[str, dict[str, float]]:
    """Per rule of a Snakemake log: ``{"jobs", "seconds" (summed wall), "longest"}``, from the
    time stamp before each job's start and before its ``Finished jobid`` line (1 s steps),
    largest sum first."""
    now: datetime.datetime | None = None
    rule = ""
    started: dict[str, tuple[str, datetime.datetime]] = {}
    jobs: dict[str, list[float]] = {}
    for line in log.splitlines():
        if stamp := LOG_TIME.match(line):
            now = datetime.datetime.strptime(stamp[1], "%a %b %d %H:%M:%S %Y")
        elif header := LOG_RULE.match(line):
            rule = header[1]
        elif (job := LOG_JOB.match(line)) and now is not None:
            started[job[1]] = (rule, now)
        elif (done := LOG_DONE.match(line)) and done[1] in started and now is not None:
            name, begin = started.pop(done[1])
            jobs.setdefault(name, []).append((now - begin).total_seconds())
    table = {
        name: {"jobs": len(times), "seconds": sum(times), "longest": max(times)}
        for name, times in jobs.items()
    }
    return dict(sorted(table.items(), key=lambda item: -item[1]["seconds"]))


def profile_table(rules: dict[str, dict[str, float]], cores: int, wall: float) -> str:
    """Markdown: the rules of :func:`rule_seconds` and how busy the cores were."""
    rows = [
        [name, r["jobs"], round(r["seconds"]), round(r["longest"])] for name, r in rules.items()
    ]
    busy = sum(r["seconds"] for r in rules.values())
    header = ["rule", "jobs", "summed job wall s", "longest job s"]
    return (
        results_file.markdown_table(header, rows)
        + f"\nSummed job wall time {round(busy)} s = {busy / (cores * wall):.2f} of "
        f"{cores} cores × the workflow's {round(wall)} s.\n"
    )


def leaderboard_rows(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def interval(row: dict[str, str], key: str) -> str:
    return f"{float(row[key]):.2f} [{float(row[key + '_lo']):.2f}, {float(row[key + '_hi']):.2f}]"


def demo_table(rows: list[dict[str, str]]) -> str:
    """The README's table: per method (by combined rank) completely S, combined S, avF1, C."""
    by = {(r["method"], r["set"]): r for r in rows}
    combined = sorted((r for r in rows if r["set"] == "combined"), key=lambda r: int(r["rank"]))
    table = []
    for row in combined:
        completely = by.get((row["method"], "completely"))
        table.append(
            [
                row["method"],
                interval(completely, "S") if completely else "",
                interval(row, "S"),
                f"{float(row['avF1']):.2f}",
                f"{float(row['C']):.2f}",
            ]
        )
    header = ["method", "completely S", "combined S", "combined avF1", "combined C"]
    return results_file.markdown_table(header, table)


def median_pieces(path: Path) -> float | None:
    """Median 26-connected pieces per neuron of a ``dataset-stats`` csv (None if absent)."""
    if not path.exists():
        return None
    with open(path) as handle:
        pieces = [float(r["pieces"]) for r in csv.DictReader(handle) if r["level"] == "neuron"]
    return statistics.median(pieces) if pieces else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", type=Path, help="default: the Snakefile's own")
    parser.add_argument("--workdir", type=Path, help="scratch directory, kept (default: a new one)")
    parser.add_argument("--keep", action="store_true", help="keep the new scratch directory")
    parser.add_argument(
        "--setup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time `make setup` in the copy and run its venv (default); --no-setup: this Python",
    )
    results_file.add_out_option(parser, "demo")
    args = parser.parse_args()
    config_path = (args.configfile or REPO / "config" / "config.yaml").resolve()
    config = yaml.safe_load(config_path.read_text())
    dataset = config["run"][0]
    scratch = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fisbe-demo-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    copy_repository(workdir)
    if args.configfile:  # replaces the default (a --configfile would be merged into it)
        shutil.copyfile(config_path, workdir / "config" / "config.yaml")
    log = workdir / "bench_demo.log"
    report = f"results/{dataset}/report.zip"
    start = results_file.started()
    seconds = {"setup": run_step(["make", "setup"], workdir, log)} if args.setup else {}
    python = str(workdir / ".venv" / "bin" / "python") if args.setup else sys.executable
    snakemake = [python, "-m", "snakemake", "--cores", str(args.cores)]
    seconds["workflow"] = run_step(snakemake, workdir, log)
    snakemake_log = max((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    rules = rule_seconds(snakemake_log.read_text())
    seconds["report"] = run_step([*snakemake, "--report", report], workdir, log)
    seconds["total"] = sum(seconds.values())
    rows = leaderboard_rows(workdir / "results" / dataset / "leaderboard" / "leaderboard.csv")
    images = {r["set"]: r["num_images"] for r in rows if r["set"] != "combined"}
    spec = config["datasets"][dataset]
    shape = "×".join(str(n) for n in spec.get("shape", []))
    pieces = median_pieces(workdir / "results" / dataset / "data" / "dataset_stats.csv")
    real_pieces = median_pieces(REAL_STATS)
    steps = ", ".join(f"{step} {minutes(s)}" for step, s in seconds.items() if step != "total")
    table = (
        f"Wall time, {args.cores} cores: **{minutes(seconds['total'])}** "
        f"({steps}; budget {BUDGET}).\n\n"
        f"Test split ({images.get('completely', 0)} completely + {images.get('partly', 0)} "
        f"partly labelled images, {shape}), S with 95 % bootstrap interval, "
        f"from `results/{dataset}/leaderboard/leaderboard.csv`:\n\n{demo_table(rows)}"
    )
    if pieces is not None and real_pieces is not None:
        table += (
            f"\nMedian 26-connected pieces per neuron: {pieces:g} in this dataset "
            f"(`results/{dataset}/data/dataset_stats.csv`), {real_pieces:g} in the two real "
            "FISBe ground truths (`src/fisbe_bench/data/fisbe_real_stats.csv`).\n"
        )
    raw: dict[str, Any] = {
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "cores": args.cores,
        "dataset": {dataset: spec},
        "methods": config.get("methods", {}),
        "median_pieces_per_neuron": {"dataset": pieces, "real_fisbe": real_pieces},
        "leaderboard.csv": rows,
    }
    table += (
        "\nWhere the workflow's wall time went (from `.snakemake/log/`, jobs run side by "
        f"side):\n\n{profile_table(rules, args.cores, seconds['workflow'])}"
    )
    raw["rules"] = rules
    print(table)
    command = results_file.command_line()
    results_file.write_section(
        args.out,
        title="`make demo`: wall time and leaderboard",
        start=start,
        raw=raw,
        table=table,
        command=command,
        notes="The scratch copy runs what `make demo` runs: "
        + ("`make setup`, " if args.setup else "(set-up skipped: `--no-setup`) ")
        + f"`{' '.join(['snakemake', *snakemake[3:]])}` and the same with `--report {report}`.",
        trees=["workflow"],
    )
    if scratch and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir}", file=sys.stderr)


if __name__ == "__main__":
    main()

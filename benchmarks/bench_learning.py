"""Learning curves of B1 on the synthetic default: test S against CPU training time.

    python benchmarks/bench_learning.py [--steps 200 500 1000 2000 4000] [--cores 2] [--out F]

Copies the repository's files into a scratch directory (as ``bench_demo.py`` does) and runs
the workflow there on the demo dataset, once per budget, with one B1 method per training
regime: ``unet_affinity`` (``config/unet/demo.yaml``, completely labelled images) and
``unet_affinity_partly`` (``demo_partly.yaml``, completely + partly labelled), each the demo
preset with only ``steps`` changed; next to them ``colour_clustering`` and ``threshold_cc`` as
references. Each budget's run resumes the previous budget's training (``steps`` is a resumable
key; on CPU a resumed run ends with the weights of an uninterrupted one, and the demo presets
export the final weight average, ``select: last``), so a point is the network trained for that
many steps from scratch, its decoding tuned on val and scored on the test split exactly as
``make demo`` does. The training minutes of a point are the summed wall time of its
``train`` jobs (``results/<dataset>/benchmarks/<method>/train.tsv`` of each run; the demo
presets train on one core each, two jobs side by side on 2 cores).

Writes ``--out`` (``benchmarks/RESULTS-learning.md``): the raw ``{"commit", "reference",
"curves"}`` JSON, a table, and the figure ``benchmarks/learning.png`` (S of the combined test
split against training minutes, the references as horizontal lines).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import results_file
import yaml
from bench_demo import copy_repository, run_step

REPO = results_file.REPO
FIGURE = REPO / "benchmarks" / "learning.png"
REGIMES = {
    "completely": "config/unet/demo.yaml",
    "completely+partly": "config/unet/demo_partly.yaml",
}
REFERENCES = ("colour_clustering", "threshold_cc")


def method_name(training: str) -> str:
    return "unet_affinity" if training == "completely" else "unet_affinity_partly"


def learning_config(workdir: Path, steps: int) -> dict[str, Any]:
    """The demo config with the reference methods and one B1 method per regime, trained for
    ``steps`` (its preset written next to the demo presets in ``workdir``)."""
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    methods = {name: config["methods"][name] for name in REFERENCES}
    for training, preset in REGIMES.items():
        name = method_name(training)
        base = yaml.safe_load((workdir / preset).read_text())
        path = Path(preset).with_name(f"learning_{name}.yaml")
        (workdir / path).write_text(yaml.safe_dump({**base, "steps": steps}, sort_keys=False))
        methods[name] = {**config["methods"][name], "preset": str(path)}
    config["methods"] = methods
    return config


def scores(leaderboard: Path) -> dict[str, dict[str, float]]:
    """S per method and set (completely, partly, combined) of a ``leaderboard.csv``."""
    table: dict[str, dict[str, float]] = {}
    with open(leaderboard) as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["method"], {})[row["set"]] = round(float(row["S"]), 4)
    return table


def train_minutes(results: Path, method: str) -> float:
    with open(results / "benchmarks" / method / "train.tsv") as handle:
        return round(float(next(csv.DictReader(handle, delimiter="\t"))["s"]) / 60, 2)


def curve_point(
    table: dict[str, dict[str, float]], training: str, steps: int, minutes: float
) -> dict[str, Any]:
    """One point of a curve: the regime's method after ``steps`` (``minutes`` of training)."""
    scored = table[method_name(training)]
    return {
        "method": "unet_affinity",
        "training": training,
        "steps": steps,
        "minutes": round(minutes, 2),
        "S_combined": scored["combined"],
        "S_completely": scored["completely"],
        "S_partly": scored["partly"],
    }


def plot(raw: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for training, marker in zip(REGIMES, "os", strict=True):
        points = [c for c in raw["curves"] if c["training"] == training]
        ax.plot(
            [c["minutes"] for c in points],
            [c["S_combined"] for c in points],
            marker=marker,
            label=f"unet_affinity, {training}",
        )
        for c in points:
            ax.annotate(str(c["steps"]), (c["minutes"], c["S_combined"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
    for (name, s), style in zip(raw["reference"].items(), ("--", ":"), strict=True):
        ax.axhline(s, color="grey", linestyle=style, label=f"{name} (untrained)")
    ax.set_xlabel("training minutes (one CPU core)")
    ax.set_ylabel("S, combined test split")
    ax.set_ylim(0, 1)
    ax.set_title("B1 on the synthetic default: S against CPU training time", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[200, 500, 1000, 2000, 4000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="new scratch directory, kept")
    parser.add_argument("--figure", type=Path, default=FIGURE)
    results_file.add_out_option(parser, "learning")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fisbe-learning-")).resolve()
    if workdir.is_dir() and any(workdir.iterdir()):  # its trainings would resume, not restart
        sys.exit(f"{workdir}: not empty (an earlier run?); remove it or name a new --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    copy_repository(workdir)
    start = results_file.started()
    snakemake = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
    minutes = dict.fromkeys(REGIMES, 0.0)
    curves, seconds = [], 0.0
    for steps in sorted(args.steps):
        config = learning_config(workdir, steps)
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        seconds += run_step(snakemake, workdir, workdir / f"bench_learning_{steps}.log")
        results = workdir / "results" / config["run"][0]
        table = scores(results / "leaderboard" / "leaderboard.csv")
        for training in REGIMES:
            minutes[training] += train_minutes(results, method_name(training))
            curves.append(curve_point(table, training, steps, minutes[training]))
        print(json.dumps(curves[-2:]), flush=True)
    raw: dict[str, Any] = {
        "commit": results_file.commit(),
        "reference": {name: table[name]["combined"] for name in REFERENCES},
        "curves": sorted(curves, key=lambda c: (c["training"] != "completely", c["steps"])),
        "workflow_seconds": round(seconds, 1),
    }
    rows = [
        [c["training"], c["steps"], c["minutes"], c["S_completely"], c["S_partly"], c["S_combined"]]
        for c in raw["curves"]
    ]
    rows += [[f"{name} (reference)", "", "", table[name]["completely"], table[name]["partly"],
              table[name]["combined"]] for name in REFERENCES]  # fmt: skip
    header = ["B1 training", "steps", "train minutes", "S completely", "S partly", "S combined"]
    text = results_file.markdown_table(header, rows)
    plot(raw, args.figure)
    print(text, end="")
    results_file.write_section(
        args.out,
        title="Learning curves of B1 on the synthetic default",
        start=start,
        raw=raw,
        table=text + f"\nFigure: `{args.figure.relative_to(REPO)}`.\n",
        notes="The demo presets with only `steps` changed; each budget one workflow run "
        f"(`snakemake --cores {args.cores}`, {round(seconds / 60)} min wall in all) that resumes "
        "the previous budget's training; decoding tuned on val, S on the test split "
        "(3 completely + 2 partly labelled images).",
        trees=["workflow"],
    )
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Learning curves of B1 on the synthetic default: test S against CPU training time.

    python benchmarks/bench_learning.py [--steps 200 500 1000 2000] [--cores 2] [--out F]

Copies the repository's files into a scratch directory (as ``bench_demo.py`` does) and runs
the workflow there on the demo dataset with one method per training regime and budget:
``unet_affinity_<N>`` (``config/unet/demo.yaml``, completely labelled images) and
``unet_affinity_partly_<N>`` (``demo_partly.yaml``, completely + partly labelled), each the
demo preset with ``steps: N`` and nothing else changed, trained from scratch, its decoding
tuned on val and scored on the test split exactly as ``make demo`` does; next to them
``colour_clustering`` and ``threshold_cc`` as references. The training minutes of a point are
its ``train`` job's wall time (``results/<dataset>/benchmarks/<method>/train.tsv``; the
demo presets train on one core each, two jobs side by side on 2 cores).

Writes ``--out`` (``benchmarks/RESULTS-learning.md``): the raw ``{"commit", "reference",
"curves"}`` JSON, a table, and the figure ``benchmarks/learning.png`` (S of the combined test
split against training minutes, the references as horizontal lines).
"""

from __future__ import annotations

import argparse
import csv
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


def method_name(training: str, steps: int) -> str:
    return f"unet_affinity_{steps}" if training == "completely" else f"unet_affinity_partly_{steps}"


def learning_config(workdir: Path, steps: list[int]) -> dict[str, Any]:
    """The demo config with the reference methods and one B1 method per regime and budget
    (its preset written next to the demo presets in ``workdir``)."""
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    methods = {name: config["methods"][name] for name in REFERENCES}
    for training, preset in REGIMES.items():
        base = yaml.safe_load((workdir / preset).read_text())
        for n in steps:
            name = method_name(training, n)
            path = Path(preset).with_name(f"learning_{name}.yaml")
            (workdir / path).write_text(yaml.safe_dump({**base, "steps": n}, sort_keys=False))
            methods[name] = {
                "kind": "unet_affinity",
                "preset": str(path),
                "grid": config["methods"]["unet_affinity"]["grid"],
            }
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
    results: Path, table: dict[str, dict[str, float]], training: str, steps: int
) -> dict[str, Any]:
    """One point of a curve: the method trained ``steps`` in ``training``, its minutes and S."""
    name = method_name(training, steps)
    return {
        "method": "unet_affinity",
        "training": training,
        "steps": steps,
        "minutes": train_minutes(results, name),
        "S_combined": table[name]["combined"],
        "S_completely": table[name]["completely"],
        "S_partly": table[name]["partly"],
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
    parser.add_argument("--steps", type=int, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--workdir", type=Path, help="scratch directory, kept")
    parser.add_argument("--figure", type=Path, default=FIGURE)
    results_file.add_out_option(parser, "learning")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="fisbe-learning-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    copy_repository(workdir)
    config = learning_config(workdir, sorted(args.steps))
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dataset = config["run"][0]
    start = results_file.started()
    snakemake = [sys.executable, "-m", "snakemake", "--cores", str(args.cores)]
    seconds = run_step(snakemake, workdir, workdir / "bench_learning.log")
    results = workdir / "results" / dataset
    table = scores(results / "leaderboard" / "leaderboard.csv")
    raw: dict[str, Any] = {
        "commit": results_file.commit(),
        "reference": {name: table[name]["combined"] for name in REFERENCES},
        "curves": [
            curve_point(results, table, training, n)
            for training in REGIMES
            for n in sorted(args.steps)
        ],
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
        notes="The demo presets with only `steps` changed, each budget trained from scratch in "
        f"one workflow run (`snakemake --cores {args.cores}`, {round(seconds / 60)} min wall); "
        "decoding tuned on val, S on the test split (3 completely + 2 partly labelled images).",
        trees=["workflow"],
    )
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

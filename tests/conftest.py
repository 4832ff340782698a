"""Shared test helpers: repository paths, the real fixtures, a Snakemake runner and a tiny
workflow config, and fake evaluation folders. Test modules import them from here
(``from conftest import ...``); no test module imports another.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fisbe_bench.reports.evaluations import combine_summaries

PARALLEL = "PYTEST_XDIST_WORKER" in os.environ
"""Run by one of pytest-xdist's workers (``make test`` runs two on the 2 cores)."""
if PARALLEL:
    # The workers share the 2 cores: every process they start runs one thread (OpenMP threads
    # spin while they wait, so oversubscribed threads waste whole cores).
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
CORES: tuple[str, ...] = ("--cores", "2", *(("--max-threads", "1") if PARALLEL else ()))
"""Snakemake options of the tests' workflow runs: two jobs at a time; one thread per job when
the tests run in parallel."""

DATA = Path(__file__).resolve().parent / "data"
FISBE_REAL = DATA / "fisbe-real"
"""Two real FISBe ground truths, Duan et al.'s predictions, the official evaluator's outputs."""
OFFICIAL_SPLIT = DATA / "sample_list_per_split.txt"
R14 = "R14A02-20180905_65_A6"
"""Completely labelled real test image (7 neurons)."""
VT = "VT011145-20171222_63_I2"
"""Partly labelled real test image (8 neurons, overlapping)."""
DUAN_KEY = "volumes/gmm_label_cleaned"
"""The scored label image of Duan et al.'s predictions in ``fisbe-real/pred/*.hdf``."""


@pytest.fixture(scope="session")
def real_evaluation(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """Duan et al.'s predictions of both real images scored once by ``evaluate_directories``
    with the official split (test split): the summary and the evaluation folder."""
    from fisbe_bench.metrics.directories import evaluate_directories

    root = tmp_path_factory.mktemp("real")
    pred_dir = root / "pred"
    pred_dir.mkdir()
    for name in (R14, VT):
        (pred_dir / f"{name}.hdf").symlink_to(FISBE_REAL / "pred" / f"{name}.hdf")
    summary = evaluate_directories(
        FISBE_REAL / "gt",
        pred_dir,
        root / "eval",
        pred_key=DUAN_KEY,
        split_file=OFFICIAL_SPLIT,
        split="test",
    )
    return summary, root / "eval"


# --- the workflow -------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
TINY = {
    "run": ["tiny"],
    "datasets": {
        "tiny": {
            "source": "synthetic",
            "n_completely": 3,
            "n_partly": 3,
            "shape": [40, 96, 96],
            "seed": 3,
        }
    },
    "methods": {"threshold_cc": {"kind": "threshold_cc"}},
    "leaderboard": {"bootstrap": 200, "seed": 0},
}
TINY_LEARNED = {**TINY, "datasets": {"tiny": {**TINY["datasets"]["tiny"], "shape": [24, 48, 48]}}}
"""TINY at a third of its voxels, for the workflow runs that train networks: their few training
steps leave every voxel a decoding candidate, and decoding all of them dominates the run."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, the others in their order: run in parallel, the many quick tests then
    fill the time beside the few long ones instead of leaving one worker on a long tail."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow in ``workdir``."""
    proc = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{tail}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run."""
    block = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def read_table(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# --- fake evaluation folders ----------------------------------------------------------------

THRESHOLDS = [f"{t / 10:.1f}" for t in range(1, 10)]
METRICS = ["S", "avF1", "C", "clDice_TP", "tp", "FS", "FM"]


def fake_rows(rng: np.random.Generator, set_name: str, n: int, skill: float) -> list[dict]:
    """Per-sample rows with consistent TP/FP/FN, coverages and per-image scores."""
    rows = []
    for i in range(n):
        n_gt, n_pred = int(rng.integers(2, 9)), int(rng.integers(1, 12))
        coverage = np.clip(rng.normal(skill, 0.3, n_gt), 0, 1).round(6)
        matched = min(n_gt, n_pred, int(rng.binomial(n_gt, skill)))
        row: dict = {"sample": f"{set_name[0]}{i:02d}", "set": set_name}
        f1 = []
        for k, th in enumerate(THRESHOLDS):
            tp = max(0, matched - k // 3)
            fp = n_pred - tp if set_name == "completely" else (n_pred - tp) // 2
            row.update({f"TP_{th}": tp, f"FP_{th}": fp, f"FN_{th}": n_gt - tp})
            f1.append(2 * tp / (2 * tp + fp + n_gt - tp))
        tp05 = row["TP_0.5"]
        row.update(
            avF1=np.mean(f1),
            C=coverage.mean(),
            clDice_TP=0.8 if tp05 else math.nan,
            tp=tp05 / n_gt,
            FS=int(rng.integers(0, 3)),
            FM=int(rng.integers(0, 3)),
            num_gt=n_gt,
            num_pred=n_pred,
            gt_coverage=json.dumps(coverage.tolist()),
        )
        row["S"] = 0.5 * row["avF1"] + 0.5 * row["C"]
        rows.append(row)
    return rows


def pooled_summary(rows: list[dict]) -> dict:
    """Set summary by the FISBe micro-pooling rules, written independently of the code."""
    f1 = {}
    for th in THRESHOLDS:
        tp, fp, fn = (sum(r[f"{k}_{th}"] for r in rows) for k in ("TP", "FP", "FN"))
        f1[th] = 2 * tp / (2 * tp + fp + fn)
    coverages = np.concatenate([json.loads(r["gt_coverage"]) for r in rows])
    av_f1, c = float(np.mean(list(f1.values()))), float(coverages.mean())
    tp05, n_gt = sum(r["TP_0.5"] for r in rows), sum(r["num_gt"] for r in rows)
    return {
        "S": 0.5 * av_f1 + 0.5 * c,
        "avF1": av_f1,
        "C": c,
        "clDice_TP": 0.8,
        "tp": tp05 / n_gt,
        "FS": sum(r["FS"] for r in rows),
        "FM": sum(r["FM"] for r in rows),
        "num_gt": n_gt,
        "num_pred": sum(r["num_pred"] for r in rows),
        "num_images": len(rows),
        "F1": f1,
    }


def write_evaluation(
    folder: Path,
    skill: float,
    seed: int,
    sets: tuple[str, ...] = ("completely", "partly"),
    n: int = 8,
    with_combined: bool = True,
    coverage_lists: bool = True,
) -> Path:
    """A fake ``evaluation/`` folder (summary.json, per_sample.csv, per_threshold.csv)."""
    rng = np.random.default_rng(seed)
    rows = {name: fake_rows(rng, name, n, skill) for name in sets}
    summary = {name: pooled_summary(r) for name, r in rows.items()}
    if with_combined and len(sets) == 2:
        summary["combined"] = combine_summaries(summary["completely"], summary["partly"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    per_sample = pd.DataFrame([r for name in sets for r in rows[name]])
    if not coverage_lists:
        per_sample = per_sample.drop(columns="gt_coverage")
    per_sample.to_csv(folder / "per_sample.csv", index=False)
    records = []
    for name in sets:
        for th in THRESHOLDS:
            tp, fp, fn = (sum(r[f"{k}_{th}"] for r in rows[name]) for k in ("TP", "FP", "FN"))
            records.append(
                {
                    "set": name,
                    "threshold": float(th),
                    "TP": tp,
                    "FP": fp,
                    "FN": fn,
                    "precision": tp / (tp + fp),
                    "recall": tp / (tp + fn),
                    "F1": summary[name]["F1"][th],
                }
            )
    pd.DataFrame(records).to_csv(folder / "per_threshold.csv", index=False)
    return folder

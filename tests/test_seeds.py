"""Training seeds of learned methods: the jobs per seed, the spread across seeds on the
leaderboard, and single-seed configs left as they were."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import (
    CORES,
    REPO,
    TINY,
    TINY_LEARNED,
    job_counts,
    read_table,
    snakemake,
    write_config,
    write_evaluation,
)

from fisbe_bench.errors import FisbeError
from fisbe_bench.plan import split_counts
from fisbe_bench.reports import tables
from fisbe_bench.reports.leaderboard import write_leaderboard
from fisbe_bench.training import method_seeds

UNET = {
    "kind": "unet_affinity",
    "preset": "config/unet/tiny.yaml",
    "grid": "config/unet_grid_tiny.yaml",
}


def config_with(**unet: object) -> dict:
    return {**TINY_LEARNED, "methods": {**TINY["methods"], "unet_affinity": {**UNET, **unet}}}


def test_method_seeds() -> None:
    assert method_seeds({"kind": "threshold_cc"}, REPO) == []
    assert method_seeds(UNET, REPO) == [0]  # the preset's seed
    assert method_seeds({**UNET, "seeds": [4, 2]}, REPO) == [4, 2]


def _n_val() -> int:
    """Val images of the TINY dataset (both labelled sets)."""
    tiny = TINY["datasets"]["tiny"]
    return sum(split_counts(tiny[key])[1] for key in ("n_completely", "n_partly"))


def test_single_seed_dry_run_has_the_jobs_of_before(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, config_with())), "-n")
    counts = job_counts(proc.stdout)
    n_test, n_val = counts["threshold_cc"], _n_val()
    unet = {
        "train_unet_affinity": 1,
        "predict_unet_affinity": n_test + n_val,  # val: the decoding is tuned on it
        "tune_unet_affinity": 1,
        "unet_affinity": n_test,
    }
    assert {k: v for k, v in counts.items() if "unet" in k or "seed" in k} == unet
    assert counts["evaluate"] == 2 and counts["leaderboard"] == 1
    first = tmp_path / "first"
    first.mkdir()
    same = write_config(first, config_with(seeds=[0]))  # the preset's seed, listed
    assert job_counts(snakemake(first, "--configfile", str(same), "-n").stdout) == counts


def test_seeds_dry_run_trains_once_more_per_further_seed(tmp_path: Path) -> None:
    config = write_config(tmp_path, config_with(seeds=[0, 1, 2]))
    counts = job_counts(snakemake(tmp_path, "--configfile", str(config), "-n").stdout)
    n_test = counts["threshold_cc"]
    assert counts["train_unet_affinity"] == 1  # the first seed is the method's run
    assert counts["train_unet_affinity_seed"] == counts["evaluate_seed"] == 2
    assert counts["predict_unet_affinity_seed"] == 2 * (n_test + _n_val())
    assert counts["tune_unet_affinity_seed"] == 2 and counts["unet_affinity_seed"] == 2 * n_test
    assert counts["evaluate"] == 2 and counts["leaderboard"] == 1


@pytest.mark.parametrize(
    ("methods", "named"),
    [
        ({"m": {"kind": "threshold_cc", "seeds": [0, 1]}}, "'seeds' was unexpected"),
        ({"m": {**UNET, "seeds": []}}, "should be non-empty"),
        ({"m": {**UNET, "seeds": [1, 1]}}, "has non-unique elements"),
        ({"m": {**UNET, "tta": "rotate"}}, "'rotate' is not one of"),
    ],
)
def test_schema_checks_seeds_and_tta(tmp_path: Path, methods: dict, named: str) -> None:
    bad = {**TINY, "methods": methods}
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, bad)), "-n", check=False)
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr, proc.stderr[-2000:]


@pytest.fixture
def evaluations(tmp_path: Path) -> dict[str, dict[int, Path]]:
    """Method -> seed -> fake evaluation folder; ``plain`` has a single run."""
    return {
        "plain": {0: write_evaluation(tmp_path / "plain/evaluation", 0.3, 1)},
        "unet": {
            seed: write_evaluation(tmp_path / f"unet/seed_{seed}", skill, 10 + seed)
            for seed, skill in ((7, 0.6), (1, 0.5), (2, 0.8))
        },
    }


def test_leaderboard_spread_across_seeds(evaluations: dict, tmp_path: Path) -> None:
    main = {method: runs[next(iter(runs))] for method, runs in evaluations.items()}
    write_leaderboard("ds", main, tmp_path / "one", bootstrap=20)
    write_leaderboard("ds", main, tmp_path / "all", bootstrap=20, seed_runs=evaluations)
    one = pd.read_csv(tmp_path / "one/leaderboard.csv")
    board = pd.read_csv(tmp_path / "all/leaderboard.csv")
    assert list(board.columns) == tables.leaderboard_columns()
    assert list(board.columns[-13:]) == tables.seed_columns()
    kept = [c for c in board.columns if c not in tables.seed_columns()]
    pd.testing.assert_frame_equal(board[kept], one[kept])  # ranks and scores: the first seed
    assert (one["n_seeds"] == 1).all() and one["S_seed_mean"].isna().all()
    for path in ("pairwise.csv", "bootstrap.csv"):
        assert (tmp_path / "one" / path).read_text() == (tmp_path / "all" / path).read_text()

    summaries = [
        json.loads((folder / "summary.json").read_text()) for folder in evaluations["unet"].values()
    ]
    for row in board[board["method"] == "unet"].itertuples(index=False):
        assert row.n_seeds == 3
        for key in ("S", "avF1", "C"):
            values = [s[row.set][key] for s in summaries]
            assert getattr(row, f"{key}_seed_mean") == pytest.approx(np.mean(values))
            assert getattr(row, f"{key}_seed_sd") == pytest.approx(np.std(values, ddof=1))
            assert getattr(row, f"{key}_seed_min") == pytest.approx(min(values))
            assert getattr(row, f"{key}_seed_max") == pytest.approx(max(values))
        assert summaries[0][row.set]["S"] == pytest.approx(row.S)
    plain = board[board["method"] == "plain"]
    assert (plain["n_seeds"] == 1).all() and plain["S_seed_sd"].isna().all()

    per_seed = read_table(tmp_path / "all/seeds.csv")
    assert {(r["method"], r["seed"]) for r in per_seed} == {("plain", "0")} | {
        ("unet", s) for s in ("7", "1", "2")
    }
    markdown = (tmp_path / "all/leaderboard.md").read_text()
    section = markdown.split("## Spread across training seeds", 1)[1].split("\n## ", 1)[0]
    combined = board[(board["method"] == "unet") & (board["set"] == "combined")].iloc[0]
    spread = f"{combined.S_seed_mean:.2f} ± {combined.S_seed_sd:.2f}"
    assert f"| unet | combined | 3 | {spread}" in section
    assert "| plain |" not in section
    assert "Spread across training seeds" not in (tmp_path / "one/leaderboard.md").read_text()
    page = (tmp_path / "all/leaderboard.html").read_text()
    assert 'id="seeds"' in page and spread in page


def test_seeds_of_an_unknown_method_are_refused(evaluations: dict, tmp_path: Path) -> None:
    main = {"plain": evaluations["plain"][0]}
    with pytest.raises(FisbeError, match="unknown method"):
        write_leaderboard("ds", main, tmp_path / "out", bootstrap=5, seed_runs=evaluations)


@pytest.mark.slow
def test_tiny_workflow_trains_and_scores_every_seed(tmp_path: Path) -> None:
    config = write_config(tmp_path, config_with(seeds=[0, 1], tta="flip"))
    snakemake(tmp_path, "--configfile", str(config), *CORES)
    method = tmp_path / "results/tiny/unet_affinity"
    for model, seed in ((method / "model", 0), (method / "seeds/seed_1/model", 1)):
        state = torch.load(str(model / "best.pt"), map_location="cpu", weights_only=True)
        assert state["config"]["seed"] == seed
    assert not (method / "seeds/seed_0").exists()  # the first seed is the method's own run
    logs = list((tmp_path / "logs/tiny/unet_affinity").rglob("probabilities_*.log"))
    # 2 seeds x (2 test + the val images tuning decodes)
    assert len(logs) == 2 * (2 + _n_val())
    assert all('"tta": true' in log.read_text() for log in logs)
    summaries = [
        json.loads((folder / "summary.json").read_text())
        for folder in (method / "evaluation", method / "seeds/seed_1/evaluation")
    ]
    board = read_table(tmp_path / "results/tiny/leaderboard/leaderboard.csv")
    row = next(r for r in board if r["method"] == "unet_affinity" and r["set"] == "combined")
    values = [s["combined"]["S"] for s in summaries]
    assert row["n_seeds"] == "2" and float(row["S"]) == pytest.approx(values[0])
    assert float(row["S_seed_mean"]) == pytest.approx(np.mean(values))
    assert float(row["S_seed_sd"]) == pytest.approx(np.std(values, ddof=1))
    assert float(row["S_seed_min"]) == pytest.approx(min(values))
    markdown = (tmp_path / "results/tiny/leaderboard/leaderboard.md").read_text()
    assert "## Spread across training seeds" in markdown
    pairwise = read_table(tmp_path / "results/tiny/leaderboard/pairwise.csv")
    assert {r["method_a"] for r in pairwise} | {r["method_b"] for r in pairwise} == {
        "threshold_cc",
        "unet_affinity",
    }
    proc = snakemake(tmp_path, "--configfile", str(config), "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr

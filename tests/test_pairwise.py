"""Paired comparisons of methods: paired bootstrap of ΔS, Wilcoxon + Holm, Friedman."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_evaluation
from scipy import stats as scipy_stats

from fisbe_bench.reports import stats
from fisbe_bench.reports.evaluations import load_evaluations
from fisbe_bench.reports.leaderboard import write_leaderboard


@pytest.fixture
def three(tmp_path: Path) -> dict[str, Path]:
    """Three methods of different quality on the same 8 + 8 image names."""
    return {
        name: write_evaluation(tmp_path / name / "evaluation", skill, seed)
        for name, skill, seed in (("weak", 0.2, 1), ("strong", 0.85, 2), ("middle", 0.5, 3))
    }


def _per_image_s(folder: Path, set_name: str) -> pd.Series:
    rows = pd.read_csv(folder / "per_sample.csv")
    if set_name != "combined":
        rows = rows[rows["set"] == set_name]
    return rows.set_index(["set", "sample"])["S"]


def test_wilcoxon_and_holm_match_scipy(three: dict[str, Path]) -> None:
    table = stats.pairwise_table(load_evaluations(three), n_boot=100, seed=0)
    pairs = table[table["test"] == "wilcoxon"]
    assert len(pairs) == 3 * 3  # three pairs in each of completely, partly, combined
    for name, rows in pairs.groupby("set"):
        assert list(rows["method_a"]) == ["strong", "strong", "middle"]  # by S, best first
        for row in rows.itertuples(index=False):
            a, b = _per_image_s(three[row.method_a], name), _per_image_s(three[row.method_b], name)
            expected = scipy_stats.wilcoxon(a.to_numpy(), b.loc[a.index].to_numpy())
            assert row.statistic == pytest.approx(expected.statistic)
            assert row.p == pytest.approx(expected.pvalue)
            assert row.n == len(a) == (16 if name == "combined" else 8)
        np.testing.assert_allclose(rows["p_holm"], stats.holm(rows["p"].to_numpy()))


def test_friedman_matches_scipy(three: dict[str, Path]) -> None:
    table = stats.pairwise_table(load_evaluations(three), n_boot=50, seed=0)
    friedman = table[table["test"] == "friedman"].set_index("set")
    assert set(friedman.index) == {"completely", "partly", "combined"}
    assert friedman[["method_a", "method_b"]].isna().all().all()
    for name in friedman.index:
        columns = [_per_image_s(three[m], name) for m in ("strong", "middle", "weak")]
        expected = scipy_stats.friedmanchisquare(*(c.loc[columns[0].index] for c in columns))
        assert friedman.loc[name, "statistic"] == pytest.approx(expected.statistic)
        assert friedman.loc[name, "p"] == pytest.approx(expected.pvalue)
        assert friedman.loc[name, "n"] == len(columns[0])


def test_friedman_needs_three_methods(three: dict[str, Path]) -> None:
    two = dict(list(three.items())[:2])
    table = stats.pairwise_table(load_evaluations(two), n_boot=50)
    assert "friedman" not in set(table["test"])
    assert len(table) == 3  # one pair per set


def test_method_against_itself_is_zero(tmp_path: Path) -> None:
    folder = write_evaluation(tmp_path / "m", 0.5, 4)
    table = stats.pairwise_table(load_evaluations({"a": folder, "b": folder}), n_boot=300)
    assert (table["delta_S"] == 0).all()
    assert (table["ci_low"] == 0).all() and (table["ci_high"] == 0).all()
    assert (table["p"] == 1).all() and (table["p_holm"] == 1).all()


def test_paired_bootstrap_pairs_the_resamples(tmp_path: Path) -> None:
    """Same seed, different skill: strongly correlated per-image scores."""
    folders = {
        name: write_evaluation(tmp_path / name, skill, 6, n=12)
        for name, skill in (("better", 0.6), ("worse", 0.5))
    }
    evaluations = load_evaluations(folders)
    intervals = stats.bootstrap_table(evaluations, n_boot=1000, seed=2)
    table = stats.pairwise_table(evaluations, n_boot=1000, seed=2)
    pairs = table[table["test"] == "wilcoxon"].set_index("set")
    for name, row in pairs.iterrows():
        s = intervals[(intervals["metric"] == "S") & (intervals["set"] == name)]
        a, b = (s[s["method"] == row[m]].iloc[0] for m in ("method_a", "method_b"))
        assert row["delta_S"] == pytest.approx(a["estimate"] - b["estimate"], abs=1e-12)
        assert row["ci_low"] <= row["delta_S"] <= row["ci_high"]
        unpaired_width = (a["hi"] - b["lo"]) - (a["lo"] - b["hi"])
        assert row["ci_high"] - row["ci_low"] < unpaired_width, name


def test_paired_interval_of_a_shifted_copy_is_narrow(tmp_path: Path) -> None:
    """B = A with every neuron's coverage lowered by 0.05: ΔS barely varies."""
    (a,) = load_evaluations({"a": write_evaluation(tmp_path / "a", 0.6, 9)})
    shifted = a.per_sample.assign(
        gt_coverage=[
            json.dumps([v - 0.05 for v in json.loads(c)]) for c in a.per_sample["gt_coverage"]
        ]
    )
    b = replace(a, method="b", per_sample=shifted)
    intervals = stats.bootstrap_table([a, b], n_boot=500, seed=0)
    table = stats.pairwise_table([a, b], n_boot=500, seed=0)
    for row in table.itertuples(index=False):
        s = intervals[(intervals["metric"] == "S") & (intervals["set"] == row.set)]
        width = (s["hi"] - s["lo"]).sum()
        assert row.delta_S == pytest.approx(0.025, abs=1e-9)
        assert row.ci_high - row.ci_low < 1e-9 < width


def test_paired_delta_uses_the_leaderboard_resamples(tmp_path: Path) -> None:
    """With one method scoring 0 everywhere, ΔS resamples are the other's S resamples."""
    folder = write_evaluation(tmp_path / "m", 0.5, 8)
    per_sample = pd.read_csv(folder / "per_sample.csv")
    (evaluation,) = load_evaluations({"m": folder})
    zero = evaluation.per_sample.copy()
    for column in zero.columns:
        if column[:3] in ("TP_", "FP_", "FN_"):
            zero[column] = 0
    zero["gt_coverage"] = [[0.0] * int(n) for n in per_sample["num_gt"]]
    delta = stats.paired_delta(evaluation.per_sample, zero, n_boot=400, seed=5)
    own = stats.bootstrap_method(evaluation.per_sample, n_boot=400, seed=5)
    own = own[own["metric"] == "S"].set_index("set")
    for name, (estimate, low, high, n_images) in delta.items():
        assert (estimate, low, high) == pytest.approx(
            tuple(own.loc[name, ["estimate", "lo", "hi"]])
        )
        assert n_images == own.loc[name, "n_images"]


def test_leaderboard_writes_pairwise_files(three: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "board"
    written = write_leaderboard("ds", three, out, bootstrap=100, seed=1)
    table = pd.read_csv(out / "pairwise.csv")
    expected = ["set", "method_a", "method_b", "delta_S", "ci_low", "ci_high", "p", "p_holm"]
    assert list(table.columns[: len(expected)]) == expected
    assert {"test", "statistic", "n"} <= set(table.columns)
    assert set(table["test"]) == {"wilcoxon", "friedman"}
    assert not (out / "stats.csv").exists()
    assert written["pairwise_figure"] == out / "pairwise.png"
    assert (out / "pairwise.png").stat().st_size > 1000 and (out / "pairwise.svg").is_file()
    markdown = (out / "leaderboard.md").read_text()
    assert "## Paired comparisons" in markdown and "Friedman" in markdown
    page = (out / "leaderboard.html").read_text()
    assert 'id="pairwise-completely"' in page and 'id="figure-pairwise"' in page
    assert "Kruskal" not in page and "Dunn" not in page


def test_wilcoxon_and_friedman_edge_cases() -> None:
    assert stats.wilcoxon_test(np.ones(4), np.ones(4)) == (0.0, 1.0)
    assert stats.friedman_test(np.full((5, 3), 0.4)) == (0.0, 1.0)

"""Uncertainty and significance: bootstrap intervals and paired comparisons of methods.

The bootstrap resamples test images with replacement (within each labelled set) and
recomputes the micro-pooled set metrics on every resample, exactly as the leaderboard
aggregates them: F1 per threshold from pooled TP/FP/FN, avF1 their mean, C the mean over
the pooled per-GT coverages, S = (avF1 + C) / 2; "combined" averages the two sets.
Resamples depend only on the seed, the set and the sorted sample names, so methods
scored on the same images see the same resamples: the paired bootstrap of a difference
in S draws each resample once and scores both methods on it. Paired tests on per-image S:
Wilcoxon signed-rank per pair of methods (Holm-corrected within a set) and Friedman
across three or more methods.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fisbe_bench.reports.evaluations import (
    LABELLED_SETS,
    Evaluation,
    coverage_column,
    per_gt_coverages,
    threshold_columns,
)

N_BOOT = 2000
LEVEL = 0.95
PAIRWISE_COLUMNS = [
    "set",
    "method_a",
    "method_b",
    "delta_S",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
    "test",
    "statistic",
    "n",
    "n_boot",
    "seed",
]


@dataclass(frozen=True)
class SetCounts:
    """Per-image inputs of the pooled set metrics, images sorted by name."""

    samples: np.ndarray  # (n,) sample names
    tp: np.ndarray  # (n, T) true positives per threshold
    fp: np.ndarray  # (n, T)
    fn: np.ndarray  # (n, T)
    coverage_sum: np.ndarray  # (n,) sum of per-GT coverages
    num_gt: np.ndarray  # (n,)
    exact_coverage: bool  # False: coverage sums come from C * num_gt

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> SetCounts:
        """Build from per-sample rows with ``TP_<th>``, ``FP_<th>``, ``FN_<th>`` columns."""
        frame = frame.sort_values("sample", kind="stable")
        thresholds = threshold_columns(frame)

        def counts(kind: str) -> np.ndarray:
            columns = [f"{kind}_{th}" for th in thresholds]
            return frame[columns].to_numpy(dtype=float).reshape(len(frame), len(thresholds))

        coverages, exact = per_gt_coverages(frame)
        if "num_gt" in frame.columns:
            num_gt = frame["num_gt"].to_numpy(dtype=float)
        else:
            num_gt = np.array([len(c) for c in coverages], dtype=float)
        return cls(
            samples=frame["sample"].to_numpy(dtype=str),
            tp=counts("TP"),
            fp=counts("FP"),
            fn=counts("FN"),
            coverage_sum=np.array([c.sum() for c in coverages], dtype=float),
            num_gt=num_gt,
            exact_coverage=exact,
        )

    def pooled(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """Pooled avF1, C and S for each row of image ``weights`` (B, n) (multiplicities).

        F1 is 0 where a threshold has no TP, FP or FN at all; C is 0 without GT neurons.
        """
        tp, fp, fn = weights @ self.tp, weights @ self.fp, weights @ self.fn
        denominator = 2 * tp + fp + fn
        f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
        av_f1 = f1.mean(axis=1) if f1.shape[1] else np.full(len(weights), np.nan)
        n_gt = weights @ self.num_gt
        coverage = np.divide(
            weights @ self.coverage_sum, n_gt, out=np.zeros_like(n_gt), where=n_gt > 0
        )
        return {"avF1": av_f1, "C": coverage, "S": 0.5 * av_f1 + 0.5 * coverage}


def resample_weights(n: int, n_boot: int, seed: int, stream: int) -> np.ndarray:
    """(n_boot, n) multiplicities of n images drawn with replacement, seeded per ``stream``."""
    rng = np.random.default_rng([seed, stream])
    draws = rng.integers(0, n, size=(n_boot, n))
    weights = np.zeros((n_boot, n))
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
    return weights


def bootstrap_method(
    per_sample: pd.DataFrame, n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL
) -> pd.DataFrame:
    """Percentile intervals of S, avF1 and C per set for one method's per-sample rows.

    Returns rows set, metric, estimate (pooled over all images), lo, hi, n_images,
    exact_coverage. Sets without images are left out; "combined" needs both sets.
    """
    alpha = (1 - level) / 2
    pooled: dict[str, tuple[dict, dict, int, bool]] = {}
    for stream, name in enumerate(LABELLED_SETS):
        frame = per_sample[per_sample["set"] == name]
        if frame.empty:
            continue
        counts = SetCounts.from_frame(frame)
        weights = resample_weights(len(frame), n_boot, seed, stream)
        estimate, boot = counts.pooled(np.ones((1, len(frame)))), counts.pooled(weights)
        pooled[name] = (estimate, boot, len(frame), counts.exact_coverage)
    if len(pooled) == len(LABELLED_SETS):
        (est_c, boot_c, n_c, exact_c), (est_p, boot_p, n_p, exact_p) = pooled.values()
        pooled["combined"] = (
            {k: (est_c[k] + est_p[k]) / 2 for k in est_c},
            {k: (boot_c[k] + boot_p[k]) / 2 for k in boot_c},
            n_c + n_p,
            exact_c and exact_p,
        )
    records = [
        {
            "set": name,
            "metric": metric,
            "estimate": float(estimate[metric][0]),
            "lo": float(np.quantile(boot[metric], alpha)),
            "hi": float(np.quantile(boot[metric], 1 - alpha)),
            "n_images": n_images,
            "n_boot": n_boot,
            "seed": seed,
            "exact_coverage": exact,
        }
        for name, (estimate, boot, n_images, exact) in pooled.items()
        for metric in ("S", "avF1", "C")
    ]
    return pd.DataFrame(records)


def bootstrap_problem(per_sample: pd.DataFrame) -> str | None:
    """Why pooled metrics cannot be recomputed from these per-sample rows (None: they can)."""
    if not threshold_columns(per_sample):
        return "no TP_/FP_/FN_<threshold> columns"
    if coverage_column(per_sample) is None and not {"C", "num_gt"} <= set(per_sample.columns):
        return "neither per-GT coverages nor C and num_gt"
    return None


def bootstrap_table(
    evaluations: Sequence[Evaluation], n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL
) -> pd.DataFrame:
    """Bootstrap intervals for every method (see :func:`bootstrap_method`).

    A method whose per-sample table lacks TP/FP/FN per threshold gets no intervals (a
    warning says so); without per-GT coverage lists C is pooled from C * num_gt per image
    (exact for the value, and noted in ``exact_coverage``).
    """
    frames = []
    for evaluation in evaluations:
        table = evaluation.per_sample
        problem = bootstrap_problem(table)
        if problem is not None:
            warnings.warn(
                f"{evaluation.path}/per_sample.csv has {problem}: "
                "no bootstrap intervals for this method",
                stacklevel=2,
            )
            continue
        frames.append(bootstrap_method(table, n_boot, seed, level).assign(method=evaluation.method))
    if not frames:
        return pd.DataFrame(columns=["method", "set", "metric", "estimate", "lo", "hi"])
    table = pd.concat(frames, ignore_index=True)
    return table[["method", *[c for c in table.columns if c != "method"]]]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def wilcoxon_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired values (zero differences dropped).

    Returns (statistic, p); all differences zero gives (0, 1).
    """
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not np.any(differences != 0):
        return 0.0, 1.0
    result = stats.wilcoxon(a, b)
    return float(result.statistic), float(result.pvalue)


def friedman_test(values: np.ndarray) -> tuple[float, float]:
    """Friedman test over the columns (methods) of ``values`` (images x methods).

    Returns (statistic, p); every image scoring all methods alike gives (0, 1).
    """
    if np.all(values == values[:, :1]):
        return 0.0, 1.0
    result = stats.friedmanchisquare(*values.T)
    return float(result.statistic), float(result.pvalue)


def paired_delta(
    a: pd.DataFrame,
    b: pd.DataFrame,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, tuple[float, float, float, int]]:
    """Paired bootstrap of ΔS = S(a) − S(b), pooled by the FISBe rules, per set.

    ``a`` and ``b`` are two methods' per-sample rows; only images scored by both count.
    Each resample (the images of :func:`resample_weights`, as for the leaderboard's
    intervals) scores both methods, so the interval reflects the pairing. "combined" is
    the mean of the two sets' ΔS per resample. Returns set -> (ΔS, lo, hi, n_images).
    """
    alpha = (1 - level) / 2
    deltas: dict[str, tuple[float, np.ndarray, int]] = {}
    for stream, name in enumerate(LABELLED_SETS):
        rows_a, rows_b = a[a["set"] == name], b[b["set"] == name]
        common = sorted(set(rows_a["sample"]) & set(rows_b["sample"]))
        if not common:
            continue
        counts = [SetCounts.from_frame(r[r["sample"].isin(common)]) for r in (rows_a, rows_b)]
        weights = np.vstack(
            [np.ones(len(common)), resample_weights(len(common), n_boot, seed, stream)]
        )
        score_a, score_b = (c.pooled(weights)["S"] for c in counts)
        difference = score_a - score_b
        deltas[name] = (float(difference[0]), difference[1:], len(common))
    if len(deltas) == len(LABELLED_SETS):
        (est_c, boot_c, n_c), (est_p, boot_p, n_p) = deltas.values()
        deltas["combined"] = ((est_c + est_p) / 2, (boot_c + boot_p) / 2, n_c + n_p)
    return {
        name: (
            estimate,
            float(np.quantile(boot, alpha)),
            float(np.quantile(boot, 1 - alpha)),
            n_images,
        )
        for name, (estimate, boot, n_images) in deltas.items()
    }


def pairwise_table(
    evaluations: Sequence[Evaluation], n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL
) -> pd.DataFrame:
    """Every pair of methods per set (completely, partly, combined); rows follow
    :data:`PAIRWISE_COLUMNS`.

    Pairs are ordered by the set's S (``method_a`` ranks higher): ΔS = S(a) − S(b) with its
    paired-bootstrap interval (NaN where per-sample rows cannot be pooled), a Wilcoxon
    signed-rank test on per-image S of the images both scored (``n``) and Holm-adjusted
    p-values within the set. With three or more methods a Friedman row (no method
    columns) tests per-image S across all methods on the images all of them scored.
    """
    pooled = {e.method: bootstrap_problem(e.per_sample) is None for e in evaluations}
    paired: dict[tuple[str, str], dict[str, tuple[float, float, float, int]]] = {}
    records = []
    for name in (*LABELLED_SETS, "combined"):
        ranked = sorted(
            (e for e in evaluations if name in e.summary),
            key=lambda e: (-float(e.summary[name]["S"]), e.method),
        )
        scores = {e.method: _image_scores(e.per_sample, name) for e in ranked}
        pairs: list[dict[str, Any]] = []
        for first, second in itertools.combinations(ranked, 2):
            a, b = first.method, second.method
            joined = pd.concat([scores[a], scores[b]], axis=1, join="inner").dropna()
            statistic, p = (
                wilcoxon_test(joined.iloc[:, 0], joined.iloc[:, 1])
                if len(joined)
                else (np.nan, np.nan)
            )
            delta = float(first.summary[name]["S"]) - float(second.summary[name]["S"])
            low = high = np.nan
            if pooled[a] and pooled[b]:
                if (a, b) not in paired:
                    paired[a, b] = paired_delta(
                        first.per_sample, second.per_sample, n_boot, seed, level
                    )
                    paired[b, a] = {
                        s: (-d, -hi, -lo, n) for s, (d, lo, hi, n) in paired[a, b].items()
                    }
                if name in paired[a, b]:
                    delta, low, high, _ = paired[a, b][name]
            pairs.append(
                {
                    "set": name,
                    "method_a": a,
                    "method_b": b,
                    "delta_S": delta,
                    "ci_low": low,
                    "ci_high": high,
                    "p": p,
                    "test": "wilcoxon",
                    "statistic": statistic,
                    "n": len(joined),
                }
            )
        tested = [i for i, row in enumerate(pairs) if np.isfinite(row["p"])]
        for i, adjusted in zip(tested, holm([pairs[i]["p"] for i in tested]), strict=True):
            pairs[i]["p_holm"] = float(adjusted)
        if len(ranked) >= 3:
            matrix = pd.concat(scores.values(), axis=1, join="inner").dropna()
            if len(matrix) >= 2:
                statistic, p = friedman_test(matrix.to_numpy(dtype=float))
                records.append(
                    {"set": name, "p": p, "p_holm": p, "test": "friedman", "statistic": statistic}
                    | {"n": len(matrix)}
                )
        records += pairs
    table = pd.DataFrame(records, columns=PAIRWISE_COLUMNS)
    table["n_boot"], table["seed"] = n_boot, seed
    return table.astype({"n": "Int64"})


def _image_scores(per_sample: pd.DataFrame, name: str) -> pd.Series:
    """Per-image S indexed by (set, sample); "combined" takes both sets' images."""
    rows = per_sample if name == "combined" else per_sample[per_sample["set"] == name]
    if "S" not in rows.columns:
        return pd.Series(dtype=float)
    return rows.set_index(["set", "sample"])["S"].astype(float)

"""Uncertainty and significance: bootstrap intervals and Kruskal-Wallis with Dunn's test.

The bootstrap resamples test images with replacement (within each labelled set) and
recomputes the micro-pooled set metrics on every resample, exactly as the leaderboard
aggregates them: F1 per threshold from pooled TP/FP/FN, avF1 their mean, C the mean over
the pooled per-GT coverages, S = (avF1 + C) / 2; "combined" averages the two sets.
Resamples depend only on the seed, the set and the sorted sample names, so methods
scored on the same images see the same resamples (paired comparisons).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

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
STATS_COLUMNS = [
    "set",
    "metric",
    "test",
    "method_a",
    "method_b",
    "n_a",
    "n_b",
    "statistic",
    "p_value",
    "p_holm",
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
        if not threshold_columns(table):
            warnings.warn(
                f"{evaluation.path}/per_sample.csv has no TP_/FP_/FN_<threshold> columns: "
                "no bootstrap intervals for this method",
                stacklevel=2,
            )
            continue
        if coverage_column(table) is None and not {"C", "num_gt"} <= set(table.columns):
            warnings.warn(
                f"{evaluation.path}/per_sample.csv has neither per-GT coverages nor C and "
                "num_gt: no bootstrap intervals for this method",
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


def dunn(groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """Dunn's test for all pairs of groups, two-sided, with tie correction and Holm.

    z = (mean rank a - mean rank b) / sqrt((N(N+1)/12 - sum(t^3 - t)/(12(N-1))) (1/n_a + 1/n_b))
    with ranks over all groups pooled. Returns method_a, method_b, n_a, n_b, statistic (z),
    p_value, p_holm.
    """
    names = list(groups)
    values = np.concatenate([groups[n] for n in names])
    ranks = stats.rankdata(values)
    total = len(values)
    _, ties = np.unique(values, return_counts=True)
    variance = total * (total + 1) / 12 - (ties**3 - ties).sum() / (12 * (total - 1))
    mean_ranks, start = {}, 0
    for name in names:
        mean_ranks[name] = ranks[start : start + len(groups[name])].mean()
        start += len(groups[name])
    records = []
    for a, b in itertools.combinations(names, 2):
        n_a, n_b = len(groups[a]), len(groups[b])
        scale = np.sqrt(variance * (1 / n_a + 1 / n_b))
        z = (mean_ranks[a] - mean_ranks[b]) / scale if scale > 0 else 0.0
        p = 2 * stats.norm.sf(abs(z))
        records.append(
            {"method_a": a, "method_b": b, "n_a": n_a, "n_b": n_b, "statistic": z, "p_value": p}
        )
    table = pd.DataFrame(records)
    table["p_holm"] = holm(table["p_value"]) if len(table) else []
    return table


def kruskal_dunn(per_sample: pd.DataFrame, metric: str = "S") -> pd.DataFrame:
    """Kruskal-Wallis over per-image ``metric`` across methods, then Dunn + Holm, per set.

    ``per_sample`` has columns method, set, ``metric``; "combined" uses all images. Runs
    only with at least 3 methods that have images in the set; rows follow
    :data:`STATS_COLUMNS`; the Kruskal-Wallis row has empty method columns and the
    total number of images in ``n_a``.
    """
    if metric not in per_sample.columns:
        return pd.DataFrame(columns=STATS_COLUMNS)
    records = []
    for name in (*LABELLED_SETS, "combined"):
        frame = per_sample if name == "combined" else per_sample[per_sample["set"] == name]
        if name == "combined" and per_sample["set"].nunique() < 2:
            continue
        groups = {
            method: rows[metric].dropna().to_numpy(dtype=float)
            for method, rows in frame.groupby("method", sort=False)
        }
        groups = {m: v for m, v in groups.items() if len(v)}
        if len(groups) < 3:
            continue
        values = np.concatenate(list(groups.values()))
        if np.all(values == values[0]):
            statistic, p_value = np.nan, 1.0
        else:
            statistic, p_value = stats.kruskal(*groups.values())
        records.append(
            {
                "set": name,
                "metric": metric,
                "test": "kruskal-wallis",
                "n_a": len(values),
                "statistic": float(statistic),
                "p_value": float(p_value),
            }
        )
        pairs = dunn(groups).assign(set=name, metric=metric, test="dunn-holm")
        records += pairs.to_dict("records")
    table = pd.DataFrame(records, columns=STATS_COLUMNS)
    return table.astype({"n_a": "Int64", "n_b": "Int64"})

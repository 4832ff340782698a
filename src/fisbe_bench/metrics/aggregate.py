"""Per-image results and their aggregation over a set of images (the leaderboard rows).

Set-level numbers are micro-pooled as in the official evaluator: F1 per threshold from
summed TP/FP/FN, C over the concatenated per-GT coverages, sums for FS/FM. The
"combined" row averages the completely and partly sets (S, avF1, C, F1) and pools the
counts. Coverage and clDice lists are averaged in float32 like the official code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fisbe_bench.metrics.match import F1_THRESHOLDS, THRESHOLDS


def threshold_key(threshold: float) -> str:
    """The key of a threshold in results and outputs: ``0.5 -> "0.5"``."""
    return f"{threshold:g}"


F1_KEYS = tuple(threshold_key(t) for t in F1_THRESHOLDS)
ALL_KEYS = tuple(threshold_key(t) for t in THRESHOLDS)
SUMMARY_KEYS = ("S", "avF1", "C", "clDice_TP", "tp", "FS", "FM", "num_gt", "num_pred")


def _mean32(values: Sequence[float]) -> float:
    """Mean in float32 (as the official evaluator averages coverage/clDice lists)."""
    return float(np.mean(np.asarray(values, dtype=np.float32))) if len(values) else 0.0


def _pooled_or_none(values: Sequence[float]) -> float | None:
    """float32 mean like C, or None (JSON null) without any value."""
    return _mean32(values) if len(values) else None


def _mean_of_known(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def f1_score(tp: int, fp: int, fn: int) -> float:
    """F1 via precision and recall, exactly as the official per-image table."""
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


@dataclass
class SampleResult:
    """Metrics of one image. Threshold-indexed dicts use keys ``"0.1"`` ... ``"0.95"``.

    ``TP/FP/FN`` are the one-to-one counts per clDice threshold (FP follows the partly
    rule when ``partly``); ``coverage`` holds one value per GT instance; ``tp_cldice`` the
    clDice of the true positives at 0.5; ``FS``/``FM`` the many-to-many false splits and
    merges. ``false_split``/``false_merge`` are the official per-threshold diagnostics;
    ``coverage_dim``/``coverage_overlap`` the coverages of dim and of overlapping GT neurons
    (see :mod:`fisbe_bench.metrics.neurons`) and ``neurons`` one diagnostic row per GT neuron.
    """

    n_gt: int
    n_pred: int
    TP: dict[str, int]
    FP: dict[str, int]
    FN: dict[str, int]
    coverage: list[float]
    tp_cldice: list[float]
    FS: int
    FM: int
    false_split: dict[str, int] = field(default_factory=dict)
    false_merge: dict[str, int] = field(default_factory=dict)
    name: str = ""
    partly: bool = False
    iou: dict[str, Any] | None = None
    coverage_dim: list[float] = field(default_factory=list)
    coverage_overlap: list[float] = field(default_factory=list)
    neurons: list[dict[str, Any]] = field(default_factory=list)

    def precision(self, key: str) -> float:
        return self.TP[key] / max(1, self.TP[key] + self.FP[key])

    def recall(self, key: str) -> float:
        return self.TP[key] / max(1, self.TP[key] + self.FN[key])

    def fscore(self, key: str) -> float:
        return f1_score(self.TP[key], self.FP[key], self.FN[key])

    @property
    def F1(self) -> dict[str, float]:
        return {key: self.fscore(key) for key in F1_KEYS}

    @property
    def avF1(self) -> float:
        return float(np.mean([self.fscore(key) for key in F1_KEYS]))

    @property
    def C(self) -> float:
        return _mean32(self.coverage)

    @property
    def S(self) -> float:
        return 0.5 * self.avF1 + 0.5 * self.C

    @property
    def TP_05(self) -> int:
        return self.TP["0.5"]

    @property
    def tp(self) -> float:
        return self.TP_05 / self.n_gt if self.n_gt else 0.0

    @property
    def clDice_TP(self) -> float:
        return _mean32(self.tp_cldice)

    def metrics(self) -> dict[str, Any]:
        """The summary keys for this single image."""
        return {
            "S": self.S,
            "avF1": self.avF1,
            "C": self.C,
            "clDice_TP": self.clDice_TP,
            "tp": self.tp,
            "FS": self.FS,
            "FM": self.FM,
            "num_gt": self.n_gt,
            "num_pred": self.n_pred,
            "F1": self.F1,
        }

    def official_tables(self) -> dict[str, Any]:
        """The official evaluator's per-sample TOML content (``general``/``confusion_matrix``)."""
        aps = [self.precision(k) * self.recall(k) for k in ALL_KEYS]
        fscores = [self.fscore(k) for k in ALL_KEYS]
        general = {
            "Num GT": self.n_gt,
            "Num Pred": self.n_pred,
            "TP_05": self.TP_05,
            "TP_05_rel": self.tp,
            "TP_05_cldice": [float(v) for v in self.tp_cldice],
            "avg_TP_05_cldice": self.clDice_TP,
            "gt_skel_coverage": [float(v) for v in self.coverage],
            "avg_gt_skel_coverage": self.C,
            "avg_f1_cov_score": self.S,
            "FM": self.FM,
            "FS": self.FS,
        }
        confusion: dict[str, Any] = {
            "avAP": float(np.mean(aps[4:])),
            "avAP59": float(np.mean(aps[4:])),
            "avAP19": float(np.mean(aps[: len(F1_KEYS)])),
            "avFscore": float(np.mean(fscores[: len(F1_KEYS)])),
            "avFscore59": float(np.mean(fscores[4:])),
            "avFscore19": float(np.mean(fscores[: len(F1_KEYS)])),
        }
        for key, ap, fscore in zip(ALL_KEYS, aps, fscores, strict=True):
            confusion["th_" + key.replace(".", "_")] = {
                "AP_TP": self.TP[key],
                "AP_FP": self.FP[key],
                "AP_FN": self.FN[key],
                "precision": self.precision(key),
                "recall": self.recall(key),
                "AP": ap,
                "fscore": fscore,
                "false_split": self.false_split.get(key, 0),
                "false_merge": self.false_merge.get(key, 0),
            }
        tables: dict[str, Any] = {"general": general, "confusion_matrix": confusion}
        if self.iou is not None:
            tables["iou"] = self.iou
        return tables


def aggregate(results: Sequence[SampleResult]) -> dict[str, Any]:
    """Set-level summary of ``results`` (micro-pooled; the leaderboard definition).

    ``C_dim`` / ``C_overlap`` pool the dim / overlapping neurons' coverages like C (the
    official ``avg_gt_cov_dim`` / ``avg_gt_cov_overlap``); None when the set has none.
    """
    tp = {k: sum(r.TP[k] for r in results) for k in F1_KEYS}
    fp = {k: sum(r.FP[k] for r in results) for k in F1_KEYS}
    fn = {k: sum(r.FN[k] for r in results) for k in F1_KEYS}
    f1 = {}
    for k in F1_KEYS:
        denominator = 2 * tp[k] + fp[k] + fn[k]
        f1[k] = 2 * tp[k] / denominator if denominator > 0 else 0.0
    av_f1 = float(np.mean(list(f1.values())))
    coverage = _mean32([c for r in results for c in r.coverage])
    num_gt = sum(r.n_gt for r in results)
    tp_05 = sum(r.TP_05 for r in results)
    summary: dict[str, Any] = {
        "S": 0.5 * av_f1 + 0.5 * coverage,
        "avF1": av_f1,
        "C": coverage,
        "clDice_TP": _mean32([v for r in results for v in r.tp_cldice]) if tp_05 else 0.0,
        "tp": tp_05 / num_gt if num_gt else 0.0,
        "FS": sum(r.FS for r in results),
        "FM": sum(r.FM for r in results),
        "num_gt": num_gt,
        "num_pred": sum(r.n_pred for r in results),
        "num_images": len(results),
        "F1": f1,
        "C_dim": _pooled_or_none([c for r in results for c in r.coverage_dim]),
        "C_overlap": _pooled_or_none([c for r in results for c in r.coverage_overlap]),
        "TP_05": tp_05,
        "TP": tp,
        "FP": fp,
        "FN": fn,
    }
    if results and all(r.iou is not None for r in results):
        summary["iou"] = aggregate_iou([r.iou for r in results])  # type: ignore[misc]
    return summary


def combine(completely: dict[str, Any], partly: dict[str, Any]) -> dict[str, Any]:
    """The "combined" row: mean of the two sets' S, avF1, C and F1; pooled counts.

    ``C_dim`` / ``C_overlap`` are the mean of the sets that have such neurons (None if none).
    """
    sets = (completely, partly)
    num_gt = completely["num_gt"] + partly["num_gt"]
    tp_05 = completely["TP_05"] + partly["TP_05"]
    cldice_sum = sum(s["clDice_TP"] * s["TP_05"] for s in sets)
    combined: dict[str, Any] = {
        "S": float(np.mean([s["S"] for s in sets])),
        "avF1": float(np.mean([s["avF1"] for s in sets])),
        "C": float(np.mean([s["C"] for s in sets])),
        "clDice_TP": cldice_sum / tp_05 if tp_05 else 0.0,
        "tp": tp_05 / num_gt if num_gt else 0.0,
        "FS": completely["FS"] + partly["FS"],
        "FM": completely["FM"] + partly["FM"],
        "num_gt": num_gt,
        "num_pred": completely["num_pred"] + partly["num_pred"],
        "num_images": completely["num_images"] + partly["num_images"],
        "F1": {k: float(np.mean([s["F1"][k] for s in sets])) for k in F1_KEYS},
        "C_dim": _mean_of_known([s.get("C_dim") for s in sets]),
        "C_overlap": _mean_of_known([s.get("C_overlap") for s in sets]),
        "TP_05": tp_05,
        "TP": {k: completely["TP"][k] + partly["TP"][k] for k in F1_KEYS},
        "FP": {k: completely["FP"][k] + partly["FP"][k] for k in F1_KEYS},
        "FN": {k: completely["FN"][k] + partly["FN"][k] for k in F1_KEYS},
    }
    if "iou" in completely and "iou" in partly:
        combined["iou"] = combine_iou(completely["iou"], partly["iou"])
    return combined


def aggregate_iou(per_image: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Pooled IoU-matching F1 per threshold and its mean over 0.1..0.9."""
    keys = list(per_image[0]["TP"])
    totals = {
        name: {k: sum(r[name][k] for r in per_image) for k in keys} for name in ("TP", "FP", "FN")
    }
    f1 = {}
    for k in keys:
        denominator = 2 * totals["TP"][k] + totals["FP"][k] + totals["FN"][k]
        f1[k] = 2 * totals["TP"][k] / denominator if denominator else 0.0
    return {"avF1": float(np.mean(list(f1.values()))), "F1": f1, **totals}


def combine_iou(completely: dict[str, Any], partly: dict[str, Any]) -> dict[str, Any]:
    """Combined IoU row, built like :func:`combine` (mean of the two sets' F1)."""
    keys = list(completely["F1"])
    out: dict[str, Any] = {
        "avF1": float(np.mean([completely["avF1"], partly["avF1"]])),
        "F1": {k: float(np.mean([completely["F1"][k], partly["F1"][k]])) for k in keys},
    }
    for name in ("TP", "FP", "FN"):
        out[name] = {k: completely[name][k] + partly[name][k] for k in keys}
    return out

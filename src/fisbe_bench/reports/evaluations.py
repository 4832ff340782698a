"""Read per-method evaluations (``summary.json``, ``per_sample.csv``, ``per_threshold.csv``).

Also the small shared helpers of the reports: set names, threshold columns, per-GT
coverage lists and atomic file writes.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fisbe_bench import contract
from fisbe_bench.atomic import write_text
from fisbe_bench.errors import FisbeError

LABELLED_SETS = contract.SETS
SETS = (*LABELLED_SETS, "combined")
METRICS = ("S", "avF1", "C", "clDice_TP", "tp", "FS", "FM")
COUNTS = ("num_gt", "num_pred", "num_images")
COVERAGE_COLUMNS = ("gt_coverage", "per_gt_coverage", "coverage", "coverages")
_THRESHOLD_COLUMN = re.compile(r"^(TP|FP|FN)_(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Evaluation:
    """One method's evaluation: set summaries, per-sample rows and per-threshold rows."""

    method: str
    path: Path
    summary: dict[str, dict[str, Any]]
    per_sample: pd.DataFrame
    per_threshold: pd.DataFrame

    @property
    def method_dir(self) -> Path:
        """``results/<dataset>/<method>``: the parent of the evaluation folder."""
        return self.path.parent


def load_evaluation(method: str, path: str | Path) -> Evaluation:
    """Read one evaluation folder; bad or missing files raise :class:`FisbeError`."""
    path = Path(path)
    if not path.is_dir():
        raise FisbeError("evaluation folder not found", path)
    summary = _read_summary(path / "summary.json")
    per_sample = _read_csv(path / "per_sample.csv", ("sample", "set"))
    per_sample["sample"] = per_sample["sample"].astype(str)
    per_sample = _attach_toml_coverages(per_sample, path)
    per_threshold = _read_csv(path / "per_threshold.csv", ("set", "threshold", "TP", "FP", "FN"))
    unknown = sorted(set(per_sample["set"]) - set(LABELLED_SETS))
    if unknown:
        raise FisbeError(f"unknown set(s) {unknown} (expected {LABELLED_SETS})", path)
    return Evaluation(method, path, summary, per_sample, per_threshold)


def load_evaluations(evaluations: Mapping[str, str | Path]) -> list[Evaluation]:
    """Read several evaluations given as method name -> evaluation folder, in order."""
    if not evaluations:
        raise FisbeError("no evaluations given")
    return [load_evaluation(m, p) for m, p in evaluations.items()]


def pair_methods(methods: Sequence[str], paths: Sequence[str | Path]) -> dict[str, Path]:
    """Method name -> evaluation folder from the CLI's parallel ``--methods``/``--evaluations``."""
    if len(methods) != len(paths):
        raise FisbeError(f"{len(methods)} method name(s) for {len(paths)} evaluation folder(s)")
    if len(set(methods)) != len(methods):
        raise FisbeError(f"method names must be unique, got {list(methods)}")
    return {m: Path(p) for m, p in zip(methods, paths, strict=True)}


def combine_summaries(completely: Mapping[str, Any], partly: Mapping[str, Any]) -> dict[str, Any]:
    """The "completely + partly" row from the two set summaries (FISBe aggregation rules).

    S, avF1, C and each F1 are unweighted means of the two sets; FS, FM, counts and TP at
    0.5 are sums; tp = sum(TP_0.5) / sum(N_gt); clDice_TP is the mean over the pooled TPs.
    """
    combined: dict[str, Any] = {
        key: (completely[key] + partly[key]) / 2 for key in ("S", "avF1", "C")
    }
    for key in ("FS", "FM", *COUNTS):
        if key in completely and key in partly:
            combined[key] = completely[key] + partly[key]
    tp05 = [s["tp"] * s["num_gt"] for s in (completely, partly)]
    n_gt = completely["num_gt"] + partly["num_gt"]
    combined["tp"] = sum(tp05) / n_gt if n_gt else math.nan
    weighted = [(s["clDice_TP"], n) for s, n in zip((completely, partly), tp05, strict=True) if n]
    combined["clDice_TP"] = (
        sum(v * n for v, n in weighted) / sum(n for _, n in weighted) if weighted else math.nan
    )
    f1_c, f1_p = completely.get("F1", {}), partly.get("F1", {})
    combined["F1"] = {th: (f1_c[th] + f1_p[th]) / 2 for th in f1_c if th in f1_p}
    return combined


def threshold_columns(frame: pd.DataFrame) -> list[str]:
    """Thresholds (as written, e.g. ``"0.1"``) with all of TP_, FP_ and FN_ columns, sorted."""
    found: dict[str, set[str]] = {}
    for column in frame.columns:
        match = _THRESHOLD_COLUMN.match(str(column))
        if match:
            found.setdefault(match.group(2), set()).add(match.group(1))
    complete = [th for th, kinds in found.items() if kinds == {"TP", "FP", "FN"}]
    return sorted(complete, key=float)


def coverage_column(frame: pd.DataFrame) -> str | None:
    """The name of the per-GT coverage list column of a per-sample table, if any."""
    return next((c for c in COVERAGE_COLUMNS if c in frame.columns), None)


def parse_coverages(value: object) -> np.ndarray:
    """Parse one per-GT coverage list cell: JSON ``[0.1, 0.9]`` or ``0.1;0.9`` / spaces."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.empty(0)
    if isinstance(value, list | tuple | np.ndarray):
        return np.asarray(value, dtype=float)
    text = str(value).strip().strip("[]()")
    parts = [p for p in re.split(r"[;,\s]+", text) if p]
    try:
        return np.asarray([float(p) for p in parts], dtype=float)
    except ValueError as err:
        raise FisbeError(f"cannot parse per-GT coverage list {str(value)[:40]!r}") from err


def per_gt_coverages(frame: pd.DataFrame) -> tuple[list[np.ndarray], bool]:
    """Per-GT coverage values of each row, and whether they are exact.

    Without a coverage list column each image contributes its C repeated num_gt times:
    the sum (all that pooled C needs) is then exact, the spread is not.
    """
    column = coverage_column(frame)
    if column is not None:
        return [parse_coverages(v) for v in frame[column]], True
    if "C" not in frame.columns or "num_gt" not in frame.columns:
        return [np.empty(0) for _ in range(len(frame))], False
    values = []
    for c, n in zip(frame["C"], frame["num_gt"], strict=True):
        n = int(n) if np.isfinite(n) else 0
        values.append(np.full(n, float(c) if np.isfinite(c) else 0.0))
    return values, False


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV atomically, floats at full precision."""
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def _attach_toml_coverages(per_sample: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """Add ``gt_coverage`` from the per-sample official TOMLs (``[general]
    gt_skel_coverage``) when the CSV has no coverage lists and every sample has a TOML."""
    if coverage_column(per_sample) is not None or per_sample.empty:
        return per_sample
    coverages = []
    for sample in per_sample["sample"]:
        path = folder / f"{sample}.toml"
        if not path.is_file():
            return per_sample
        try:
            general = tomllib.loads(path.read_text(encoding="utf-8")).get("general", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise FisbeError(f"cannot read per-sample TOML: {err}", path) from err
        if "gt_skel_coverage" not in general:
            return per_sample
        coverages.append([float(v) for v in general["gt_skel_coverage"]])
    return per_sample.assign(gt_coverage=coverages)


def _read_summary(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise FisbeError("summary file not found", path) from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FisbeError(f"cannot read summary: {err}", path) from err
    if not isinstance(data, dict) or not any(s in data for s in LABELLED_SETS):
        raise FisbeError(f"summary has none of the sets {LABELLED_SETS}", path)
    summary = {s: dict(data[s]) for s in SETS if isinstance(data.get(s), dict)}
    for name, values in summary.items():
        lacking = [k for k in METRICS if k not in values]
        if lacking:
            raise FisbeError(f"summary set {name!r} lacks {', '.join(lacking)}", path)
    if "combined" not in summary and all(s in summary for s in LABELLED_SETS):
        summary["combined"] = combine_summaries(summary["completely"], summary["partly"])
    return summary


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as err:
        raise FisbeError("table not found", path) from err
    except (OSError, ValueError) as err:
        raise FisbeError(f"cannot read table: {err}", path) from err
    lacking = [c for c in required if c not in frame.columns]
    if lacking:
        raise FisbeError(f"table lacks column(s) {', '.join(lacking)}", path)
    return frame

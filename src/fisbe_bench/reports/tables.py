"""Per-dataset tables: leaderboard, per-threshold and per-sample, over all methods.

The leaderboard has one row per method and set (completely, partly, combined) with the
columns of the FISBe project page (S, avF1, C, clDice_TP, tp, FS, FM), ranked by S
within each set; bootstrap intervals (``S_lo``, ``S_hi``, ...) join when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fisbe_bench.reports.evaluations import COUNTS, METRICS, SETS, Evaluation
from fisbe_bench.training import BOARDS

INTERVAL_METRICS = ("S", "avF1", "C")
SETTINGS = {"completely": "completely labelled", "combined": "completely + partly labelled"}
SET_TITLES = {**SETTINGS, "partly": "partly labelled"}


def leaderboard_columns() -> list[str]:
    """Column order of ``leaderboard.csv``."""
    metrics: list[str] = []
    for key in METRICS:
        metrics.append(key)
        if key in INTERVAL_METRICS:
            metrics += [f"{key}_lo", f"{key}_hi"]
    return ["method", "set", "rank", *metrics, *COUNTS, "training"]


def leaderboard_table(
    evaluations: Sequence[Evaluation],
    intervals: pd.DataFrame | None = None,
    training: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """One row per method and set, ranked by S (1 = best; ties share the better rank).

    ``intervals`` (from :func:`fisbe_bench.reports.stats.bootstrap_table`) has columns
    method, set, metric, lo, hi; missing intervals stay NaN. ``training`` (method ->
    ``completely`` / ``completely+partly`` / ``none``) fills the last column; unlisted
    methods count as untrained (``none``).
    """
    rows = []
    for evaluation in evaluations:
        for name in SETS:
            values = evaluation.summary.get(name)
            if values is None:
                continue
            row: dict[str, object] = {"method": evaluation.method, "set": name}
            row.update({k: float(values[k]) for k in METRICS})
            row.update({k: values.get(k, np.nan) for k in COUNTS})
            rows.append(row)
    table = pd.DataFrame(rows)
    for key in INTERVAL_METRICS:
        table[f"{key}_lo"] = np.nan
        table[f"{key}_hi"] = np.nan
    if intervals is not None and len(intervals):
        indexed = intervals.set_index(["method", "set", "metric"])
        for i, row in table.iterrows():
            for key in INTERVAL_METRICS:
                where = (row["method"], row["set"], key)
                if where in indexed.index:
                    table.loc[i, f"{key}_lo"] = indexed.loc[where, "lo"]
                    table.loc[i, f"{key}_hi"] = indexed.loc[where, "hi"]
    table["set"] = pd.Categorical(table["set"], categories=list(SETS), ordered=True)
    table = table.sort_values(["set", "S", "method"], ascending=[True, False, True])
    table["rank"] = table.groupby("set", observed=True)["S"].rank(method="min", ascending=False)
    table["rank"] = table["rank"].astype(int)
    table["set"] = table["set"].astype(str)
    for key in ("FS", "FM", *COUNTS):
        table[key] = pd.to_numeric(table[key]).round().astype("Int64")
    table["training"] = table["method"].map(lambda m: (training or {}).get(m, "none"))
    return table[leaderboard_columns()].reset_index(drop=True)


def per_threshold_table(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """All methods' per-threshold rows: method, set, threshold, TP, FP, FN, precision, ..."""
    frames = [e.per_threshold.assign(method=e.method) for e in evaluations]
    table = pd.concat(frames, ignore_index=True)
    first = ["method", "set", "threshold"]
    return table[first + [c for c in table.columns if c not in first]]


def per_sample_table(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """All methods' per-sample rows with a leading ``method`` column."""
    frames = [e.per_sample.assign(method=e.method) for e in evaluations]
    table = pd.concat(frames, ignore_index=True)
    first = ["method", "sample", "set"]
    return table[first + [c for c in table.columns if c not in first]]


def format_ci(lo: float, hi: float, decimals: int = 2) -> str:
    """``[0.30, 0.38]``, or an empty string when the interval is unknown."""
    if np.isfinite(lo) and np.isfinite(hi):
        return f"[{lo:.{decimals}f}, {hi:.{decimals}f}]"
    return ""


def format_interval(value: float, lo: float, hi: float, decimals: int = 2) -> str:
    """``0.34 [0.30, 0.38]``, or just the value when the interval is unknown."""
    return f"{value:.{decimals}f} {format_ci(lo, hi, decimals)}".strip()


def format_value(key: str, value: float, decimals: int = 2) -> str:
    """Counts (FS, FM) as integers, scores with ``decimals`` digits, NaN / NA as an en dash."""
    if pd.isna(value) or not np.isfinite(value):
        return "–"
    if key in ("FS", "FM", *COUNTS):
        return f"{int(round(value))}"
    return f"{value:.{decimals}f}"


def markdown_tables(
    leaderboard: pd.DataFrame,
    dataset: str,
    decimals: int = 2,
    pairwise: pd.DataFrame | None = None,
) -> str:
    """One markdown table per setting (completely; combined; then partly), FISBe columns,
    on each of the two training leaderboards (one when no method is trained; see
    :func:`training_boards`), then the paired comparisons when ``pairwise`` is given."""
    lines = [f"# FISBe leaderboard: {dataset}", ""]
    lines.append(
        "Ranked by S = 0.5·avF1 + 0.5·C; brackets: 95 % bootstrap interval over test images."
    )
    boards = training_boards(leaderboard)
    for board, rows in boards.items():
        level = "##"
        if board:
            level = "###"
            lines += ["", f"## {BOARDS[board].capitalize()}"]
        lines += _markdown_board(rows, level, decimals)
    if len(boards) > 1:
        lines += ["", "Untrained methods appear on both leaderboards."]
    if pairwise is not None:
        lines += pairwise_markdown(pairwise)
    return "\n".join(lines) + "\n"


def training_boards(leaderboard: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The FISBe leaderboards by training data, each re-ranked by S within its sets.

    Without any trained method both boards would be equal: one board, keyed ``""``.
    Untrained methods (``none``) appear on both.
    """
    training = leaderboard.get("training", pd.Series("none", index=leaderboard.index))
    if (training == "none").all():
        return {"": leaderboard}
    boards = {}
    for board in BOARDS:
        rows = leaderboard[training.isin([board, "none"])].copy()
        rows["rank"] = rows.groupby("set")["S"].rank(method="min", ascending=False).astype(int)
        boards[board] = rows
    return boards


def _markdown_board(leaderboard: pd.DataFrame, level: str, decimals: int) -> list[str]:
    lines: list[str] = []
    for name in ("completely", "combined", "partly"):
        rows = leaderboard[leaderboard["set"] == name]
        if rows.empty:
            continue
        lines += ["", f"{level} {SET_TITLES[name]}", ""]
        header = ["Rank", "Method", *METRICS]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join(["---:", "---", *["---:"] * len(METRICS)]) + "|")
        for row in rows.itertuples(index=False):
            cells = [str(row.rank), _escape_markdown(row.method)]
            for key in METRICS:
                value = getattr(row, key)
                if key in INTERVAL_METRICS:
                    lo, hi = getattr(row, f"{key}_lo"), getattr(row, f"{key}_hi")
                    cells.append(format_interval(value, lo, hi, decimals))
                else:
                    cells.append(format_value(key, value, decimals))
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def pairwise_markdown(pairwise: pd.DataFrame) -> list[str]:
    """Markdown lines of the paired comparisons (see :func:`stats.pairwise_table`)."""
    pairs = pairwise[pairwise["test"] == "wilcoxon"]
    if pairs.empty:
        return []
    lines = [
        "",
        "## Paired comparisons",
        "",
        "ΔS = S(A) − S(B) with its 95 % paired bootstrap interval; Wilcoxon signed-rank test "
        "on per-image S (two-sided), Holm-adjusted within each set; Friedman test across all "
        "methods (three or more).",
    ]
    for name in ("completely", "combined", "partly"):
        rows = pairs[pairs["set"] == name]
        if rows.empty:
            continue
        lines += ["", f"### {SET_TITLES[name]}", ""]
        friedman = pairwise[(pairwise["set"] == name) & (pairwise["test"] == "friedman")]
        for row in friedman.itertuples(index=False):
            lines += [f"Friedman χ² = {row.statistic:.3f}, p = {row.p:.3g} ({row.n} images)", ""]
        lines.append("| Method A | Method B | ΔS | W | p | p (Holm) | images |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for row in rows.itertuples(index=False):
            cells = [
                _escape_markdown(row.method_a),
                _escape_markdown(row.method_b),
                format_interval(row.delta_S, row.ci_low, row.ci_high, 3),
                *(f"{v:.3g}" for v in (row.statistic, row.p, row.p_holm)),
                format_value("num_images", row.n),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def _escape_markdown(text: str) -> str:
    return str(text).replace("|", "\\|")

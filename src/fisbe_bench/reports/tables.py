"""Per-dataset tables: leaderboard, per-threshold and per-sample, over all methods.

The leaderboard has one row per method and set (completely, partly, combined) with the
columns of the FISBe project page (S, avF1, C, clDice_TP, tp, FS, FM), ranked by S
within each set; bootstrap intervals (``S_lo``, ``S_hi``, ...) join when given, and for
methods trained with several seeds the spread of S, avF1 and C across them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fisbe_bench.reports.evaluations import COUNTS, METRICS, SETS, Evaluation
from fisbe_bench.training import BOARDS

INTERVAL_METRICS = ("S", "avF1", "C")
SETTINGS = {"completely": "completely labelled", "combined": "completely + partly labelled"}
SET_TITLES = {**SETTINGS, "partly": "partly labelled"}
SEED_STATS = ("mean", "sd", "min", "max")
Summary = Mapping[str, Mapping[str, Any]]
"""A method's ``summary.json``: set -> metric -> value."""


def seed_columns() -> list[str]:
    """``n_seeds`` and the spread across seeds: ``S_seed_mean``, ``S_seed_sd``, ..."""
    return ["n_seeds", *(f"{key}_seed_{stat}" for key in INTERVAL_METRICS for stat in SEED_STATS)]


def leaderboard_columns() -> list[str]:
    """Column order of ``leaderboard.csv``."""
    metrics: list[str] = []
    for key in METRICS:
        metrics.append(key)
        if key in INTERVAL_METRICS:
            metrics += [f"{key}_lo", f"{key}_hi"]
    return ["method", "set", "rank", *metrics, *COUNTS, "training", *seed_columns()]


def leaderboard_table(
    evaluations: Sequence[Evaluation],
    intervals: pd.DataFrame | None = None,
    training: Mapping[str, str] | None = None,
    seeds: Mapping[str, Sequence[Summary]] | None = None,
) -> pd.DataFrame:
    """One row per method and set, ranked by S (1 = best; ties share the better rank).

    ``intervals`` (from :func:`fisbe_bench.reports.stats.bootstrap_table`) has columns
    method, set, metric, lo, hi; missing intervals stay NaN. ``training`` (method ->
    ``completely`` / ``completely+partly`` / ``none``) fills its column; unlisted
    methods count as untrained (``none``). ``seeds`` (method -> summaries of each seed's
    run) fills ``n_seeds`` (1 for unlisted methods) and, from two seeds on, the mean,
    sample SD, min and max across seeds of S, avF1 and C.
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
    table = _seed_spread(table, seeds or {})
    return table[leaderboard_columns()].reset_index(drop=True)


def _seed_spread(table: pd.DataFrame, seeds: Mapping[str, Sequence[Summary]]) -> pd.DataFrame:
    table = table.copy()
    table["n_seeds"] = table["method"].map(lambda m: max(1, len(seeds.get(m, ())))).astype(int)
    for column in seed_columns()[1:]:
        table[column] = np.nan
    for i, row in table.iterrows():
        runs = seeds.get(str(row["method"]), ())
        if len(runs) < 2 or any(row["set"] not in run for run in runs):
            continue
        for key in INTERVAL_METRICS:
            values = np.array([float(run[row["set"]][key]) for run in runs])
            spread = (values.mean(), values.std(ddof=1), values.min(), values.max())
            for stat, value in zip(SEED_STATS, spread, strict=True):
                table.loc[i, f"{key}_seed_{stat}"] = value
    return table


def seeded_rows(leaderboard: pd.DataFrame) -> pd.DataFrame:
    """Rows of methods with several seeds, by method then set (completely, combined, partly)."""
    rows = leaderboard[leaderboard["n_seeds"] > 1]
    order = {name: i for i, name in enumerate(("completely", "combined", "partly"))}
    return rows.sort_values(["method", "set"], key=lambda c: c.map(order) if c.name == "set" else c)


def format_seed_spread(row: Any, key: str, decimals: int = 2) -> str:
    """``0.34 ± 0.02 (0.31–0.36)``: mean ± sample SD (min–max) of ``key`` across seeds."""
    mean, sd, low, high = (getattr(row, f"{key}_seed_{stat}") for stat in SEED_STATS)
    if pd.isna(mean):
        return "–"
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f} ({low:.{decimals}f}–{high:.{decimals}f})"


def seeds_markdown(leaderboard: pd.DataFrame) -> list[str]:
    """Markdown lines of the spread across training seeds (methods with several seeds)."""
    rows = seeded_rows(leaderboard)
    if rows.empty:
        return []
    lines = [
        "",
        "## Spread across training seeds",
        "",
        "Mean ± sample SD (min–max) over the seeds of each method trained with several; "
        "the tables above and the paired comparisons show its first seed.",
        "",
        "| Method | Set | Seeds | " + " | ".join(INTERVAL_METRICS) + " |",
        "|---|---|---:|" + "---:|" * len(INTERVAL_METRICS),
    ]
    for row in rows.itertuples(index=False):
        cells = [_escape_markdown(row.method), row.set, str(row.n_seeds)]
        cells += [format_seed_spread(row, key) for key in INTERVAL_METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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
    lines += seeds_markdown(leaderboard)
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

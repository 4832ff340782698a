"""The self-contained leaderboard page: inline CSS and JS, figures as base64 PNG.

Tables are sortable by clicking (or pressing Enter on) a column header. The page records
script errors and ``console.error`` calls in ``#js-errors``; opened with
``#selftest=<table id>:<column index>`` it clicks that header twice and writes the column
after each click to ``#selftest`` as JSON, so a headless browser's ``--dump-dom`` shows
whether sorting works.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fisbe_bench.reports.evaluations import METRICS
from fisbe_bench.reports.tables import (
    INTERVAL_METRICS,
    SET_TITLES,
    format_ci,
    format_seed_spread,
    format_value,
    seeded_rows,
    training_boards,
)
from fisbe_bench.training import BOARDS

LOWER_IS_BETTER = ("FS", "FM")
BOARD_ID_PREFIX = {"": "", "completely": "", "completely+partly": "cp-"}
"""Table ids: ``leaderboard-<set>`` (first board), ``leaderboard-cp-<set>`` (second)."""
SET_ORDER = ("completely", "combined", "partly")
FIGURE_CAPTIONS = {
    "f1_threshold": "F1 against the clDice matching threshold, per method and set.",
    "per_sample": "Per-image S, avF1 and C per method (one dot per test image).",
    "coverage": "Distribution of per-GT-instance coverage per method.",
    "loss": "Training loss curves of the trained methods.",
    "per_neuron": "Coverage of each GT neuron against its skeleton length, split by dim and "
    "overlapping neurons.",
    "pairwise": "ΔS = S(A) − S(B) per pair of methods with 95 % paired bootstrap intervals.",
}
METRIC_HELP = {
    "S": "0.5·avF1 + 0.5·C",
    "avF1": "mean F1 over clDice thresholds 0.1-0.9 (pooled counts)",
    "C": "mean skeleton coverage of the GT instances",
    "clDice_TP": "mean clDice of the true positives at threshold 0.5",
    "tp": "share of GT instances matched at threshold 0.5",
    "FS": "false splits",
    "FM": "false merges",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#1d2733;background:#fff;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #e3e8ef;
padding-bottom:.2rem;font-size:1.25rem}h3{font-size:1.05rem;margin:1.4rem 0 .4rem}
.sub{color:#5b6b7d;margin-top:0}table{border-collapse:collapse;margin:.4rem 0 1rem;
font-variant-numeric:tabular-nums;font-size:.92rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e8ef;text-align:right;white-space:nowrap}
th.text,td.text{text-align:left}
thead th{background:#f3f6fa;position:sticky;top:0}
th button{all:unset;cursor:pointer;font-weight:600}
th button:focus-visible{outline:2px solid #3a7bd5}
th[aria-sort=ascending] button::after{content:" ▲";font-size:.7em}
th[aria-sort=descending] button::after{content:" ▼";font-size:.7em}
tbody tr:hover{background:#f8fafc}td.best{font-weight:700;color:#0b5394}
.ci{color:#6b7b8c;font-size:.82em}.muted{color:#6b7b8c}
figure{margin:1rem 0 2rem}figure img{max-width:100%;height:auto;border:1px solid #e3e8ef}
figcaption{color:#4a5a6a;font-size:.9rem;margin-top:.3rem}
details summary{cursor:pointer;font-weight:600;margin:.6rem 0}
#js-errors{color:#b00020;white-space:pre-wrap}dl{display:grid;grid-template-columns:max-content 1fr;
gap:.1rem 1rem;font-size:.9rem}dt{font-weight:600}dd{margin:0;color:#4a5a6a}
ul.notes{color:#7a4b00;font-size:.9rem}
"""

_JS = r"""
(function () {
  var errors = [];
  function report(message) {
    errors.push(String(message));
    var box = document.getElementById("js-errors");
    if (box) { box.textContent = errors.join("\n"); box.hidden = false;
               box.setAttribute("data-count", String(errors.length)); }
  }
  window.addEventListener("error", function (e) { report("error: " + e.message); });
  var consoleError = console.error;
  console.error = function () {
    report("console.error: " + Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
  function value(row, index, numeric) {
    var cell = row.cells[index];
    var raw = cell.getAttribute("data-value");
    if (raw === null) { raw = cell.textContent.trim(); }
    return numeric ? parseFloat(raw) : raw.toLowerCase();
  }
  function sortBy(table, index) {
    var header = table.tHead.rows[0].cells[index];
    var numeric = header.getAttribute("data-type") === "num";
    var direction = header.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.setAttribute("aria-sort", "none");
    });
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, index, numeric), y = value(b, index, numeric);
      if (numeric && isNaN(x)) { return isNaN(y) ? 0 : 1; }
      if (numeric && isNaN(y)) { return -1; }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return direction === "ascending" ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    header.setAttribute("aria-sort", direction);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.addEventListener("click", function () { sortBy(table, index); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, index); }
      });
    });
  });
  var match = /^#selftest=([^:]+):(\d+)$/.exec(window.location.hash);
  if (match) {
    var table = document.getElementById(match[1]);
    var index = parseInt(match[2], 10);
    var column = function () {
      return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
        return row.cells[index].getAttribute("data-value") || row.cells[index].textContent.trim();
      });
    };
    var header = table.tHead.rows[0].cells[index];
    var result = {header: header.textContent.trim(), before: column(), clicks: []};
    for (var i = 0; i < 2; i++) {
      (header.querySelector("button") || header).click();
      result.clicks.push({sort: header.getAttribute("aria-sort"), values: column()});
    }
    var out = document.getElementById("selftest");
    out.textContent = JSON.stringify(result);
    out.setAttribute("data-done", "1");
  }
})();
"""


def render_page(
    dataset: str,
    leaderboard: pd.DataFrame,
    per_threshold: pd.DataFrame,
    pairwise: pd.DataFrame,
    figures: Sequence[tuple[str, Path]] = (),
    notes: Sequence[str] = (),
    bootstrap_info: str = "",
) -> str:
    """The whole page as a string: leaderboards, spread across seeds, F1 per threshold,
    tests, figures, notes."""
    methods = list(dict.fromkeys(leaderboard["method"]))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>FISBe leaderboard: {_e(dataset)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>FISBe leaderboard: {_e(dataset)}</h1>",
        f'<p class="sub">{len(methods)} method(s): {_e(", ".join(methods))}. '
        "Ranked by S; click a column header to sort. Brackets: 95&nbsp;% bootstrap interval "
        f"over test images{_e(bootstrap_info)}.</p>",
        '<pre id="js-errors" hidden data-count="0"></pre>',
        '<pre id="selftest" hidden></pre>',
    ]
    boards = training_boards(leaderboard)
    for board, board_rows in boards.items():
        heading, prefix = "h2", BOARD_ID_PREFIX[board]
        if board:
            heading = "h3"
            parts.append(f"<h2>{_e(BOARDS[board].capitalize())}</h2>")
        for name in SET_ORDER:
            rows = board_rows[board_rows["set"] == name]
            if not rows.empty:
                parts.append(f"<{heading}>{_e(SET_TITLES[name].capitalize())}</{heading}>")
                parts.append(_leaderboard_table(rows, f"leaderboard-{prefix}{name}"))
    if len(boards) > 1:
        parts.append('<p class="muted">Untrained methods appear on both leaderboards.</p>')
    parts.append(_metric_legend())
    seeded = seeded_rows(leaderboard)
    if not seeded.empty:
        parts.append("<h2>Spread across training seeds</h2>")
        parts.append(_seeds_table(seeded))
    if not per_threshold.empty:
        parts.append("<h2>F1 per clDice threshold</h2>")
        for name in SET_ORDER:
            rows = per_threshold[per_threshold["set"] == name]
            if not rows.empty:
                parts.append(f"<h3>{_e(SET_TITLES[name].capitalize())}</h3>")
                ranked = leaderboard.loc[leaderboard["set"] == name, "method"]
                parts.append(_threshold_table(rows, f"f1-{name}", list(ranked)))
    parts.append("<h2>Paired comparisons</h2>")
    parts.append(_tests_section(pairwise))
    if figures:
        parts.append("<h2>Figures</h2>")
        parts += [_figure(stem, path) for stem, path in figures if not stem.startswith("mips/")]
        mips = [(stem, path) for stem, path in figures if stem.startswith("mips/")]
        if mips:
            parts.append(
                f"<details><summary>Maximum-intensity projections ({len(mips)} test "
                "images)</summary>"
            )
            parts += [_figure(stem, path) for stem, path in mips]
            parts.append("</details>")
    if notes:
        parts.append("<h2>Notes</h2><ul class='notes'>")
        parts += [f"<li>{_e(note)}</li>" for note in notes]
        parts.append("</ul>")
    parts.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _header(label: str, numeric: bool, title: str = "", left: bool = False) -> str:
    kind = "num" if numeric else "text"
    tip = f' title="{_e(title)}"' if title else ""
    align = "text" if left or not numeric else "num"
    return (
        f'<th class="{align}" data-type="{kind}" aria-sort="none"{tip}>'
        f"<button>{_e(label)}</button></th>"
    )


def _text_cell(text: object) -> str:
    return f'<td class="text">{_e(text)}</td>'


def _leaderboard_table(rows: pd.DataFrame, table_id: str) -> str:
    best = {}
    for key in METRICS:
        values = rows[key].to_numpy(dtype=float)
        if np.isfinite(values).any():
            best[key] = np.nanmin(values) if key in LOWER_IS_BETTER else np.nanmax(values)
    headers = [_header("Rank", True, left=True), _header("Method", False)]
    headers += [_header(k, True, METRIC_HELP[k]) for k in METRICS]
    headers.append(_header("images", True))
    out = [f'<table class="sortable" id="{_e(table_id)}"><thead><tr>{"".join(headers)}</tr>']
    out.append("</thead><tbody>")
    for row in rows.itertuples(index=False):
        cells = [f'<td class="text" data-value="{row.rank}">{row.rank}</td>']
        cells.append(_text_cell(row.method))
        for key in METRICS:
            value = _as_float(getattr(row, key))
            text = format_value(key, value)
            if key in INTERVAL_METRICS:
                lo, hi = getattr(row, f"{key}_lo"), getattr(row, f"{key}_hi")
                interval = format_ci(lo, hi)
                if interval:
                    text += f' <span class="ci">{_e(interval)}</span>'
            mark = ' class="best"' if key in best and np.isclose(value, best[key]) else ""
            cells.append(f'<td data-value="{_number(value)}"{mark}>{text}</td>')
        images = _as_float(row.num_images)
        text = format_value("num_images", images)
        cells.append(f'<td data-value="{_number(images)}">{text}</td>')
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _seeds_table(rows: pd.DataFrame) -> str:
    """Mean ± sample SD (min–max) of S, avF1 and C across seeds, per method and set."""
    out = [
        '<p class="muted">Methods trained with several seeds: mean ± sample SD (min–max) over '
        "the seeds; the leaderboards above and the paired comparisons show the first seed.</p>"
    ]
    headers = [_header("Method", False), _header("Set", False), _header("Seeds", True)]
    headers += [_header(k, True, METRIC_HELP[k]) for k in INTERVAL_METRICS]
    out.append(f'<table class="sortable" id="seeds"><thead><tr>{"".join(headers)}</tr>')
    out.append("</thead><tbody>")
    for row in rows.itertuples(index=False):
        cells = [_text_cell(row.method), _text_cell(SET_TITLES[row.set])]
        cells.append(f'<td data-value="{row.n_seeds}">{row.n_seeds}</td>')
        for key in INTERVAL_METRICS:
            mean = _as_float(getattr(row, f"{key}_seed_mean"))
            text = _e(format_seed_spread(row, key))
            cells.append(f'<td data-value="{_number(mean)}">{text}</td>')
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _threshold_table(rows: pd.DataFrame, table_id: str, order: Sequence[str]) -> str:
    """F1 per threshold, one row per method in leaderboard ``order``."""
    wide = rows.pivot_table(index="method", columns="threshold", values="F1", sort=False)
    wide = wide.reindex([m for m in order if m in wide.index])
    wide = wide[sorted(wide.columns, key=float)]
    headers = [_header("Method", False)] + [_header(f"F1@{th:g}", True) for th in wide.columns]
    out = [f'<table class="sortable" id="{_e(table_id)}"><thead><tr>{"".join(headers)}</tr>']
    out.append("</thead><tbody>")
    for method, values in wide.iterrows():
        cells = [_text_cell(method)]
        cells += [f'<td data-value="{_number(v)}">{format_value("F1", v)}</td>' for v in values]
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _tests_section(pairwise: pd.DataFrame) -> str:
    """Paired comparisons: Friedman per set, then ΔS with its interval and Wilcoxon per pair."""
    pairs = pairwise[pairwise["test"] == "wilcoxon"]
    if pairs.empty:
        return '<p class="muted">Paired comparisons need at least two methods.</p>'
    out = [
        "<p>ΔS = S(A) − S(B) on the images both methods scored, with a 95&nbsp;% paired "
        "bootstrap interval (the same resampled images for both methods; S pooled by the FISBe "
        "rules on every resample). Wilcoxon signed-rank test on per-image S, two-sided, "
        "Holm-adjusted within each set. With three or more methods, a Friedman test on "
        "per-image S across all methods; the Friedman test needs at least three methods.</p>"
    ]
    for name in SET_ORDER:
        rows = pairs[pairs["set"] == name]
        if rows.empty:
            continue
        out.append(f"<h3>{_e(SET_TITLES[name].capitalize())}</h3>")
        friedman = pairwise[(pairwise["set"] == name) & (pairwise["test"] == "friedman")]
        if not friedman.empty:
            row = friedman.iloc[0]
            out.append(
                f"<p>Friedman χ² = {row['statistic']:.3f}, p = {row['p']:.3g} "
                f"({int(row['n'])} images)</p>"
            )
        headers = [_header("Method A", False), _header("Method B", False)]
        headers += [_header(h, True) for h in ("ΔS", "W", "p", "p (Holm)", "images")]
        out.append(
            f'<table class="sortable" id="pairwise-{name}"><thead><tr>{"".join(headers)}</tr>'
            "</thead><tbody>"
        )
        for row in rows.itertuples(index=False):
            cells = [_text_cell(row.method_a), _text_cell(row.method_b)]
            interval = format_ci(row.ci_low, row.ci_high, 3)
            text = format_value("delta_S", row.delta_S, 3)
            if interval:
                text += f' <span class="ci">{_e(interval)}</span>'
            cells.append(f'<td data-value="{_number(row.delta_S)}">{text}</td>')
            for value in (row.statistic, row.p, row.p_holm):
                value = _as_float(value)
                cells.append(f'<td data-value="{_number(value)}">{value:.3g}</td>')
            images = _as_float(row.n)
            cells.append(
                f'<td data-value="{_number(images)}">{format_value("num_images", images)}</td>'
            )
            out.append(f"<tr>{''.join(cells)}</tr>")
        out.append("</tbody></table>")
    return "".join(out)


def _metric_legend() -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in METRIC_HELP.items())
    return f"<dl>{items}</dl>"


def _figure(stem: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = stem.split("/", 1)[-1]
    caption = FIGURE_CAPTIONS.get(
        stem,
        f"{name}: maximum-intensity projections of the raw image, the GT instances and each "
        "method's instances, with false splits and merges highlighted.",
    )
    return (
        f'<figure id="figure-{_e(stem.replace("/", "-"))}">'
        f'<img alt="{_e(name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _as_float(value: Any) -> float:
    return float("nan") if pd.isna(value) else float(value)


def _number(value: float) -> str:
    return repr(float(value)) if np.isfinite(value) else "NaN"

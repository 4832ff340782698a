"""``fisbe-bench leaderboard``: aggregate method evaluations into the dataset leaderboard.

Writes into ``--out-dir``: ``leaderboard.csv`` (method, set, rank, S, S_lo, S_hi, avF1,
..., FM, counts, training, n_seeds and the spread across seeds), ``seeds.csv`` (S, avF1
and C of every seed of methods trained with several), ``leaderboard_completely.csv`` /
``leaderboard_combined.csv`` (one per FISBe setting present), ``leaderboard.md``,
``leaderboard.html`` (self-contained), ``per_threshold.csv``, ``per_sample.csv``,
``bootstrap.csv``, ``pairwise.csv`` (paired comparisons of every two methods) and its
forest plot ``pairwise.{png,svg}``.
Every file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from fisbe_bench.atomic import write_text
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports import html, stats, tables
from fisbe_bench.reports.evaluations import (
    Evaluation,
    coverage_column,
    load_evaluation,
    load_evaluations,
    pair_methods,
    write_csv,
)
from fisbe_bench.training import TRAININGS

CONSISTENCY_TOLERANCE = 1e-6
FIGURE_ORDER = ("f1_threshold", "per_sample", "coverage", "per_neuron", "loss")


def write_leaderboard(
    dataset: str,
    evaluations: Mapping[str, str | Path],
    out_dir: str | Path,
    figures_dir: str | Path | None = None,
    bootstrap: int = stats.N_BOOT,
    seed: int = 0,
    training: Mapping[str, str] | None = None,
    seed_runs: Mapping[str, Mapping[int, str | Path]] | None = None,
) -> dict[str, Path]:
    """Read the evaluations (method -> evaluation folder), compute intervals and tests,
    write all outputs; returns the written paths by kind. ``training`` (method ->
    ``completely`` / ``completely+partly`` / ``none``) splits the two FISBe leaderboards.
    ``seed_runs`` (method -> seed -> evaluation folder, the first seed being the method's
    evaluation, which alone enters ranks, intervals and tests) adds the spread across seeds."""
    out_dir = Path(out_dir)
    if bootstrap < 1:
        raise FisbeError(f"bootstrap resamples must be positive, got {bootstrap}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_evaluations(evaluations)
        intervals = stats.bootstrap_table(loaded, n_boot=bootstrap, seed=seed)
    notes = [str(w.message) for w in caught]
    notes += _consistency_notes(loaded, intervals)
    per_sample = tables.per_sample_table(loaded)
    per_threshold = tables.per_threshold_table(loaded)
    unknown = sorted(set(training or {}) - set(evaluations))
    if unknown:
        raise FisbeError(f"training given for unknown method(s) {unknown}")
    bad = sorted({t for t in (training or {}).values()} - set(TRAININGS))
    if bad:
        raise FisbeError(f"unknown training {bad}; expected one of {TRAININGS}")
    seeds = _load_seed_runs(seed_runs or {}, evaluations)
    leaderboard = tables.leaderboard_table(
        loaded, intervals, training, {m: list(runs.values()) for m, runs in seeds.items()}
    )
    pairwise = stats.pairwise_table(loaded, n_boot=bootstrap, seed=seed)
    figures = _find_figures(Path(figures_dir)) if figures_dir is not None else []
    for note in notes:
        print(f"note: {note}", file=sys.stderr)

    written = {
        "leaderboard": write_csv(leaderboard, out_dir / "leaderboard.csv"),
        "per_threshold": write_csv(per_threshold, out_dir / "per_threshold.csv"),
        "per_sample": write_csv(per_sample, out_dir / "per_sample.csv"),
        "bootstrap": write_csv(intervals, out_dir / "bootstrap.csv"),
        "pairwise": write_csv(pairwise, out_dir / "pairwise.csv"),
        "seeds": write_csv(_seeds_table(seeds), out_dir / "seeds.csv"),
    }
    written["pairwise_figure"] = _write_forest(pairwise, out_dir)
    if len(loaded) > 1:
        figures.insert(0, ("pairwise", written["pairwise_figure"]))
    for setting in tables.SETTINGS:
        rows = leaderboard[leaderboard["set"] == setting]
        if not rows.empty:
            path = out_dir / f"leaderboard_{setting}.csv"
            written[f"leaderboard_{setting}"] = write_csv(rows, path)
    written["markdown"] = write_text(
        out_dir / "leaderboard.md", tables.markdown_tables(leaderboard, dataset, pairwise=pairwise)
    )
    page = html.render_page(
        dataset,
        leaderboard,
        per_threshold,
        pairwise,
        figures=figures,
        notes=notes,
        bootstrap_info=f"; {bootstrap} resamples, seed {seed}",
    )
    written["html"] = write_text(out_dir / "leaderboard.html", page)
    return written


def _load_seed_runs(
    seed_runs: Mapping[str, Mapping[int, str | Path]], evaluations: Mapping[str, str | Path]
) -> dict[str, dict[int, tables.Summary]]:
    """Method -> seed -> summary of every seed's evaluation."""
    unknown = sorted(set(seed_runs) - set(evaluations))
    if unknown:
        raise FisbeError(f"seeds given for unknown method(s) {unknown}")
    return {
        method: {int(seed): load_evaluation(method, path).summary for seed, path in runs.items()}
        for method, runs in seed_runs.items()
    }


def _seeds_table(seeds: Mapping[str, Mapping[int, tables.Summary]]) -> pd.DataFrame:
    """method, seed, set, S, avF1, C: one row per seed and set."""
    rows = [
        {"method": method, "seed": seed, "set": name}
        | {key: values[key] for key in tables.INTERVAL_METRICS}
        for method, runs in seeds.items()
        for seed, summary in runs.items()
        for name, values in summary.items()
    ]
    return pd.DataFrame(rows, columns=["method", "seed", "set", *tables.INTERVAL_METRICS])


def _consistency_notes(evaluations: Sequence[Evaluation], intervals: pd.DataFrame) -> list[str]:
    """Notes where per-sample rows do not reproduce summary.json, or C is approximated."""
    notes = []
    for evaluation in evaluations:
        if coverage_column(evaluation.per_sample) is None:
            notes.append(
                f"{evaluation.method}: per_sample.csv has no per-GT coverage lists; the "
                "bootstrap pools C from C x num_gt per image (exact sums) and the coverage "
                "figure shows per-image C"
            )
        rows = intervals[intervals["method"] == evaluation.method]
        for row in rows.itertuples(index=False):
            expected = evaluation.summary.get(row.set, {}).get(row.metric)
            if expected is not None and abs(expected - row.estimate) > CONSISTENCY_TOLERANCE:
                notes.append(
                    f"{evaluation.method}: {row.metric} of set {row.set} pooled from "
                    f"per_sample.csv is {row.estimate:.6f}, summary.json says {expected:.6f}"
                )
    return notes


def _write_forest(pairwise: pd.DataFrame, out_dir: Path) -> Path:
    """The forest plot of ΔS (``pairwise.png`` and ``.svg``; a note without any pair)."""
    from fisbe_bench.reports.figures import plot_pairwise, save_figure

    return save_figure(plot_pairwise(pairwise), out_dir, "pairwise")[0]


def _find_figures(figures_dir: Path) -> list[tuple[str, Path]]:
    """PNG figures to embed: the summary figures in a fixed order, then the MIPs."""
    if not figures_dir.is_dir():
        raise FisbeError("figures folder not found", figures_dir)
    found = [(stem, figures_dir / f"{stem}.png") for stem in FIGURE_ORDER]
    found = [(stem, path) for stem, path in found if path.is_file()]
    found += [(f"mips/{p.stem}", p) for p in sorted((figures_dir / "mips").glob("*.png"))]
    return found


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fisbe-bench leaderboard``."""
    parser.add_argument("--dataset", required=True, help="dataset name (page titles)")
    parser.add_argument(
        "--evaluations",
        nargs="+",
        required=True,
        metavar="DIR",
        help="evaluation folders results/<dataset>/<method>/evaluation, one per method",
    )
    parser.add_argument(
        "--methods", nargs="+", required=True, metavar="NAME", help="method names, same order"
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--figures", type=Path, metavar="DIR", help="figures from `fisbe-bench figures` to embed"
    )
    parser.add_argument(
        "--training",
        nargs="+",
        choices=TRAININGS,
        metavar="TRAINING",
        help="per method, same order: completely, completely+partly or none (default none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--bootstrap", type=int, default=stats.N_BOOT, help="bootstrap resamples (default 2000)"
    )


def run(args: argparse.Namespace) -> int:
    """Write the leaderboard files; returns the exit status."""
    if args.training is not None and len(args.training) != len(args.methods):
        raise FisbeError(f"{len(args.training)} training value(s) for {len(args.methods)} methods")
    training = dict(zip(args.methods, args.training, strict=True)) if args.training else None
    written = write_leaderboard(
        args.dataset,
        pair_methods(args.methods, args.evaluations),
        args.out_dir,
        figures_dir=args.figures,
        bootstrap=args.bootstrap,
        seed=args.seed,
        training=training,
    )
    print(f"wrote {len(written)} files to {args.out_dir}")
    return 0

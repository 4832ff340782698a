"""Label efficiency of a learned method: scores against the fraction of training images.

Each fraction's run is given by its evaluation ``summary.json`` and the split file it was
trained with (``fisbe_bench.splits.write_training_subset``); fraction 1 is the method's
normal run. The table has one row per fraction and set (completely, partly, combined) with
the number of training images of that set the method used (``combined``: all of them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from fisbe_bench.atomic import write_text
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports.evaluations import SETS
from fisbe_bench.reports.figures import method_palette, new_figure, save_figure
from fisbe_bench.reports.tables import SET_TITLES
from fisbe_bench.splits import parse_split_file

COLUMNS = ["fraction", "set", "n_train_images", "S", "avF1", "C"]


def label_efficiency_table(
    runs: Mapping[float, tuple[str | Path, str | Path]], train_sets: Sequence[str]
) -> pd.DataFrame:
    """Rows (fraction, set, n_train_images, S, avF1, C) from ``{fraction: (summary.json,
    split file used for training)}``; ``train_sets`` are the sets the method trains on."""
    rows = []
    for fraction, (summary_path, split_file) in sorted(runs.items()):
        try:
            summary = json.loads(Path(summary_path).read_text())
        except (OSError, ValueError) as err:
            raise FisbeError(f"cannot read evaluation summary: {err}", summary_path) from err
        train = [e for e in parse_split_file(split_file) if e.split == "train"]
        counts = {name: sum(e.set == name for e in train) for name in train_sets}
        for name in SETS:
            if name not in summary:
                continue
            n_train = sum(counts.values()) if name == "combined" else counts.get(name, 0)
            scores = {key: summary[name].get(key) for key in ("S", "avF1", "C")}
            rows.append({"fraction": fraction, "set": name, "n_train_images": n_train, **scores})
    return pd.DataFrame(rows, columns=COLUMNS)


def plot_label_efficiency(table: pd.DataFrame, method: str) -> Figure:
    """S against the fraction of labelled training images, one line per set."""
    figure, axes = new_figure(1, 1, figsize=(5.0, 3.8))
    ax = axes[0, 0]
    sets = [name for name in SETS if name in set(table["set"])]
    for name, colour in method_palette(sets).items():
        line = table[table["set"] == name].sort_values("fraction")
        ax.plot(line["fraction"], line["S"], "o-", color=colour, label=SET_TITLES[name], ms=4)
    ax.set(
        xlabel="fraction of labelled training images",
        ylabel="S (evaluation split)",
        title=f"label efficiency: {method}",
        xlim=(0, 1.05),
        ylim=(0, 1.02),
    )
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize="small", loc="lower right")
    figure.tight_layout()
    return figure


def write_label_efficiency(
    method: str,
    fractions: Sequence[float],
    summaries: Sequence[str | Path],
    split_files: Sequence[str | Path],
    train_sets: Sequence[str],
    csv_out: str | Path,
) -> pd.DataFrame:
    """Write the table as ``csv_out`` and the figure beside it (same stem, PNG and SVG)."""
    runs = dict(zip(fractions, zip(summaries, split_files, strict=True), strict=True))
    table = label_efficiency_table(runs, train_sets)
    csv_out = Path(csv_out)
    write_text(csv_out, table.to_csv(index=False, lineterminator="\n"))
    save_figure(plot_label_efficiency(table, method), csv_out.parent, csv_out.stem)
    return table

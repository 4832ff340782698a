"""The "Data" figure: a dataset's GT geometry beside the real FISBe reference.

Panels are empirical CDFs of per-neuron median diameter, 26-connected pieces, relative
extent and skeleton voxels, and of per-image foreground and overlap shares, for the
dataset (``fisbe-bench dataset-stats``) and for the two real FISBe ground truths whose
statistics ship as ``fisbe_bench/data/fisbe_real_stats.csv``. Regenerate that file with
``fisbe-bench dataset-stats --data tests/data/fisbe-real/gt --out
src/fisbe_bench/data/fisbe_real_stats.csv`` (``tests/test_dataset_stats.py`` checks it).
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from fisbe_bench.atomic import write_bytes
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports.figures import DPI, new_figure

REFERENCE = "fisbe_real_stats.csv"
PANELS = [  # (level, column, axis label, log scale)
    ("neuron", "median_diameter", "median diameter (voxels)", False),
    ("neuron", "pieces", "26-connected pieces per neuron", True),
    ("neuron", "relative_extent", "longest extent / longest volume side", False),
    ("neuron", "skeleton_voxels", "skeleton voxels per neuron", True),
    ("image", "foreground_share", "foreground share of voxels", True),
    ("image", "overlap_share", "overlap share of foreground", False),
]
COLOURS = {"reference": "0.2", "dataset": "tab:orange"}


def reference_stats() -> pd.DataFrame:
    """Statistics of the two real FISBe ground truths (package data)."""
    with resources.files("fisbe_bench").joinpath("data", REFERENCE).open() as handle:
        return pd.read_csv(handle)


def _ecdf(ax: Axes, values: pd.Series, label: str, colour: str) -> None:
    values = np.sort(values.dropna().to_numpy(dtype=float))
    if values.size:
        steps = np.arange(1, values.size + 1) / values.size
        ax.step(values, steps, where="post", color=colour, label=f"{label} (n={values.size})")


def plot_dataset_stats(table: pd.DataFrame, reference: pd.DataFrame, dataset: str) -> Figure:
    """ECDFs of the dataset's statistics ``table`` beside the real ``reference``."""
    figure, axes = new_figure(2, 3, (12.0, 6.5), layout="constrained", sharey=True)
    for ax, (level, column, label, log) in zip(axes.flat, PANELS, strict=True):
        for name, source in (("FISBe (2 real GTs)", reference), (dataset, table)):
            key = "reference" if source is reference else "dataset"
            _ecdf(ax, source.loc[source["level"] == level, column], name, COLOURS[key])
        ax.set_xlabel(label)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    for ax in axes[:, 0]:
        ax.set_ylabel("share of neurons / images")
    figure.suptitle(f"Ground-truth geometry of {dataset} vs real FISBe")
    return figure


def write_dataset_figure(stats: str | Path, out: str | Path, dataset: str) -> Path:
    """Draw the Data figure of the statistics CSV ``stats`` and write it atomically (PNG)."""
    try:
        table = pd.read_csv(stats)
    except (OSError, pd.errors.ParserError) as err:
        raise FisbeError(f"cannot read statistics table ({err.__class__.__name__})", stats) from err
    missing = {"level", *(column for _, column, _, _ in PANELS)} - set(table.columns)
    if missing:
        raise FisbeError(f"not a dataset-stats table: no column {sorted(missing)}", stats)
    figure = plot_dataset_stats(table, reference_stats(), dataset)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return write_bytes(out, buffer.getvalue())

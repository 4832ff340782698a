"""``fisbe-bench figures``: the benchmark figures, each as PNG and SVG.

- ``f1_threshold``: F1 against the clDice threshold per method, one panel per set;
- ``per_sample``: per-image S, avF1 and C per method;
- ``coverage``: cumulative distribution of per-GT coverage per method and set;
- ``per_neuron``: coverage against skeleton length per GT neuron (dim, overlapping, other);
- ``loss``: training loss curves of methods with ``<method>/train/loss.csv``;
- ``mips/<sample>``: maximum-intensity projections of raw, GT and each method's instances,
  with false splits and merges highlighted, for every sample of the chosen split.

Figures are drawn on matplotlib's Agg canvas without pyplot. Volumes are read one chunk
row (channels sharing a chunk, one chunk in z and y, full x) at a time; nothing holds a
whole stack, and only the GT keeps its voxel indices (for the split/merge overlaps).
"""

from __future__ import annotations

import argparse
import colorsys
import io
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import seaborn as sns
import zarr
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fisbe_bench.atomic import write_bytes
from fisbe_bench.contract import GT_KEY, PRED_KEY, RAW_KEY, normalise_raw
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports.evaluations import (
    LABELLED_SETS,
    SETS,
    Evaluation,
    load_evaluations,
    pair_methods,
    per_gt_coverages,
)
from fisbe_bench.reports.tables import SET_TITLES, per_sample_table, per_threshold_table

FORMATS = ("png", "svg")
DPI = 120
SPLIT_RECALL = 0.05  # a GT is split when >= 2 predictions each cover more than this share
MERGE_RECALL = 0.1  # a prediction merges when it covers more than this share of >= 2 GTs
ERROR_COLOURS = {
    "other prediction": (0.30, 0.45, 0.62),
    "false split": (1.0, 0.62, 0.0),
    "false merge": (1.0, 0.15, 0.85),
    "split and merge": (0.95, 0.1, 0.1),
}
GT_BACKGROUND = 0.28


def save_figure(figure: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Save ``figure`` as ``<stem>.png`` and ``<stem>.svg`` atomically."""
    paths = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        metadata = {"Software": None} if fmt == "png" else {"Date": None}
        figure.savefig(buffer, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
        paths.append(write_bytes(out_dir / f"{stem}.{fmt}", buffer.getvalue()))
    return paths


def new_figure(
    nrows: int,
    ncols: int,
    figsize: tuple[float, float],
    layout: Literal["constrained", "compressed", "tight"] | None = None,
    sharey: bool = False,
    sharex: bool = False,
) -> tuple[Figure, np.ndarray]:
    """A figure on an Agg canvas (no pyplot state to leak) and its (nrows, ncols) axes."""
    figure = Figure(figsize=figsize, layout=layout)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(nrows, ncols, squeeze=False, sharex=sharex, sharey=sharey)


def method_palette(methods: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A fixed colour per method, in the given order (colour-blind friendly)."""
    colours = sns.color_palette("colorblind", max(len(methods), 1))
    return dict(zip(methods, colours, strict=False))


def plot_f1_thresholds(per_threshold: pd.DataFrame, palette: dict[str, tuple]) -> Figure:
    """F1 against the clDice threshold per method, one panel per set."""
    sets = [s for s in SETS if s in set(per_threshold["set"])]
    figure, axes = new_figure(1, len(sets), figsize=(4.2 * len(sets), 3.6), sharey=True)
    for ax, name in zip(axes[0], sets, strict=True):
        rows = per_threshold[per_threshold["set"] == name]
        for method, colour in palette.items():
            line = rows[rows["method"] == method].sort_values("threshold")
            if not line.empty:
                ax.plot(line["threshold"], line["F1"], "o-", color=colour, label=method, ms=4)
        ax.set(title=SET_TITLES[name], xlabel="clDice threshold", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("F1 (pooled over images)")
    axes[0, -1].legend(frameon=False, fontsize="small", loc="upper right")
    figure.tight_layout()
    return figure


def plot_per_sample(per_sample: pd.DataFrame, palette: dict[str, tuple]) -> Figure:
    """Per-image S, avF1 and C per method; box per method and set, one dot per image."""
    metrics = [m for m in ("S", "avF1", "C") if m in per_sample.columns]
    long = per_sample.melt(id_vars=["method", "set"], value_vars=metrics, var_name="metric")
    hue_order = [s for s in LABELLED_SETS if s in set(long["set"])]
    figure, axes = new_figure(
        1, len(metrics), figsize=(max(3.2, 1.2 * len(palette)) * len(metrics), 3.8)
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = long[long["metric"] == metric]
        common = {"data": rows, "x": "method", "y": "value", "order": list(palette), "ax": ax}
        with warnings.catch_warnings():  # seaborn 0.13.2 passes matplotlib's deprecated `vert`
            warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
            sns.boxplot(
                **common, hue="set", hue_order=hue_order, showfliers=False, fill=False, legend=False
            )
        sns.stripplot(**common, hue="set", hue_order=hue_order, dodge=True, size=3.5, alpha=0.75)
        ax.set(title=f"per-image {metric}", xlabel="", ylabel=metric, ylim=(-0.02, 1.02))
        ax.tick_params(axis="x", rotation=30)
        ax.grid(axis="y", alpha=0.3)
        if ax is not axes[0, -1] and ax.get_legend():
            ax.get_legend().remove()
    figure.tight_layout()
    return figure


def plot_coverage(per_sample: pd.DataFrame, palette: dict[str, tuple]) -> tuple[Figure, bool]:
    """Cumulative distribution of per-GT coverage per method, one panel per set.

    Returns the figure and whether per-GT values were available (else per-image C,
    weighted by num_gt, stands in).
    """
    values, exact = per_gt_coverages(per_sample)
    long = pd.DataFrame(
        {
            "method": np.repeat(per_sample["method"].to_numpy(), [len(v) for v in values]),
            "set": np.repeat(per_sample["set"].to_numpy(), [len(v) for v in values]),
            "coverage": np.concatenate(values) if values else np.empty(0),
        }
    )
    sets = [s for s in LABELLED_SETS if s in set(long["set"])] or ["completely"]
    figure, axes = new_figure(1, len(sets), figsize=(4.4 * len(sets), 3.6))
    for ax, name in zip(axes[0], sets, strict=True):
        rows = long[long["set"] == name]
        for method, colour in palette.items():
            data = np.sort(rows.loc[rows["method"] == method, "coverage"].to_numpy())
            if len(data):
                share = np.arange(1, len(data) + 1) / len(data)
                ax.step(data, share, where="post", color=colour, label=method)
        what = "per-GT coverage" if exact else "per-image C (weighted by #GT)"
        ax.set(title=SET_TITLES[name], xlabel=what, ylabel="share of GT instances ≤ x")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0, -1].legend(frameon=False, fontsize="small", loc="upper left")
    figure.tight_layout()
    return figure, exact


def plot_losses(losses: dict[str, pd.DataFrame], palette: dict[str, tuple]) -> Figure:
    """Training loss against step, one panel per trained method (raw and smoothed)."""
    figure, axes = new_figure(1, len(losses), figsize=(4.6 * len(losses), 3.4))
    for ax, (method, table) in zip(axes[0], losses.items(), strict=True):
        curves = {
            c: pd.to_numeric(table[c], errors="coerce")
            for c in table.columns
            if "loss" in str(c).lower()
        }
        for index, (column, values) in enumerate(curves.items()):
            colour = palette.get(method) if index == 0 else f"C{index + 1}"
            window = max(1, len(values) // 50)
            ax.plot(table["step"], values, color=colour, alpha=0.25, lw=0.8)
            smooth = values.rolling(window, min_periods=1).mean()
            ax.plot(table["step"], smooth, color=colour, label=column, lw=1.6)
        if all((v.dropna() > 0).all() for v in curves.values()):
            ax.set_yscale("log")
        ax.set(title=method, xlabel="step", ylabel="loss")
        ax.grid(alpha=0.3)
        ax.legend(frameon=False, fontsize="small")
    figure.tight_layout()
    return figure


def plot_pairwise(pairwise: pd.DataFrame) -> Figure:
    """Forest plot: ΔS = S(A) − S(B) with its paired-bootstrap interval, one panel per set."""
    pairs = pairwise[pairwise["test"] == "wilcoxon"]
    if pairs.empty:
        figure, axes = new_figure(1, 1, figsize=(4.4, 1.2))
        axes[0, 0].set_axis_off()
        axes[0, 0].text(0.5, 0.5, "fewer than two methods: no pairs", ha="center")
        return figure
    sets = [s for s in SETS if s in set(pairs["set"])]
    n_rows = max(pairs.groupby("set").size())
    figure, axes = new_figure(
        1, len(sets), figsize=(4.4 * len(sets), 1.0 + 0.45 * n_rows), sharey=False
    )
    for ax, name in zip(axes[0], sets, strict=True):
        rows = pairs[pairs["set"] == name].reset_index(drop=True)
        y = np.arange(len(rows))[::-1]
        low = (rows["delta_S"] - rows["ci_low"]).fillna(0).clip(lower=0)
        high = (rows["ci_high"] - rows["delta_S"]).fillna(0).clip(lower=0)
        significant = rows["p_holm"].fillna(1) < 0.05
        for filled, colour in ((True, "#0b5394"), (False, "#8a98a8")):
            keep = (significant == filled).to_numpy()
            ax.errorbar(
                rows["delta_S"][keep],
                y[keep],
                xerr=[low[keep], high[keep]],
                fmt="o",
                color=colour,
                capsize=3,
                label="Holm p < 0.05" if filled else "not significant",
            )
        ax.axvline(0, color="black", lw=0.8)
        labels = [f"{a} − {b}" for a, b in zip(rows["method_a"], rows["method_b"], strict=True)]
        ax.set_yticks(y, labels)
        ax.set(title=SET_TITLES[name], xlabel="ΔS (95 % paired bootstrap interval)")
        ax.grid(axis="x", alpha=0.3)
    axes[0, -1].legend(frameon=False, fontsize="small", loc="lower right")
    figure.tight_layout()
    return figure


NEURON_KINDS = ("dim", "overlapping", "other")


def read_per_neuron(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """All methods' ``per_neuron.csv`` rows with a ``method`` column (empty if none)."""
    frames = []
    for evaluation in evaluations:
        path = evaluation.path / "per_neuron.csv"
        if path.is_file():
            try:
                frames.append(pd.read_csv(path).assign(method=evaluation.method))
            except (OSError, ValueError) as err:
                raise FisbeError(f"cannot read per-neuron table: {err}", path) from err
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_per_neuron(neurons: pd.DataFrame, palette: dict[str, tuple]) -> Figure:
    """Coverage against skeleton length per GT neuron: dim, overlapping, other neurons."""
    figure, axes = new_figure(  # one length axis: panels compare, and no crowded log ticks
        1, len(NEURON_KINDS), figsize=(4.2 * len(NEURON_KINDS), 3.6), sharex=True
    )
    if neurons.empty:
        for ax in axes[0]:
            ax.set_axis_off()
        axes[0, 1].text(0.5, 0.5, "no per_neuron.csv in the evaluations", ha="center")
        return figure
    kind = np.where(
        neurons["dim"].astype(bool),
        "dim",
        np.where(neurons["overlapping"].astype(bool), "overlapping", "other"),
    )
    for ax, name in zip(axes[0], NEURON_KINDS, strict=True):
        rows = neurons[kind == name]
        for method, colour in palette.items():
            mine = rows[rows["method"] == method]
            if not mine.empty:
                length = mine["skeleton_length"].clip(lower=1)
                ax.scatter(length, mine["coverage"], s=14, color=colour, alpha=0.7, label=method)
        ax.set_xscale("log")
        ax.set(
            title=f"{name} neurons ({len(rows)})",
            xlabel="skeleton length (voxels)",
            ylim=(-0.03, max(1.03, float(neurons["coverage"].max()) + 0.03)),
        )
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("coverage")
    handles = {
        label: handle
        for ax in axes[0]
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)
    }
    if handles:
        axes[0, -1].legend(handles.values(), handles.keys(), frameon=False, fontsize="small")
    figure.tight_layout()
    return figure


def read_losses(evaluations: Sequence[Evaluation]) -> dict[str, pd.DataFrame]:
    """``<method>/train/loss.csv`` of each method that trained (step and loss columns)."""
    losses = {}
    for evaluation in evaluations:
        path = evaluation.method_dir / "train" / "loss.csv"
        if not path.is_file():
            continue
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError) as err:
            raise FisbeError(f"cannot read loss table: {err}", path) from err
        if "step" not in table.columns or "loss" not in table.columns:
            raise FisbeError("loss table lacks column step or loss", path)
        losses[evaluation.method] = table
    return losses


# --- maximum-intensity projections -------------------------------------------------------


def channel_groups(array: zarr.Array, limit: int | None = None) -> Iterator[range]:
    """Runs of channels that share chunks (one chunk along the channel axis each)."""
    count = array.shape[0] if limit is None else min(limit, array.shape[0])
    step = int(array.chunks[0])
    for c0 in range(0, count, step):
        yield range(c0, min(c0 + step, count))


def channel_tiles(array: zarr.Array, channels: range) -> Iterator[tuple[int, int, np.ndarray]]:
    """(z0, y0, block) of a run of ``channels`` of a (C, Z, Y, X) array, one chunk in z and
    y at a time (full x); every chunk is read and decompressed once."""
    step_z, step_y = int(array.chunks[1]), int(array.chunks[2])
    for z0 in range(0, array.shape[1], step_z):
        for y0 in range(0, array.shape[2], step_y):
            window = (slice(channels.start, channels.stop), slice(z0, z0 + step_z))
            yield z0, y0, np.asarray(array[(*window, slice(y0, y0 + step_y))])


def raw_projection(array: zarr.Array) -> np.ndarray:
    """(Y, X, 3) float RGB maximum-intensity projection, clip(0, 1500) / 1500."""
    mip = np.zeros((3, *array.shape[2:]), dtype=array.dtype)
    for channels in channel_groups(array, limit=3):
        for _, y0, block in channel_tiles(array, channels):
            rows = mip[channels.start : channels.stop, y0 : y0 + block.shape[2]]
            np.maximum(rows, block.max(axis=1), out=rows)
    return np.moveaxis(normalise_raw(mip), 0, -1)


def project_instances(
    array: zarr.Array, visit: Callable[[int, np.ndarray], None] | None = None
) -> np.ndarray:
    """(Y, X) id (channel + 1) of the front-most (smallest z) instance at each pixel.

    ``visit(channel, flat_voxel_indices)`` is called once per channel with the flat
    (z, y, x) indices of its voxels, so callers can compute overlaps channel by channel.
    """
    depth_size, width = array.shape[1], array.shape[3]
    plane = array.shape[2] * width
    labels = np.zeros(array.shape[2:], dtype=np.int32)
    depth = np.full(array.shape[2:], depth_size, dtype=np.int32)
    for channels in channel_groups(array):
        first = np.full((len(channels), *array.shape[2:]), depth_size, dtype=np.int32)
        parts: list[list[np.ndarray]] = [[] for _ in channels]
        for z0, y0, block in channel_tiles(array, channels):
            rows = slice(y0, y0 + block.shape[2])
            for k in range(len(channels)):
                mask = block[k] > 0
                if not mask.any():
                    continue
                fresh = mask.any(axis=0) & (first[k, rows] == depth_size)
                first[k, rows][fresh] = z0 + mask.argmax(axis=0)[fresh]
                if visit is not None:
                    z, rest = np.divmod(np.flatnonzero(mask), mask.shape[1] * width)
                    parts[k].append((z + z0) * plane + y0 * width + rest)
        for k, channel in enumerate(channels):
            closer = first[k] < depth
            labels[closer] = channel + 1
            depth[closer] = first[k][closer]
            if visit is not None:
                voxels = np.concatenate(parts[k]) if parts[k] else np.empty(0, dtype=np.int64)
                visit(channel, voxels)
    return labels


class GroundTruthIndex:
    """Sorted flat voxel indices of the GT instances, for counting overlaps.

    Voxels shared by several GT instances are ambiguous for split/merge judgements and
    left out, so a prediction equal to one of two overlapping neurons overlaps only it.
    """

    def __init__(self, n_instances: int) -> None:
        self.sizes = np.zeros(n_instances, dtype=np.int64)
        self._parts: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._voxels = np.empty(0, dtype=np.int64)
        self._owner = np.empty(0, dtype=np.int32)

    def add(self, channel: int, voxels: np.ndarray) -> None:
        """Record one GT channel's voxels."""
        self._parts.append(voxels)
        self._ids.append(np.full(len(voxels), channel, dtype=np.int32))

    def finish(self) -> None:
        """Sort all recorded voxels once and drop shared ones (after the last :meth:`add`)."""
        if self._parts:
            voxels, owner = np.concatenate(self._parts), np.concatenate(self._ids)
            order = np.argsort(voxels, kind="stable")
            voxels, owner = voxels[order], owner[order]
            repeated = voxels[1:] == voxels[:-1]
            shared = np.zeros(len(voxels), dtype=bool)
            shared[1:] |= repeated
            shared[:-1] |= repeated
            self._voxels, self._owner = voxels[~shared], owner[~shared]
            self.sizes = np.bincount(self._owner, minlength=len(self.sizes))
        self._parts, self._ids = [], []

    def overlaps(self, voxels: np.ndarray) -> np.ndarray:
        """Number of ``voxels`` inside each GT instance (shared GT voxels not counted)."""
        position = np.searchsorted(self._voxels, voxels)
        inside = position < len(self._voxels)
        position, voxels = position[inside], voxels[inside]
        owners = self._owner[position[self._voxels[position] == voxels]]
        return np.bincount(owners, minlength=len(self.sizes))


def classify_errors(
    overlap: np.ndarray, gt_sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Predictions in false splits and false merges, from the (n_gt, n_pred) voxel overlap.

    A voxel proxy of the FISBe rules (which use skeleton coverage): a prediction covering
    more than 5 % of a GT's voxels splits it when another one does too; a prediction
    merges when it covers more than 10 % of at least two GTs. Returns boolean (n_pred,)
    masks of splitting and merging predictions, and the FS and FM counts of the proxy.
    """
    recall = overlap / np.maximum(gt_sizes, 1)[:, None]
    parts_per_gt = (recall > SPLIT_RECALL).sum(axis=1)
    gts_per_pred = (recall > MERGE_RECALL).sum(axis=0)
    split = ((recall > SPLIT_RECALL) & (parts_per_gt >= 2)[:, None]).any(axis=0)
    merge = gts_per_pred >= 2
    false_splits = int(np.maximum(parts_per_gt - 1, 0).sum())
    false_merges = int(np.maximum(gts_per_pred - 1, 0).sum())
    return split, merge, false_splits, false_merges


def instance_colours(n: int) -> np.ndarray:
    """(n + 1, 3) distinct bright colours (golden-ratio hues), row 0 black."""
    colours = np.zeros((n + 1, 3))
    for i in range(n):
        hue = (i * 0.618033988749895) % 1.0
        colours[i + 1] = colorsys.hsv_to_rgb(hue, 0.55 + 0.45 * (i % 2), 1.0 - 0.2 * (i % 3 == 2))
    return colours


def plot_sample_mips(
    sample: str,
    path: Path,
    predictions: dict[str, Path],
    titles: dict[str, str] | None = None,
) -> Figure:
    """Raw RGB, GT instances, and per method its instances and its splits/merges."""
    group = zarr.open_group(str(path), mode="r")
    if GT_KEY not in group:
        raise FisbeError(f"sample has no {GT_KEY}", path)
    gt = group[GT_KEY]
    stored_raw = group.get(RAW_KEY)
    if not isinstance(gt, zarr.Array) or not isinstance(stored_raw, zarr.Array | None):
        raise FisbeError(f"{GT_KEY} and {RAW_KEY} must be arrays", path)
    index = GroundTruthIndex(gt.shape[0])
    gt_labels = project_instances(gt, index.add)
    index.finish()
    raw = raw_projection(stored_raw) if stored_raw is not None else None
    n_cols = 2 + len(predictions)
    figure, axes = new_figure(2, n_cols, figsize=(4.0 * n_cols, 8.6), layout="constrained")
    for ax in axes.ravel():
        ax.set_axis_off()
    _show(axes[0, 0], raw, "raw (MIP)" if raw is not None else "raw: not available")
    _show(axes[0, 1], instance_colours(gt.shape[0])[gt_labels], f"GT ({gt.shape[0]} instances)")
    gt_union = GT_BACKGROUND * (gt_labels > 0)[..., None] * np.ones(3)
    for column, (method, pred_path) in enumerate(predictions.items(), start=2):
        title = (titles or {}).get(method, method)
        if not (pred_path / PRED_KEY).exists():
            _show(axes[0, column], None, f"{title}: no prediction")
            continue
        pred = zarr.open_array(str(pred_path / PRED_KEY), mode="r")
        same_shape = tuple(pred.shape[1:]) == tuple(gt.shape[1:])
        overlap = np.zeros((gt.shape[0], pred.shape[0]), dtype=np.int64)

        def count(channel: int, voxels: np.ndarray, overlap: np.ndarray = overlap) -> None:
            overlap[:, channel] = index.overlaps(voxels)

        labels = project_instances(pred, count if same_shape else None)
        _show(axes[0, column], instance_colours(pred.shape[0])[labels], title)
        if not same_shape:
            _show(axes[1, column], None, "shape differs from GT:\nno split/merge view")
            continue
        split, merge, fs, fm = classify_errors(overlap, index.sizes)
        category = np.zeros(pred.shape[0] + 1, dtype=np.int64)
        category[1:] = 1 + split + 2 * merge
        palette = np.vstack([np.zeros(3), *ERROR_COLOURS.values()])
        image = np.where((labels > 0)[..., None], palette[category[labels]], gt_union)
        _show(axes[1, column], image, f"{method}: splits {fs}, merges {fm}\n(voxel proxy)")
    handles = [Patch(color=(GT_BACKGROUND,) * 3, label="GT (unpredicted)")]
    handles += [Patch(color=colour, label=label) for label, colour in ERROR_COLOURS.items()]
    axes[1, 0].legend(handles=handles, loc="center", frameon=False, fontsize="small")
    figure.suptitle(sample)
    return figure


def _show(ax: Axes, image: np.ndarray | None, title: str) -> None:
    if image is not None:
        ax.imshow(image, interpolation="antialiased")  # keeps thin neurites visible
    ax.set_title(title, fontsize="small")


def read_sample_table(path: str | Path) -> pd.DataFrame:
    """The workflow's sample table (tab-separated: sample, set, split, path)."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (OSError, ValueError) as err:
        raise FisbeError(f"cannot read sample table: {err}", path) from err
    lacking = [c for c in ("sample", "set", "split", "path") if c not in table.columns]
    if lacking:
        raise FisbeError(f"sample table lacks column(s) {', '.join(lacking)}", path)
    return table


def write_figures(
    dataset: str,
    evaluations: Mapping[str, str | Path],
    out_dir: str | Path,
    splits: str | Path | None = None,
    split: str = "test",
    samples: Sequence[str] | None = None,
) -> list[Path]:
    """Draw every figure into ``out_dir`` (MIPs only when ``splits`` is given).

    ``evaluations`` maps method name -> ``results/<dataset>/<method>/evaluation``; the
    predictions and ``train/loss.csv`` are found beside that folder.
    """
    out_dir = Path(out_dir)
    loaded = load_evaluations(evaluations)
    palette = method_palette(list(evaluations))
    written: list[Path] = []
    per_threshold = per_threshold_table(loaded)
    per_sample = per_sample_table(loaded)
    figure = plot_f1_thresholds(per_threshold, palette)
    figure.suptitle(f"{dataset}: F1 per clDice threshold", y=1.02)
    written += save_figure(figure, out_dir, "f1_threshold")
    written += save_figure(plot_per_sample(per_sample, palette), out_dir, "per_sample")
    written += save_figure(plot_coverage(per_sample, palette)[0], out_dir, "coverage")
    neurons = plot_per_neuron(read_per_neuron(loaded), palette)
    written += save_figure(neurons, out_dir, "per_neuron")
    losses = read_losses(loaded)
    if losses:
        written += save_figure(plot_losses(losses, palette), out_dir, "loss")
    if splits is not None:
        table = read_sample_table(splits)
        table = table[table["split"] == split]
        if samples:
            unknown = sorted(set(samples) - set(table["sample"]))
            if unknown:
                raise FisbeError(f"sample(s) {unknown} not in split {split!r}", splits)
            table = table[table["sample"].isin(samples)]
        scores = per_sample.set_index(["method", "sample"])
        for row in table.itertuples(index=False):
            predictions = {
                e.method: e.method_dir / "predictions" / f"{row.sample}.zarr" for e in loaded
            }
            titles = {
                m: f"{m}: S {scores.loc[(m, row.sample), 'S']:.2f}"
                if (m, row.sample) in scores.index and "S" in scores.columns
                else m
                for m in predictions
            }
            figure = plot_sample_mips(row.sample, Path(row.path), predictions, titles)
            written += save_figure(figure, out_dir / "mips", row.sample)
    return written


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``fisbe-bench figures``."""
    parser.add_argument("--dataset", required=True, help="dataset name (figure titles)")
    parser.add_argument(
        "--evaluations", nargs="+", required=True, metavar="DIR", help="evaluation folders"
    )
    parser.add_argument(
        "--methods", nargs="+", required=True, metavar="NAME", help="method names, same order"
    )
    parser.add_argument("--out-dir", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--splits", type=Path, help="sample table results/<dataset>/splits.tsv (enables MIPs)"
    )
    parser.add_argument("--split", default="test", help="split drawn as MIPs (default test)")
    parser.add_argument("--samples", nargs="+", metavar="NAME", help="only these samples")


def run(args: argparse.Namespace) -> int:
    """Draw the figures; returns the exit status."""
    written = write_figures(
        args.dataset,
        pair_methods(args.methods, args.evaluations),
        args.out_dir,
        splits=args.splits,
        split=args.split,
        samples=args.samples,
    )
    print(f"wrote {len(written)} files to {args.out_dir}")
    return 0

"""Scoring a folder of predictions against a folder of FISBe ground truths."""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

from fisbe_bench.atomic import check_output_folder, owned_directory
from fisbe_bench.contract import SETS, SPLITS
from fisbe_bench.errors import FisbeError
from fisbe_bench.metrics.aggregate import (
    F1_KEYS,
    SampleResult,
    aggregate,
    combine,
)
from fisbe_bench.metrics.evaluate import evaluate_sample
from fisbe_bench.splits import parse_split_file
from fisbe_bench.volumes import VOLUME_SUFFIXES, open_volume

logger = logging.getLogger(__name__)

PER_NEURON_COLUMNS = (
    "gt_id",
    "dim",
    "overlapping",
    "skeleton_length",
    "coverage",
    "cldice_05",
    "matched_pred",
)
# Written into every evaluation folder: version and the files this command owns there.
MARKER = ".fisbe-bench-evaluate.json"
NO_SET_WARNING = (
    "neither --split-file nor --partly given: every image is scored as completely labelled;"
    " a partly labelled image would count its unlabelled neurons as false positives"
)
PER_SAMPLE_METRICS = ("S", "avF1", "C", "clDice_TP", "tp", "FS", "FM", "num_gt", "num_pred")


def read_split_file(path: str | Path) -> tuple[set[str], dict[str, set[str]]]:
    """The partly labelled samples of an official split file and, per split, its samples."""
    partly: set[str] = set()
    per_split: dict[str, set[str]] = {name: set() for name in SPLITS}
    for entry in parse_split_file(path):
        per_split[entry.split].add(entry.sample)
        if entry.set == "partly":
            partly.add(entry.sample)
    return partly, per_split


def find_gt_samples(gt_dir: str | Path) -> dict[str, Path]:
    """All ``<sample>.zarr`` groups under ``gt_dir`` (recursively), by sample name."""
    gt_dir = Path(gt_dir)
    if not gt_dir.is_dir():
        raise FisbeError("GT folder does not exist", gt_dir)
    found: dict[str, Path] = {}
    stack = [gt_dir]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if not entry.is_dir():
                continue
            if entry.suffix == ".zarr":
                name = entry.name[: -len(".zarr")]
                if name in found:
                    raise FisbeError(f"sample {name!r} found twice (also {found[name]})", entry)
                found[name] = entry
            elif not entry.name.startswith("."):
                stack.append(entry)
    if not found:
        raise FisbeError("no <sample>.zarr ground truth found", gt_dir)
    return dict(sorted(found.items()))


def find_predictions(pred_dir: str | Path) -> dict[str, Path]:
    """Prediction files/groups in ``pred_dir`` (zarr, HDF5, TIFF) by sample name."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FisbeError("prediction folder does not exist", pred_dir)
    found: dict[str, Path] = {}
    for entry in sorted(pred_dir.iterdir()):
        suffix = entry.suffix.lower()
        if suffix not in VOLUME_SUFFIXES or entry.name.startswith("."):
            continue
        name = entry.name[: -len(suffix)]
        if name in found:
            raise FisbeError(f"two predictions for sample {name!r}: also {found[name].name}", entry)
        found[name] = entry
    return found


def _evaluate_file(
    name: str,
    gt_path: Path,
    gt_key: str,
    pred_path: Path,
    pred_key: str,
    partly: bool,
    iou: bool,
) -> SampleResult:
    gt = open_volume(gt_path, gt_key)
    pred = open_volume(pred_path, pred_key)
    return evaluate_sample(
        gt,
        pred,
        partly=partly,
        name=name,
        iou=iou,
        where=pred_path,
        dim_neurons=read_dim_neurons(gt_path, gt_key),
    )


def read_dim_neurons(gt_path: Path, gt_key: str) -> list[int]:
    """The GT array's ``dim_neurons`` attribute (1-based GT labels); empty if absent."""
    import zarr

    try:
        values = cast(
            list[Any],
            zarr.open_array(str(gt_path), path=gt_key, mode="r").attrs.get("dim_neurons", []),
        )
        return [int(v) for v in values]
    except (TypeError, ValueError) as err:
        raise FisbeError(
            f"cannot read the dim_neurons attribute of {gt_key}: {err}", gt_path
        ) from err


def evaluate_directories(
    gt_dir: str | Path,
    pred_dir: str | Path,
    out_dir: str | Path,
    *,
    pred_key: str = "volumes/instances",
    gt_key: str = "volumes/gt_instances",
    split_file: str | Path | None = None,
    split: str | None = None,
    partly: bool = False,
    jobs: int = 1,
    iou: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Score every GT sample under ``gt_dir`` against ``pred_dir``; write and return the summary.

    ``split_file`` (official format) says which samples are partly labelled; ``split``
    restricts scoring to the samples listed under that split; ``partly`` marks all as
    partly labelled; with neither, all are assumed completely labelled (a warning). Each set
    of the summary records per sample where its set came from (``set_source``).

    Outputs (summary.json, per_sample.csv, per_threshold.csv, per_neuron.csv and one
    official-style TOML per sample) appear in ``out_dir`` file by file, each whole, and are
    listed in its :data:`MARKER`. A non-empty ``out_dir`` without the marker is refused unless
    ``overwrite``; only files written now or listed by the marker are replaced or removed.
    """
    if split is not None and split_file is None:
        raise FisbeError("--split needs --split-file")
    if split is not None and split not in SPLITS:
        raise FisbeError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if split_file is not None and partly:
        raise FisbeError("give either a split file or --partly, not both")
    out_dir = Path(out_dir)
    for folder in (gt_dir, pred_dir):
        if Path(folder).resolve().is_relative_to(out_dir.resolve()):
            raise FisbeError("output folder must not contain the inputs", out_dir)
    check_output_folder(out_dir, MARKER, overwrite=overwrite)

    gt_samples = find_gt_samples(gt_dir)
    partly_names: set[str] = set()
    listed: set[str] = set()
    if split_file is None and not partly:
        logger.warning(NO_SET_WARNING)
    if split_file is not None:
        partly_names, per_split = read_split_file(split_file)
        if split is not None:
            gt_samples = {n: p for n, p in gt_samples.items() if n in per_split[split]}
            if not gt_samples:
                raise FisbeError(f"no GT sample of split {split!r} found in {gt_dir}", split_file)
        listed = set().union(*per_split.values())
        for name in sorted(set(gt_samples) - listed):
            logger.warning("sample %s is not in the split file; scoring it as completely", name)
    predictions = find_predictions(pred_dir)
    for name in sorted(set(predictions) - set(gt_samples)):
        logger.warning("ignoring prediction without a GT sample to score: %s", predictions[name])
    for name in gt_samples:
        if name not in predictions:
            expected = " or ".join(f"{name}{s}" for s in (".zarr", ".hdf", ".h5", ".tif"))
            raise FisbeError(f"no prediction for sample {name} (expected {expected})", pred_dir)

    tasks = [
        (
            name,
            gt_samples[name],
            gt_key,
            predictions[name],
            pred_key,
            partly or name in partly_names,
            iou,
        )
        for name in gt_samples
    ]
    results = list(_run(tasks, jobs))
    summary = summarize(results)
    sources = {
        name: "--partly" if partly else "split-file" if name in listed else "assumed completely"
        for name in gt_samples
    }
    for set_name, values in summary.items():
        values["set_source"] = {
            r.name: sources[r.name]
            for r in results
            if set_name == "combined" or r.partly == (set_name == "partly")
        }
    write_outputs(out_dir, results, summary, overwrite=overwrite)
    return summary


def _run(tasks: list[tuple[Any, ...]], jobs: int) -> Iterable[SampleResult]:
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            logger.info("evaluating %s", task[0])
            yield _evaluate_file(*task)
        return
    context = multiprocessing.get_context("spawn")
    root = logging.getLogger()
    formatter = next((h.formatter for h in root.handlers if h.formatter), None)
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=context,
        initializer=_log_like_parent,
        initargs=(root.level, formatter._fmt if formatter else None),
    ) as pool:
        futures = [pool.submit(_evaluate_file, *task) for task in tasks]
        for task, future in zip(tasks, futures, strict=True):
            result = future.result()
            logger.info("evaluated %s", task[0])
            yield result


def _log_like_parent(level: int, fmt: str | None) -> None:
    """Give a spawned worker the parent's log format (e.g. the CLI's one-line prefix)."""
    if fmt is not None:
        logging.basicConfig(level=level, format=fmt)


def summarize(results: list[SampleResult]) -> dict[str, Any]:
    """Summary per set present, plus "combined" when both sets are."""
    summary: dict[str, Any] = {}
    for set_name in SETS:
        members = [r for r in results if r.partly == (set_name == "partly")]
        if members:
            summary[set_name] = aggregate(members)
    if len(summary) == 2:
        summary["combined"] = combine(summary["completely"], summary["partly"])
    return summary


def write_outputs(
    out_dir: Path, results: list[SampleResult], summary: dict[str, Any], *, overwrite: bool = False
) -> None:
    """Write all outputs into a temporary folder, then move each file into ``out_dir``
    (summary.json last); see :func:`fisbe_bench.atomic.owned_directory`."""
    import tomli_w

    from fisbe_bench import __version__

    info = {"written_by": "fisbe-bench evaluate", "version": __version__}
    with owned_directory(out_dir, MARKER, info, overwrite=overwrite, last="summary.json") as tmp:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        _write_per_sample(tmp / "per_sample.csv", results)
        _write_per_threshold(tmp / "per_threshold.csv", summary, "cldice")
        _write_per_neuron(tmp / "per_neuron.csv", results)
        if all(r.iou is not None for r in results):
            _write_per_threshold(tmp / "per_threshold_iou.csv", summary, "iou")
        for result in results:
            (tmp / f"{result.name}.toml").write_text(tomli_w.dumps(result.official_tables()))


def _write_per_sample(path: Path, results: list[SampleResult]) -> None:
    with_iou = all(r.iou is not None for r in results)
    header = ["sample", "set", *PER_SAMPLE_METRICS, *(f"F1_{k}" for k in F1_KEYS)]
    for k in F1_KEYS:
        header += [f"TP_{k}", f"FP_{k}", f"FN_{k}"]
    if with_iou:
        header += ["iou_avF1", *(f"iou_F1_{k}" for k in F1_KEYS)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for r in results:
            metrics = r.metrics()
            row: list[object] = [r.name, "partly" if r.partly else "completely"]
            row += [metrics[m] for m in PER_SAMPLE_METRICS]
            row += [metrics["F1"][k] for k in F1_KEYS]
            for k in F1_KEYS:
                row += [r.TP[k], r.FP[k], r.FN[k]]
            if with_iou:
                row += [r.iou["avF1"], *(r.iou["F1"][k] for k in F1_KEYS)]  # type: ignore[index]
            writer.writerow(row)


def _write_per_neuron(path: Path, results: list[SampleResult]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample", "set", *PER_NEURON_COLUMNS])
        for r in results:
            for row in r.neurons:
                cells = [
                    int(row[c]) if isinstance(row[c], bool) else row[c] for c in PER_NEURON_COLUMNS
                ]
                writer.writerow([r.name, "partly" if r.partly else "completely", *cells])


def _write_per_threshold(path: Path, summary: dict[str, Any], family: str) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["set", "threshold", "TP", "FP", "FN", "precision", "recall", "F1"])
        for set_name, values in summary.items():
            values = values if family == "cldice" else values["iou"]
            for k in values["F1"]:
                tp, fp, fn = values["TP"][k], values["FP"][k], values["FN"][k]
                precision = tp / (tp + fp) if tp + fp else 0.0
                recall = tp / (tp + fn) if tp + fn else 0.0
                writer.writerow([set_name, k, tp, fp, fn, precision, recall, values["F1"][k]])

"""``fisbe-bench oracle``: the ceiling a learned method's decoding imposes, apart from learning.

For every GT sample, the method renders the outputs a perfect network would predict (its
training targets), decodes them with its own decoding step and parameters, and the result
is scored like any prediction: ``--out`` becomes a normal evaluation folder
(``summary.json``, ``per_sample.csv``, ...; see ``fisbe-bench evaluate``).

Each learned kind offers ``ideal_instances(gt_path, preset, params) -> (labels, extra)``
in ``fisbe_bench.methods.<kind>.oracle`` (``preset``: its training preset or None;
``params``: a mapping of decoding parameters, a method's config entry, or None). This
module imports only the standard library at load time (the workflow reads ``KINDS``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from fisbe_bench.errors import FisbeError

KINDS = ("unet_affinity", "patchperpix")


def oracle_predictions(
    kind: str,
    gt_dir: str | Path,
    pred_dir: str | Path,
    preset: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    samples: set[str] | None = None,
    progress: bool = True,
) -> int:
    """Write the decoded ideal outputs of each GT sample (``samples``, default all) under
    ``gt_dir`` as ``pred_dir/<sample>.zarr``; returns the number of samples."""
    from tqdm import tqdm

    from fisbe_bench import sample_io
    from fisbe_bench.metrics.directories import find_gt_samples

    if kind not in KINDS:
        raise FisbeError(f"no oracle for method kind {kind!r} (known: {', '.join(KINDS)})")
    module: Any = importlib.import_module(f"fisbe_bench.methods.{kind}.oracle")
    found = find_gt_samples(gt_dir)
    chosen = {name: path for name, path in found.items() if samples is None or name in samples}
    if not chosen:
        raise FisbeError("no GT samples to render", gt_dir)
    for name, path in tqdm(sorted(chosen.items()), desc="oracle", disable=not progress):
        labels, extra = module.ideal_instances(path, preset, params)
        sample_io.write_instances(
            Path(pred_dir) / f"{name}.zarr", labels, extra_voxels=extra, attrs={"oracle": kind}
        )
    return len(chosen)


def evaluate_oracle(
    kind: str,
    gt_dir: str | Path,
    out_dir: str | Path,
    *,
    preset: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    split_file: str | Path | None = None,
    split: str | None = None,
    partly: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Render, decode and score the ideal outputs of every GT sample (of ``split``, with a
    split file) under ``gt_dir``; ``out_dir`` becomes an evaluation folder. Returns the
    summary (see :func:`fisbe_bench.metrics.directories.evaluate_directories`)."""
    from fisbe_bench.metrics.directories import evaluate_directories, read_split_file

    if split and not split_file:
        raise FisbeError("--split needs --split-file")
    samples = None
    if split:
        samples = read_split_file(cast(str | Path, split_file))[1].get(split)
        if samples is None:
            raise FisbeError(f"unknown split {split!r}", split_file)
    with tempfile.TemporaryDirectory(prefix="fisbe-oracle-") as tmp:
        oracle_predictions(kind, gt_dir, tmp, preset, params, samples, progress)
        return evaluate_directories(
            gt_dir,
            tmp,
            out_dir,
            split_file=split_file,
            split=split,
            partly=partly,
            overwrite=overwrite,
        )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=KINDS, help="learned method kind")
    parser.add_argument("--gt", required=True, metavar="GT_DIR", help="folder with <sample>.zarr")
    parser.add_argument(
        "--preset", metavar="YAML", help="training preset (its network outputs; default built-in)"
    )
    parser.add_argument(
        "--params", metavar="JSON", help="decoding parameters (a params.json; default built-in)"
    )
    labelled = parser.add_mutually_exclusive_group()
    labelled.add_argument(
        "--split-file", metavar="FILE", help="official split file: which samples are partly"
    )
    labelled.add_argument("--partly", action="store_true", help="all samples are partly labelled")
    parser.add_argument("--split", help="only this split's samples (needs --split-file)")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="evaluation folder")
    parser.add_argument("--overwrite", action="store_true", help="as for fisbe-bench evaluate")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    from fisbe_bench.tuning import read_params_document

    logging.basicConfig(level=logging.INFO, format="fisbe-bench oracle: %(levelname)s: %(message)s")
    params = None
    if args.params:
        document = read_params_document(args.params)
        params = document.get("params", document)
        if not isinstance(params, dict):
            raise FisbeError("'params' must be a JSON object", args.params)
    summary = evaluate_oracle(
        args.method,
        args.gt,
        args.out,
        preset=args.preset,
        params=params,
        split_file=args.split_file,
        split=args.split,
        partly=args.partly,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    for set_name, values in summary.items():
        print(f"{set_name:<11} S {values['S']:.4f}  avF1 {values['avF1']:.4f}  C {values['C']:.4f}")
    return 0

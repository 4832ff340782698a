"""``fisbe-bench overfit``: can a learned method memorise one volume?

The classic sanity check of a training pipeline, run on the CPU: train on a single sample,
predict that same sample, tune the decoding on it and score it. A method whose targets,
loss, prediction and decoding fit together reaches nearly its decoding ceiling
(``fisbe-bench oracle``); a broken link shows as a low S.

``--out DIR`` receives ``preset.yaml`` (the preset fitted to the volume), ``train/`` (the
training run: ``best.pt``, ``loss.csv``, ``loss.png``), ``probabilities/<sample>.zarr``,
``params.json`` (the decoding tuned on the sample), ``predictions/<sample>.zarr``,
``diagnostics.json`` (B1: its output errors before decoding,
:mod:`fisbe_bench.methods.unet_affinity.diagnostics`) and ``evaluation/`` (as ``fisbe-bench
evaluate`` writes it; rescore with ``fisbe-bench evaluate --gt <folder of the sample> --pred
DIR/predictions``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any, cast

from fisbe_bench import contract
from fisbe_bench.errors import FisbeError

KINDS = ("unet_affinity", "patchperpix")
_COMMON: dict[str, Any] = {
    "model": {"base": 8, "factor": 2, "depth": 2, "batch_norm": True, "chromaticity": True},
    "crop": [48, 48, 48],
    "batch": 2,
    "lr": 1.0e-3,
    "ema": 0.99,
    "select": "last",
    "val_every": 0,
    "checkpoint_every": 100,
    "numinst_class_weights": [1.0, 2.0, 3.0],
    "augment": False,  # memorising one volume: nothing to generalise
    "num_workers": 0,
}
PRESETS: dict[str, dict[str, Any]] = {
    # the demo's 19 channels: the 13 directions at distance 1, the axes at 3 and 9
    "unet_affinity": {
        **_COMMON,
        "model": {**_COMMON["model"], "offsets": [
            [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, -1], [0, 1, 1], [1, -1, 0], [1, 0, -1],
            [1, 0, 1], [1, 1, 0], [1, -1, -1], [1, -1, 1], [1, 1, -1], [1, 1, 1],
            [0, 0, 3], [0, 3, 0], [3, 0, 0], [0, 0, 9], [0, 9, 0], [9, 0, 0]]},
        "steps": 2000,
    },
    # the demo's 5^3 patches (consensus at distances 1, 2 and 4)
    "patchperpix": {**_COMMON, "patch_radius": 2, "boundary_pair_weight": 1.0, "steps": 300},
}  # fmt: skip
"""The built-in overfit presets: the demo networks, no augmentation, budgets of at most 15
minutes on one CPU core each at 64x128x128 (B3's steps cost about 7 of B1's;
``benchmarks/RESULTS-overfit.md``)."""
GRID = {"foreground_threshold": [0.4, 0.5], "fragment_threshold": [1.0],
        "merge_bias": [0.5, 0.6, 0.7]}  # fmt: skip
"""The decoding grid tuned on the sample (the demo's, ``config/unet_grid_demo.yaml``)."""


def fitted_preset(preset: dict[str, Any], shape: tuple[int, ...], divisor: int) -> dict[str, Any]:
    """``preset`` with its crop cut to the volume and one tile covering it (multiples of the
    network's ``divisor``; the volume must hold ``divisor`` voxels per axis)."""
    if any(size < divisor for size in shape):
        raise FisbeError(f"volume {list(shape)} is smaller than {divisor} voxels along an axis")
    crop = [
        min(int(c), size - size % divisor) for c, size in zip(preset["crop"], shape, strict=True)
    ]
    tile = [-(-size // divisor) * divisor for size in shape]
    # one tile: the overlap only has to leave room for B3's patch margin (at most 4 voxels)
    overlap = [min(2 * divisor, size - divisor) for size in tile]
    return {**preset, "crop": crop, "tile": tile, "overlap": overlap}


def link_sample(sample: Path, root: Path, set_name: str) -> tuple[Path, Path]:
    """A one-sample dataset under ``root`` (``<set>/train/<name>.zarr``, a symbolic link to
    ``sample``): the folder holding the link and the split file."""
    from fisbe_bench.splits import SplitEntry, write_split_file

    link = root / set_name / "train" / sample.name
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(sample.resolve(), target_is_directory=True)
    entry = SplitEntry(sample.name.removesuffix(".zarr"), set_name, "train")
    return link.parent, write_split_file([entry], root / "split.txt")


def overfit(
    kind: str,
    sample: str | Path,
    out: str | Path,
    *,
    preset: str | Path | None = None,
    steps: int | None = None,
    partly: bool = False,
    grid: str | Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``kind`` on ``sample`` alone (``preset``, a YAML file, default :data:`PRESETS`,
    fitted to the volume; ``steps`` overrides its budget), predict the sample, tune the
    decoding on it (``grid``, a YAML file, default :data:`GRID`), decode and score it;
    returns the evaluation summary."""
    import yaml
    import zarr

    from fisbe_bench.atomic import write_text
    from fisbe_bench.methods.unet_affinity.config import read_preset_mapping
    from fisbe_bench.methods.unet_affinity.instances import decode
    from fisbe_bench.methods.unet_affinity.train import train
    from fisbe_bench.metrics.directories import evaluate_directories
    from fisbe_bench.splits import write_split_table

    if kind not in KINDS:
        raise FisbeError(f"no overfit check for method kind {kind!r} (known: {', '.join(KINDS)})")
    sample, out = Path(sample), Path(out)
    try:
        shape = tuple(zarr.open_array(str(sample / contract.RAW_KEY), mode="r").shape[1:])
        zarr.open_array(str(sample / contract.GT_KEY), mode="r")
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(f"not a FISBe sample (needs {contract.RAW_KEY} and {contract.GT_KEY})",
                         sample) from err  # fmt: skip
    train_module, predict_module, tuning_module = (
        importlib.import_module(f"fisbe_bench.methods.{kind}.{step}")
        for step in ("train", "predict", "tuning")
    )
    mapping = read_preset_mapping(preset) if preset else copy.deepcopy(PRESETS[kind])
    if steps is not None:
        mapping["steps"] = steps
    depth = int((mapping.get("model") or {}).get("depth", 3))
    fitted = out / "preset.yaml"
    write_text(fitted, yaml.safe_dump(fitted_preset(mapping, shape, 2**depth), sort_keys=False))
    config, head = train_module.read_preset(fitted)
    set_name = "partly" if partly else "completely"
    gt_dir, split_file = link_sample(sample, out / "data", set_name)
    config = dataclasses.replace(config, sets=(set_name,))
    train(config, out / "data", split_file, out / "train", device, progress=progress, head=head)
    name = sample.name.removesuffix(".zarr")
    probabilities = out / "probabilities" / sample.name
    predict_module.predict(out / "train" / "best.pt", sample, probabilities, device=device)
    if kind == "unet_affinity":
        write_diagnostics(probabilities, sample, out / "diagnostics.json")
    if grid is None:
        grid = write_text(out / "grid.yaml", yaml.safe_dump(GRID, sort_keys=False))
    table = out / "samples.tsv"
    write_split_table(split_file, out / "data", table)
    params = tuning_module.tune_to_file(
        table, {name: probabilities}, "train", grid, out / "params.json"
    )
    decode(probabilities, out / "predictions" / sample.name, params)
    return evaluate_directories(
        gt_dir, out / "predictions", out / "evaluation", split_file=split_file, overwrite=True
    )


def write_diagnostics(probabilities: Path, sample: Path, path: Path) -> None:
    """B1's output errors against the sample's GT (``diagnostics.output_errors``) as JSON,
    with the affinity recalls pooled per distance."""
    import numpy as np
    import zarr

    from fisbe_bench.atomic import write_text
    from fisbe_bench.methods.unet_affinity.config import AFFINITY_KEY, NUMINST_KEY
    from fisbe_bench.methods.unet_affinity.diagnostics import output_errors, recall_by_distance

    def read(path: Path) -> np.ndarray:
        return np.asarray(zarr.open_array(str(path), mode="r")[:])

    offsets = cast(
        list[list[int]],
        zarr.open_array(str(probabilities / AFFINITY_KEY), mode="r").attrs["offsets"],
    )
    errors = output_errors(
        read(probabilities / NUMINST_KEY),
        read(probabilities / AFFINITY_KEY),
        offsets,
        read(sample / contract.GT_KEY),
    )
    errors["recall_by_distance"] = recall_by_distance(errors)
    write_text(path, json.dumps(errors, indent=1))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method", required=True, choices=KINDS, help="learned method kind")
    parser.add_argument("--sample", required=True, type=Path, help="one sample zarr (raw + GT)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--preset", type=Path, help="training preset (default: built in)")
    parser.add_argument("--steps", type=int, help="override the preset's number of steps")
    parser.add_argument("--partly", action="store_true", help="the sample is partly labelled")
    parser.add_argument("--grid", type=Path, help="decoding grid YAML (default: the demo's)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    summary = overfit(
        args.method, args.sample, args.out, preset=args.preset, steps=args.steps,
        partly=args.partly, grid=args.grid, device=args.device, progress=not args.no_progress,
    )  # fmt: skip
    scores = {set_name: round(values["S"], 4) for set_name, values in summary.items()}
    print(json.dumps({"method": args.method, "sample": args.sample.name, "S": scores}))
    return 0

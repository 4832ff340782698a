"""Ours against the official FISBe evaluator, side by side on a crop of the real fixture.

    python benchmarks/bench_official.py --evaluator PATH --python PY [--crop 192 384 384]

``--evaluator`` is a checkout of github.com/Kainmueller-Lab/evaluate-instance-segmentation
(``evalinstseg``, not on PyPI; nothing of it is copied here), ``--python`` an interpreter of a
scratch virtual environment with its dependencies from PyPI (h5py, numpy, scipy,
``scikit-image<0.25``, tifffile, toml, zarr, natsort, matplotlib); the checkout goes on its
``PYTHONPATH``. The script crops the real fixture (``tests/data/fisbe-real``: GT zarr and Duan
et al.'s label image, sample R14A02 by default) around the centre of the GT foreground, drops
GT channels the crop leaves empty, writes both as files the official CLI reads, and runs, each
in a fresh process pinned to core 0, ``evalinstseg --app flylight`` and our
``evaluate_sample``: wall s, CPU s and peak RSS (``/usr/bin/time -v``), and S, avF1, C, FS, FM,
GT and predicted instance counts of both. Writes the table to ``--out``
(``benchmarks/RESULTS-official.md``). ``--crop 0 0 0`` evaluates the whole volume (the
official evaluator then needs about 20 GB of RAM).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import results_file

FIXTURES = results_file.REPO / "tests" / "data" / "fisbe-real"
GT_KEY = "volumes/gt_instances"
PRED_KEY = "volumes/gmm_label_cleaned"
METRICS = ("S", "avF1", "C", "FS", "FM", "num_gt", "num_pred")

OFFICIAL = """
import sys
from evalinstseg.evaluate import main
sys.argv = ["evalinstseg", "--res_file", sys.argv[1], "--res_key", sys.argv[3],
            "--gt_file", sys.argv[2], "--gt_key", sys.argv[4], "--out_dir", sys.argv[5],
            "--split_file", "none", "--app", "flylight"]
main()
"""

OURS = """
import json, sys
from fisbe_bench.metrics import evaluate_sample
from fisbe_bench.volumes import open_volume
r = evaluate_sample(open_volume(sys.argv[2], sys.argv[4]), open_volume(sys.argv[1], sys.argv[3]))
print(json.dumps({"S": r.S, "avF1": r.avF1, "C": r.C, "FS": r.FS, "FM": r.FM,
                  "num_gt": r.n_gt, "num_pred": r.n_pred}))
"""


def crop(sample: str, size: list[int], out: Path) -> tuple[Path, Path, list[list[int]]]:
    """Write the cropped GT zarr and prediction HDF5; their paths and the crop box."""
    import h5py
    import zarr

    gt: Any = zarr.open_array(str(FIXTURES / "gt" / f"{sample}.zarr" / GT_KEY), mode="r")
    shape = gt.shape[1:]
    if not any(size):
        box = [[0, n] for n in shape]
    else:
        foreground = np.zeros(shape, bool)
        for channel in range(gt.shape[0]):
            foreground |= gt[channel] > 0
        centre = [int(np.median(axis)) for axis in np.nonzero(foreground)]
        del foreground
        box = []
        for c, s, n in zip(centre, size, shape, strict=True):
            lo = min(max(c - s // 2, 0), max(n - s, 0))
            box.append([lo, min(lo + s, n)])
    window = tuple(slice(lo, hi) for lo, hi in box)
    channels = [gt[(channel, *window)] for channel in range(gt.shape[0])]
    kept = [c for c in channels if c.any()]
    stack = np.stack([np.where(c > 0, i + 1, 0).astype(np.uint8) for i, c in enumerate(kept)])
    gt_path = out / f"{sample}.zarr"
    group = zarr.open_group(str(gt_path), mode="w", zarr_format=2)
    group.create_array(GT_KEY, data=stack, chunks=(1, 64, 128, 128))
    with h5py.File(FIXTURES / "pred" / f"{sample}.hdf", "r") as handle:
        labels = handle[PRED_KEY][window]
    pred_path = out / f"{sample}.hdf"
    with h5py.File(pred_path, "w") as handle:
        handle.create_dataset(PRED_KEY, data=labels, compression="gzip")
    return gt_path, pred_path, box


def run(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Wall, CPU (user + sys of the child) and peak RSS of a fresh process, and its stdout."""
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    if Path("/usr/bin/time").exists():
        command = ["/usr/bin/time", "-v", *command]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def field(name: str) -> float:
        match = re.search(rf"{name}: ([\d.:]+)", done.stderr)
        return float(match[1]) if match else float("nan")

    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(field(r"User time \(seconds\)") + field(r"System time \(seconds\)"), 2),
        "peak_mib": round(field(r"Maximum resident set size \(kbytes\)") / 1024),
        "stdout": done.stdout,
    }


def official_metrics(out_dir: Path) -> dict[str, Any]:
    """S, avF1, C, FS, FM and counts from the official per-sample toml."""
    (path,) = sorted(out_dir.rglob("*.toml"))
    toml = tomllib.loads(path.read_text())
    general = toml["general"]
    return {
        "S": float(general["avg_f1_cov_score"]),
        "avF1": float(toml["confusion_matrix"]["avFscore"]),
        "C": float(general["avg_gt_skel_coverage"]),
        "FS": general["FS"],
        "FM": general["FM"],
        "num_gt": general["Num GT"],
        "num_pred": general["Num Pred"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluator", type=Path, required=True, help="evalinstseg checkout")
    parser.add_argument("--python", required=True, help="interpreter with its dependencies")
    parser.add_argument("--sample", default="R14A02-20180905_65_A6")
    parser.add_argument("--crop", type=int, nargs=3, default=[192, 384, 384], metavar="N")
    results_file.add_out_option(parser, "official")
    args = parser.parse_args()
    start = results_file.started()
    with tempfile.TemporaryDirectory() as tmp:
        gt, pred, box = crop(args.sample, args.crop, Path(tmp))
        inputs = [str(pred), str(gt), PRED_KEY, GT_KEY]
        env = {**os.environ, "PYTHONPATH": str(args.evaluator.resolve())}
        official = run([args.python, "-c", OFFICIAL, *inputs, str(Path(tmp) / "official")], env)
        official["metrics"] = official_metrics(Path(tmp) / "official")
        ours = run([sys.executable, "-c", OURS, *inputs], dict(os.environ))
        ours["metrics"] = json.loads(ours["stdout"].strip().splitlines()[-1])
    for runs in (official, ours):
        del runs["stdout"]
    agree = {
        k: ours["metrics"][k] is not None
        and abs(float(ours["metrics"][k]) - float(official["metrics"][k])) <= 1e-6
        for k in METRICS
        if ours["metrics"].get(k) is not None
    }
    shape = "×".join(str(hi - lo) for lo, hi in box)
    rows = [
        [name, r["wall_s"], r["cpu_s"], r["peak_mib"], *(r["metrics"].get(k) for k in METRICS)]
        for name, r in (("official `evalinstseg --app flylight`", official), ("ours", ours))
    ]
    rows.append(
        [
            "ratio ours/official",
            f"{ours['wall_s'] / official['wall_s']:.3f}",
            f"{ours['cpu_s'] / official['cpu_s']:.3f}",
            f"{ours['peak_mib'] / official['peak_mib']:.3f}",
            *("agree" if agree.get(k) else "differ" if k in agree else "" for k in METRICS),
        ]
    )
    header = ["evaluator", "wall s", "CPU s", "peak RSS MiB", *METRICS]
    table = results_file.markdown_table(header, rows)
    print(table, end="")
    results_file.write_section(
        args.out,
        title="Ours against the official FISBe evaluator",
        start=start,
        raw={"sample": args.sample, "crop_box": box, "official": official, "ours": ours},
        table=table,
        notes=f"{args.sample} cropped to {shape} (box {box}, around the median GT foreground "
        "voxel; GT channels empty in the crop dropped); each evaluator a fresh process pinned "
        "to core 0. Agreement: absolute difference at most 1e-6.",
        modules=["fisbe_bench.metrics", "fisbe_bench.volumes"],  # imported by the -c script
    )


if __name__ == "__main__":
    main()

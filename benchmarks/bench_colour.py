"""Benchmarks of B2 colour clustering (results in benchmarks/RESULTS-colour.md).

    python benchmarks/bench_colour.py synthetic --data /tmp/synth --workdir /tmp/bench
    python benchmarks/bench_colour.py real --params /tmp/bench/params.json
    python benchmarks/bench_colour.py runtime --shape 128 256 256 --params /tmp/bench/params.json

``synthetic``: generate a dataset (if absent), tune on val with the grid, score the test split
against B0 (threshold + 26-connected components). ``real``: the two real FISBe fixtures: the
published colour image ``volumes/gmm_image`` and, because that image is stored empty in the
fixtures, a surrogate colour image rendered from the real GT masks; plus the published Duan et
al. label images as a reference. ``runtime``: wall time and peak memory per stage, each run in
a fresh process. Each command writes its table to ``--out`` (``benchmarks/RESULTS-colour.md``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import results_file

from fisbe_bench.contract import GT_KEY, RAW_CLIP, RAW_KEY, normalise_raw

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "data" / "fisbe-real"
REAL = {  # sample -> (partly labelled, published S of Duan et al.)
    "R14A02-20180905_65_A6": (False, 0.3656731),
    "VT011145-20171222_63_I2": (True, 0.2217849),
}


def _peak_mb() -> float:
    """Peak resident memory of this process image (:func:`results_file.peak_rss_bytes`)."""
    peak = results_file.peak_rss_bytes()
    if peak is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak / 2**20


def _summary(results: list[Any]) -> dict[str, float]:
    from fisbe_bench.metrics import aggregate

    if not results:
        return {}
    summary = aggregate(results)
    return {k: round(float(summary[k]), 4) for k in ("S", "avF1", "C", "tp", "FS", "FM")}


# --------------------------------------------------------------------------- synthetic


def synthetic(args: argparse.Namespace) -> dict[str, Any]:
    """Tune on val, then score B2 and B0 on the test split of a synthetic dataset."""
    import zarr

    from fisbe_bench import synth
    from fisbe_bench.methods import colour_clustering as colour
    from fisbe_bench.methods import threshold_cc
    from fisbe_bench.methods.colour_clustering import Params
    from fisbe_bench.metrics import evaluate_sample
    from fisbe_bench.splits import parse_split_file
    from fisbe_bench.tuning import TuneSample, read_grid

    data = Path(args.data)
    if not (data / synth.SPLIT_FILE).exists():
        synth.write_dataset(data, args.n_completely, args.n_partly, args.shape, args.seed, jobs=1)
    entries = parse_split_file(data / synth.SPLIT_FILE)

    def path(entry: Any) -> Path:
        return data / entry.set / entry.split / f"{entry.sample}.zarr"

    val = [TuneSample(str(path(e)), str(path(e)), e.set == "partly") for e in entries]
    val = [s for s, e in zip(val, entries, strict=True) if e.split == "val"]
    start = time.perf_counter()
    best, table = colour.tune(
        val, read_grid(args.grid, Params(), "colour_clustering"), jobs=args.jobs
    )
    tune_s = time.perf_counter() - start
    out = Path(args.workdir)
    colour.write_params(out / "params.json", best, table, split="val", S=max(r["S"] for r in table))
    scores: dict[str, dict[str, list[Any]]] = {"colour_clustering": {}, "threshold_cc": {}}
    seconds = []
    for entry in (e for e in entries if e.split == "test"):
        gt = zarr.open_array(str(path(entry) / GT_KEY), mode="r")[...]
        partly = entry.set == "partly"
        start = time.perf_counter()
        labels, extra = colour.segment(colour.read_input(path(entry)), best)
        seconds.append(time.perf_counter() - start)
        pred = colour.instance_stack(labels, extra)
        b0 = threshold_cc.segment(threshold_cc.max_channel(path(entry)), threshold_cc.Params())
        for method, prediction in (("colour_clustering", pred), ("threshold_cc", b0)):
            result = evaluate_sample(gt, prediction, partly=partly)
            scores[method].setdefault(entry.set, []).append(result)
    report: dict[str, Any] = {
        "dataset": {
            "n_completely": args.n_completely,
            "n_partly": args.n_partly,
            "shape": args.shape,
            "seed": args.seed,
        },
        "params": asdict(best),
        "tune_seconds": round(tune_s, 1),
        "val_S": round(max(r["S"] for r in table), 4),
        "segment_seconds_per_test_sample": round(float(np.mean(seconds)), 2),
    }
    for method, sets in scores.items():
        rows = {name: _summary(results) for name, results in sets.items()}
        rows["combined"] = {
            k: round(float(np.mean([r[k] for r in rows.values()])), 4) for k in ("S", "avF1", "C")
        }
        report[method] = rows
    return report


# --------------------------------------------------------------------------- real fixtures


def _surrogate(gt: np.ndarray, seed: int = 0) -> np.ndarray:
    """(3, Z, Y, X) float32 colour image rendered from GT masks with synth's imaging model."""
    from scipy import ndimage

    from fisbe_bench import synth

    rng = np.random.default_rng(seed)
    colours = synth._colours(rng, len(gt))
    dim = rng.random(len(gt)) < 0.25
    brightness = np.where(dim, rng.uniform(0.12, 0.3, len(gt)), rng.uniform(0.6, 1.4, len(gt)))
    raw = np.empty((3, *gt.shape[1:]), np.float32)
    for channel in range(3):
        volume = np.zeros(gt.shape[1:], np.float32)
        for mask, tint, level in zip(gt, colours[:, channel], brightness, strict=True):
            volume[mask > 0] += np.float32(7000.0 * tint * level)  # synth's pre-blur peak
        ndimage.gaussian_filter(volume, synth.PSF_SIGMA, output=volume, truncate=3.0)
        volume += np.float32(rng.uniform(60.0, 160.0))
        volume += np.sqrt(synth.GAIN * volume + synth.READ_NOISE**2) * rng.standard_normal(
            volume.shape, dtype=np.float32
        )
        raw[channel] = normalise_raw(volume)
    return raw


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Read, segment (per stage) and write one input; score it if a GT is given.

    Run in a fresh process: ``peak_mb`` is the process's peak resident memory up to the
    written prediction (the GT is read afterwards).
    """
    import zarr

    from fisbe_bench import sample_io
    from fisbe_bench.atomic import atomic_directory
    from fisbe_bench.methods import colour_clustering as colour
    from fisbe_bench.metrics import evaluate_sample

    params = colour.read_params(args.params) if args.params else colour.Params()
    report, labels, extra = _timed_segment(args.input, params)
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        with atomic_directory(Path(tmp) / "pred.zarr") as out:
            sample_io.write_instances(out, labels, extra_voxels=extra)
        report["write_s"] = round(time.perf_counter() - wall, 1)
        report["write_cpu_s"] = round(time.process_time() - cpu, 1)
    report["total_s"] = round(sum(report[k] for k in ("read_s", "segment_s", "write_s")), 1)
    report["total_cpu_s"] = round(time.process_time(), 1)
    report["peak_mb"] = round(_peak_mb())
    if args.gt:
        gt = zarr.open_array(str(Path(args.gt) / GT_KEY), mode="r")
        result = evaluate_sample(gt, colour.instance_stack(labels, extra), partly=args.partly)
        report.update(S=round(result.S, 4), avF1=round(result.avF1, 4), C=round(result.C, 4))
    return report


def _timed_segment(
    path: Path, params: Any
) -> tuple[dict[str, Any], np.ndarray, dict[int, np.ndarray]]:
    """Read and segment stage by stage, like ``segment`` (the full volume is dropped after the
    front end); seconds per stage and the prediction."""
    from fisbe_bench.methods import colour_clustering as colour
    from fisbe_bench.methods.colour_clustering.pipeline import finish, front_end
    from fisbe_bench.methods.colour_clustering.supervoxels import supervoxels

    report: dict[str, Any] = {}

    def timed(name: str, stage: Any, *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = stage(*args)
        report[f"{name}_s"] = round(time.perf_counter() - wall, 1)
        report[f"{name}_cpu_s"] = round(time.process_time() - cpu, 1)
        return result

    raw = timed("read", colour.read_input, path)
    report.update(shape=list(raw.shape[1:]), input_max=float(raw.max()))
    mask, fg_colour = timed("denoise_foreground", front_end, raw, params)
    del raw
    sv = timed("supervoxels", supervoxels, fg_colour, mask, params.seed_spacing)
    labels, extra = timed("graph_cleanup_overlaps", finish, sv, params)
    stages = ("denoise_foreground", "supervoxels", "graph_cleanup_overlaps")
    report["segment_s"] = round(sum(report[f"{name}_s"] for name in stages), 1)
    report["segment_cpu_s"] = round(sum(report[f"{name}_cpu_s"] for name in stages), 1)
    report["foreground_voxels"] = int(mask.sum())
    report["supervoxels"] = len(sv.sizes) - 1
    report["instances"] = int(labels.max(initial=0))
    report["overlap_voxels"] = int(sum(len(v) for v in extra.values()))
    return report, labels, extra


def _in_subprocess(*argv: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *argv], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def real(args: argparse.Namespace) -> dict[str, Any]:
    """The fixtures: Duan et al.'s labels, their colour image and a GT-rendered surrogate."""
    import h5py
    import zarr

    from fisbe_bench import sample_io
    from fisbe_bench.metrics import evaluate_sample

    extra = ["--params", str(args.params)] if args.params else []
    report: dict[str, Any] = {}
    for sample, (partly, published) in REAL.items():
        gt_path = FIXTURES / "gt" / f"{sample}.zarr"
        hdf = FIXTURES / "pred" / f"{sample}.hdf"
        flags = [*extra, "--gt", str(gt_path), *(["--partly"] if partly else [])]
        gt = zarr.open_array(str(gt_path / GT_KEY), mode="r")[...]
        with h5py.File(hdf, "r") as handle:
            duan = handle["volumes/gmm_label_cleaned"][...]
        rows = {"published_duan_S": published}
        rows["duan_rescored_S"] = round(evaluate_sample(gt, duan, partly=partly).S, 7)
        del duan
        rows["gmm_image"] = _in_subprocess("_measure", str(hdf), *flags)
        with tempfile.TemporaryDirectory() as tmp:
            grey = np.rint(_surrogate(gt) * RAW_CLIP).astype(np.uint16)
            del gt
            sample_io.write_array(Path(tmp) / "s.zarr", RAW_KEY, grey, chunks=(1, 64, 128, 128))
            del grey
            rows["surrogate"] = _in_subprocess("_measure", str(Path(tmp) / "s.zarr"), *flags)
        report[sample] = rows
    return report


def runtime(args: argparse.Namespace) -> dict[str, Any]:
    """One synthetic sample of ``args.shape``, generated here and measured in a fresh process."""
    from fisbe_bench import synth
    from fisbe_bench.plan import SampleSpec

    extra = ["--params", str(args.params)] if args.params else []
    with tempfile.TemporaryDirectory() as tmp:
        spec = SampleSpec("synth_c000", "completely", "test", 0)
        sample = synth.write_sample(tmp, spec, args.shape, args.seed)
        return _in_subprocess("_measure", str(sample), "--gt", str(sample), *extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    syn = sub.add_parser("synthetic")
    syn.add_argument("--data", required=True, type=Path)
    syn.add_argument("--workdir", required=True, type=Path, help="dataset-independent outputs")
    syn.add_argument("--grid", type=Path, default=REPO / "config" / "colour_grid.yaml")
    syn.add_argument("--n-completely", type=int, default=12)
    syn.add_argument("--n-partly", type=int, default=6)
    syn.add_argument("--shape", type=int, nargs=3, default=[64, 160, 160])
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--jobs", type=int, default=1)
    rea = sub.add_parser("real")
    rea.add_argument("--params", type=Path)
    run = sub.add_parser("runtime")
    run.add_argument("--shape", type=int, nargs=3, default=[128, 256, 256])
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--params", type=Path)
    one = sub.add_parser("_measure")
    one.add_argument("input", type=Path, help="sample zarr or colour-image HDF5")
    one.add_argument("--gt", type=Path)
    one.add_argument("--partly", action="store_true")
    one.add_argument("--params", type=Path)
    for sub_parser in (syn, rea, run):
        results_file.add_out_option(sub_parser, "colour")
    args = parser.parse_args()
    start = results_file.started()
    commands = {"synthetic": synthetic, "real": real, "runtime": runtime, "_measure": measure}
    report = commands[args.command](args)
    if args.command == "synthetic":
        args.workdir.mkdir(parents=True, exist_ok=True)
        (args.workdir / "synthetic.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    if args.command != "_measure":
        tables = {"synthetic": synthetic_table, "real": real_table, "runtime": runtime_table}
        results_file.write_section(
            args.out,
            title="B2 colour clustering: results",
            start=start,
            raw=report,
            table=tables[args.command](report),
        )


def synthetic_table(report: dict[str, Any]) -> str:
    rows = [
        [method, name, *(row.get(k, "") for k in ("S", "avF1", "C", "tp", "FS", "FM"))]
        for method in ("colour_clustering", "threshold_cc")
        for name, row in report[method].items()
    ]
    table = results_file.markdown_table(["method", "set", "S", "avF1", "C", "tp", "FS", "FM"], rows)
    return f"Tuned on val: {report['params']} (val S {report['val_S']}).\n\n{table}"


def real_table(report: dict[str, Any]) -> str:
    rows = [
        [
            sample,
            row["published_duan_S"],
            row["duan_rescored_S"],
            f"{row['gmm_image'].get('S', '')} ({row['gmm_image']['total_s']} s)",
            f"{row['surrogate'].get('S', '')} ({row['surrogate']['total_s']} s)",
        ]
        for sample, row in report.items()
    ]
    header = [
        "sample",
        "Duan et al. S (published)",
        "Duan et al. labels rescored",
        "B2 on `gmm_image` S (wall)",
        "B2 on GT-rendered surrogate S (wall)",
    ]
    return results_file.markdown_table(header, rows)


def runtime_table(r: dict[str, Any]) -> str:
    header = [
        "input",
        "fg voxels",
        "supervoxels",
        "read s",
        "denoise+fg s",
        "supervoxels s",
        "graph+clean-up+overlaps s",
        "write s",
        "total wall s",
        "process CPU s",
        "peak RSS GiB",
    ]
    row = [
        "synthetic " + "×".join(map(str, r["shape"])),
        r["foreground_voxels"],
        r["supervoxels"],
        r["read_s"],
        r["denoise_foreground_s"],
        r["supervoxels_s"],
        r["graph_cleanup_overlaps_s"],
        r["write_s"],
        f"**{r['total_s']}**",
        r["total_cpu_s"],
        f"{r['peak_mb'] / 1024:.2f}",
    ]
    return results_file.markdown_table(header, [row])


if __name__ == "__main__":
    main()

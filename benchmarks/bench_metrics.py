"""FISBe metrics on a full real volume: our evaluation against the floor of reading it.

Usage: ``python benchmarks/bench_metrics.py [--repeat R] [--sample NAME] [--split N] [--no-pin]
[--out F]``.
In the same run, each measurement in a fresh process (pinned to core 0 with
``taskset -c 0`` when available), wall time, CPU time and peak RSS from ``/usr/bin/time -v``
(``getrusage`` of the child otherwise):

- floor: reading the GT zarr array and the prediction HDF5 array whole (zarr/h5py);
- ours: ``evaluate_sample`` on the same two files (streamed, all metrics);
- with ``--split N``: ``fisbe-bench evaluate --jobs 2`` over N copies of the sample (symbolic
  links; FISBe's test split holds 23 images), on 2 cores, against N x the floor's wall / 2.

Prints a Markdown table with the median over ``--repeat`` runs and the ratio ours/floor and
writes it, with the machine and the raw runs, to ``--out`` (``benchmarks/RESULTS-metrics.md``).
The real fixtures live in ``tests/data/fisbe-real``.
"""

from __future__ import annotations

import argparse
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import results_file

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "fisbe-real"
GT_KEY = "volumes/gt_instances"
PRED_KEY = "volumes/gmm_label_cleaned"

FLOOR = """
import sys, h5py, zarr
gt = zarr.open_array(sys.argv[1] + "/" + sys.argv[3], mode="r")[...]
with h5py.File(sys.argv[2], "r") as f:
    pred = f[sys.argv[4]][...]
print(gt.shape, pred.shape)
"""

OURS = """
import sys
from fisbe_bench.metrics import evaluate_sample
from fisbe_bench.volumes import open_volume
r = evaluate_sample(open_volume(sys.argv[1], sys.argv[3]), open_volume(sys.argv[2], sys.argv[4]))
print(f"S={r.S:.7f} avF1={r.avF1:.7f} C={r.C:.7f} FS={r.FS} FM={r.FM}")
"""


def measure(code: str, args: list[str], pin: bool) -> dict[str, float]:
    """Run ``python -c code args`` in a fresh process: wall s, CPU s, peak RSS MiB."""
    command = [sys.executable, "-c", code, *args]
    if pin and shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        command = [str(gnu_time), "-v", *command]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        sys.exit(f"benchmark command failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    peak_kib = int(peak.group(1)) if peak else after.ru_maxrss
    return {
        "wall": round(wall, 3),
        "cpu": round(cpu, 3),
        "rss": round(peak_kib / 1024, 1),
        "out": done.stdout.strip(),
    }


SPLIT = """
import sys
from fisbe_bench.cli import main
sys.exit(main(sys.argv[1:]))
"""


def split_run(gt: Path, pred: Path, copies: int) -> dict[str, float]:
    """``fisbe-bench evaluate --jobs 2`` over ``copies`` links to one sample (not pinned)."""
    with tempfile.TemporaryDirectory(prefix="fisbe-split-") as tmp:
        folders = {name: Path(tmp) / name for name in ("gt", "pred")}
        for folder in folders.values():
            folder.mkdir()
        for i in range(copies):
            (folders["gt"] / f"s{i:02d}.zarr").symlink_to(gt, target_is_directory=True)
            (folders["pred"] / f"s{i:02d}{pred.suffix}").symlink_to(pred)
        command = ["evaluate", "--gt", str(folders["gt"]), "--pred", str(folders["pred"]),
                   "--pred-key", PRED_KEY, "--jobs", "2", "--out", f"{tmp}/out"]  # fmt: skip
        return measure(SPLIT, command, pin=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    parser.add_argument("--sample", default="R14A02-20180905_65_A6")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to core 0")
    parser.add_argument("--split", type=int, default=0, help="also N copies with --jobs 2")
    results_file.add_out_option(parser, "metrics")
    args = parser.parse_args()
    start = results_file.started()
    gt = FIXTURES / "gt" / f"{args.sample}.zarr"
    pred = FIXTURES / "pred" / f"{args.sample}.hdf"
    inputs = [str(gt), str(pred), GT_KEY, PRED_KEY]
    runs: dict[str, list[dict[str, float]]] = {"floor": [], "ours": []}
    for _ in range(args.repeat):  # interleaved, so machine load hits both alike
        runs["floor"].append(measure(FLOOR, inputs, not args.no_pin))
        runs["ours"].append(measure(OURS, inputs, not args.no_pin))
    median = {
        name: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "rss")}
        for name, rs in runs.items()
    }
    pinned = "pinned to core 0" if not args.no_pin and shutil.which("taskset") else "not pinned"
    labels = {"floor": "floor: read GT + prediction whole", "ours": "ours: evaluate_sample"}
    ratio = {k: median["ours"][k] / median["floor"][k] for k in ("wall", "cpu", "rss")}
    rows = [
        [labels[name], f"{v['wall']:.2f}", f"{v['cpu']:.2f}", f"{v['rss']:.0f}"]
        for name, v in median.items()
    ]
    rows.append(["ratio ours/floor", *(f"{ratio[k]:.2f}" for k in ("wall", "cpu", "rss"))])
    if args.split:
        runs["split"] = [split_run(gt, pred, args.split)]
        floor = args.split * median["floor"]["wall"] / 2
        split = runs["split"][0]
        label = f"{args.split} copies, `fisbe-bench evaluate --jobs 2`"
        rows.append([label, *(f"{split[k]:.2f}" for k in ("wall", "cpu")), f"{split['rss']:.0f}"])
        rows.append([f"floor: {args.split} x read wall / 2", f"{floor:.2f}", "", ""])
        rows.append(["ratio split/floor", f"{split['wall'] / floor:.2f}", "", ""])
    table = results_file.markdown_table(
        [f"measurement ({args.repeat} runs, median)", "wall s", "CPU s", "peak RSS MiB"], rows
    )
    print(f"# {args.sample}; {platform.machine()}, Python {platform.python_version()}, {pinned}")
    print(f"# ours: {runs['ours'][0]['out']}")
    print(table, end="")
    results_file.write_section(
        args.out,
        title="FISBe metrics: speed and memory on a full real volume",
        start=start,
        raw={"sample": args.sample, "pinning": pinned, "runs": runs},
        table=table,
        notes=f"Sample {args.sample}, {pinned}; each measurement a fresh process, "
        f"{args.repeat} interleaved runs. Our evaluation printed: `{runs['ours'][0]['out']}`.",
        modules=["fisbe_bench.cli", "fisbe_bench.metrics.cli", "fisbe_bench.volumes"],  # via -c
    )


if __name__ == "__main__":
    main()

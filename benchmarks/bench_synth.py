"""Throughput of the synthetic data generator: seconds per sample, generate and write.

Usage: ``python benchmarks/bench_synth.py [--repeat R] [--shape Z Y X ...] [--out F]``; prints
one Markdown table row per shape (wall and CPU seconds for ``generate_sample``, wall seconds for
writing the zarr store, peak resident memory of the process so far, labelled neurons and
foreground share of the last sample) and writes the table to ``--out``
(``benchmarks/RESULTS-synth.md``).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import results_file

from fisbe_bench import synth

DEFAULT_SHAPES = [(32, 64, 64), (128, 256, 256), (400, 700, 700)]


def bench(shape: tuple[int, int, int], repeat: int) -> dict[str, float]:
    """Time ``generate_sample`` ``repeat`` times (distinct samples) and one zarr write."""
    walls, cpus = [], []
    sample = None
    for index in range(repeat):
        spec = synth.SampleSpec(f"synth_c{index:03d}", "completely", "train", index)
        wall, cpu = time.perf_counter(), time.process_time()
        sample = synth.generate_sample(spec, shape, seed=0)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert sample is not None
    raw, gt, dim = sample
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = Path(tmp) / "s.zarr"
        synth.write_array(path, synth.RAW_KEY, raw, synth.RAW_CHUNKS)
        synth.write_array(path, synth.GT_KEY, gt, synth.GT_CHUNKS, {"dim_neurons": dim})
        write = time.perf_counter() - start
    return {
        "wall": statistics.median(walls),
        "wall_min": min(walls),
        "cpu": statistics.median(cpus),
        "write": write,
        "neurons": float(len(gt)),
        "foreground": float((gt > 0).any(axis=0).mean()),
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="samples per shape")
    parser.add_argument("--shape", type=int, nargs=3, action="append", metavar=("Z", "Y", "X"))
    results_file.add_out_option(parser, "synth")
    args = parser.parse_args()
    start = results_file.started()
    shapes = [tuple(s) for s in args.shape] if args.shape else DEFAULT_SHAPES
    print(f"# {platform.processor() or platform.machine()}, numpy {np.__version__}")
    header = [
        "shape",
        "generate wall s (median / min)",
        "generate CPU s",
        "write s",
        "peak RSS GiB",
        "neurons",
        "foreground %",
    ]
    print(results_file.markdown_table(header, []), end="")
    raw, rows = {}, []
    for shape in shapes:
        repeat = args.repeat if np.prod(shape) <= 2**24 else 1
        r = bench(shape, repeat)
        name = "x".join(map(str, shape))
        raw[name] = {"repeat": repeat, **{k: round(v, 4) for k, v in r.items()}}
        rows.append(
            [
                name,
                f"{r['wall']:.2f} / {r['wall_min']:.2f}",
                f"{r['cpu']:.2f}",
                f"{r['write']:.2f}",
                f"{r['peak_gib']:.1f}",
                f"{r['neurons']:.0f}",
                f"{100 * r['foreground']:.3f}",
            ]
        )
        print("| " + " | ".join(rows[-1]) + " |", flush=True)
    results_file.write_section(
        args.out,
        title="Synthetic data generator: throughput",
        start=start,
        raw=raw,
        table=results_file.markdown_table(header, rows),
        notes=f"numpy {np.__version__}; `generate` is `synth.generate_sample` (CPU s: one core), "
        "`write` the zarr write of raw + GT; peak RSS is the process maximum so far.",
    )


if __name__ == "__main__":
    main()

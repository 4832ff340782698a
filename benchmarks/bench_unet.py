"""Benchmarks of B1 (unet_affinity) on this machine's CPU; prints one JSON line per figure.

  python benchmarks/bench_unet.py train --preset config/unet/demo.yaml --data-root D --steps 20
  python benchmarks/bench_unet.py predict --preset config/unet/demo.yaml --shape 64 160 160
  python benchmarks/bench_unet.py instances --shape 128 256 256
  python benchmarks/bench_unet.py score --data-root D --checkpoint RUN/best.pt --out OUT
  python benchmarks/bench_unet.py augment --crop 128 --items 8

``instances`` builds near-perfect probabilities from a synthetic sample's GT (numinst
one-hot, affinities 0.05/0.95 plus noise), so the foreground fraction and crossing
pattern are those of the generator; ``score`` predicts the test split with a trained run
and scores it next to B0; ``augment`` times training items (read, augment, targets) of a
synthetic sample without the spatial/overlay/noise augmentations, with each of them
always on, and with the defaults. Timings are wall-clock on a shared machine: rerun to compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr

from fisbe_bench import contract, sample_io
from fisbe_bench.methods.unet_affinity.config import AFFINITY_KEY, NUMINST_KEY, Params, load_config
from fisbe_bench.methods.unet_affinity.instances import decode
from fisbe_bench.methods.unet_affinity.model import AffinityUNet
from fisbe_bench.methods.unet_affinity.predict import load_model, predict_zarr
from fisbe_bench.methods.unet_affinity.train import train


def bench_train(args: argparse.Namespace) -> dict:
    """Training steps/s of a preset (first step excluded: allocation warm-up)."""
    config = dataclasses.replace(
        load_config(args.preset), steps=args.steps + 1, val_every=0,
        checkpoint_every=args.steps + 1,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        train(config, args.data_root, args.data_root / "sample_list_per_split.txt", out,
              "cpu", progress=False)  # fmt: skip
        seconds = [float(line.split(",")[-1]) for line in
                   (Path(out) / "loss.csv").read_text().splitlines()[2:]]  # fmt: skip
    steps_per_s = len(seconds) / sum(seconds)
    return {"figure": "train_steps_per_s", "preset": str(args.preset), "batch": config.batch,
            "crop": config.crop, "steps": len(seconds), "steps_per_s": round(steps_per_s, 3),
            "threads": torch.get_num_threads()}  # fmt: skip


def bench_predict(args: argparse.Namespace) -> dict:
    """Seconds to predict one volume of ``--shape`` (random raw, untrained weights)."""
    config = load_config(args.preset)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "model.pt"
        torch.save({"model": AffinityUNet(config.model).state_dict(),
                    "config": config.to_dict()}, checkpoint)  # fmt: skip
        model, _ = load_model(checkpoint, torch.device("cpu"))
        raw = np.random.default_rng(0).integers(0, 1500, (3, *args.shape), dtype=np.uint16)
        sample_io.write_array(Path(tmp) / "s.zarr", contract.RAW_KEY, raw, (1, 64, 128, 128))
        started = time.perf_counter()
        tiles = predict_zarr(model, Path(tmp) / "s.zarr", Path(tmp) / "p.zarr",
                             config.tile, config.overlap, bf16=False)  # fmt: skip
        seconds = time.perf_counter() - started
    return {"figure": "predict_seconds", "preset": str(args.preset), "shape": args.shape,
            "tile": config.tile, "overlap": config.overlap, "tiles": tiles,
            "seconds": round(seconds, 2)}  # fmt: skip


def fake_probabilities(gt_path: Path, out: Path, offsets: list, noise: float, seed: int) -> None:
    """Near-perfect network outputs from a sample's GT, as ``fisbe-bench unet-affinity predict``."""
    from fisbe_bench.methods.unet_affinity.targets import pack_membership

    gt = zarr.open_array(str(gt_path / contract.GT_KEY), mode="r")
    bits = pack_membership(gt[...])
    shape = bits.shape[1:]
    counts = sum(np.bitwise_count(word) for word in bits)
    one_hot = np.stack([np.minimum(counts, 2) == c for c in range(3)]).astype(np.float16)
    del counts
    sample_io.write_array(out, NUMINST_KEY, one_hot, (1, 32, 128, 128))
    del one_hot
    rng = np.random.default_rng(seed)
    group = zarr.open_group(str(out), mode="a", zarr_format=2)
    affinities = group.create_array(AFFINITY_KEY, shape=(len(offsets), *shape),
                                    chunks=(1, 32, 128, 128), dtype=np.float16,
                                    compressors=sample_io.COMPRESSOR, fill_value=0)  # fmt: skip
    affinities.attrs["offsets"] = [list(o) for o in offsets]
    for k, offset in enumerate(offsets):
        here = tuple(slice(0, s - o) for s, o in zip(shape, offset, strict=True))
        there = tuple(slice(o, s) for s, o in zip(shape, offset, strict=True))
        shared = np.zeros(shape, dtype=bool)
        for word in bits:
            shared[here] |= (word[here] & word[there]) != 0
        value = np.where(shared, np.float16(0.95), np.float16(0.05))
        del shared
        value += rng.normal(0, noise, shape).astype(np.float16)
        affinities[k] = np.clip(value, 0, 1)


def replicate(source: Path, out: Path, shape: list[int]) -> None:
    """Tile a probability zarr (mirrored, so pieces join) up to a larger ``shape``."""
    group = zarr.open_group(str(out), mode="w", zarr_format=2)
    for key in (NUMINST_KEY, AFFINITY_KEY):
        small = zarr.open_array(str(source / key), mode="r")
        big = group.create_array(
            key,
            shape=(small.shape[0], *shape),
            chunks=(1, 32, 128, 128),
            dtype=np.float16,
            compressors=sample_io.COMPRESSOR,
            fill_value=0,
        )
        big.attrs.update(small.attrs.asdict())
        for channel in range(small.shape[0]):
            block = small[channel]
            reps = [-(-n // s) for n, s in zip(shape, block.shape, strict=True)]
            widths = [(0, (r - 1) * s) for r, s in zip(reps, block.shape, strict=True)]
            tiled = np.pad(block, widths, mode="symmetric")
            big[channel] = tiled[tuple(slice(0, n) for n in shape)]


def bench_instances(args: argparse.Namespace) -> dict:
    """Seconds of ``decode`` (read + mutex watershed + write) per volume."""
    from fisbe_bench.methods.unet_affinity.config import DEFAULT_OFFSETS
    from fisbe_bench.synth import write_dataset

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        sample = write_dataset(tmp / "data", 1, 0, args.shape, args.seed, only="synth_c000")[0]
        fake_probabilities(sample, tmp / "probs.zarr", list(DEFAULT_OFFSETS), args.noise, 0)
        if args.replicate_to:
            replicate(tmp / "probs.zarr", tmp / "big.zarr", args.replicate_to)
            args.shape = args.replicate_to
            shutil.rmtree(tmp / "probs.zarr")
            (tmp / "big.zarr").rename(tmp / "probs.zarr")
        prepare = time.perf_counter() - started
        fg = zarr.open_array(str(tmp / "probs.zarr" / NUMINST_KEY), mode="r")
        foreground = float(np.mean([np.mean(fg[0, z] < 0.5) for z in range(0, args.shape[0], 8)]))
        started = time.perf_counter()
        n = decode(tmp / "probs.zarr", tmp / "pred.zarr", Params())
        seconds = time.perf_counter() - started
        gt_n = zarr.open_array(str(sample / contract.GT_KEY), mode="r").shape[0]
    return {"figure": "instances_seconds", "shape": args.shape, "foreground": round(foreground, 4),
            "gt_instances": gt_n, "instances": n, "seconds": round(seconds, 2),
            "prepare_seconds": round(prepare, 1), "threads": torch.get_num_threads()}  # fmt: skip


def bench_score(args: argparse.Namespace) -> dict:
    """S of a trained run and of B0 on the test split of ``--data-root``."""
    from fisbe_bench.methods.threshold_cc import Params as ThresholdParams
    from fisbe_bench.methods.threshold_cc import predict as b0_predict
    from fisbe_bench.metrics import aggregate, combine, evaluate_sample

    model, config = load_model(args.checkpoint, torch.device("cpu"))
    scores: dict[str, dict] = {"unet_affinity": {}, "threshold_cc": {}}
    seconds = {"predict": 0.0, "instances": 0.0}
    for set_name in ("completely", "partly"):
        results: dict[str, list] = {"unet_affinity": [], "threshold_cc": []}
        for sample in sorted((args.data_root / set_name / "test").glob("*.zarr")):
            probs = args.out / "probs" / sample.name
            pred = args.out / "unet_affinity" / sample.name
            started = time.perf_counter()
            predict_zarr(model, sample, probs, config.tile, config.overlap, bf16=False)
            seconds["predict"] += time.perf_counter() - started
            started = time.perf_counter()
            decode(probs, pred, Params())
            seconds["instances"] += time.perf_counter() - started
            b0 = args.out / "threshold_cc" / sample.name
            b0_predict(sample, b0, ThresholdParams())
            gt = zarr.open_array(str(sample / contract.GT_KEY), mode="r")
            for method, path in (("unet_affinity", pred), ("threshold_cc", b0)):
                instances = zarr.open_array(str(path / contract.PRED_KEY), mode="r")
                results[method].append(evaluate_sample(gt, instances, partly=set_name == "partly"))
        for method, rows in results.items():
            scores[method][set_name] = aggregate(rows)
    table = {}
    for method, sets in scores.items():
        sets["combined"] = combine(sets["completely"], sets["partly"])
        table[method] = {
            s: {k: round(v[k], 4) for k in ("S", "avF1", "C")} for s, v in sets.items()
        }
    return {"figure": "test_scores", "checkpoint": str(args.checkpoint), **table,
            "seconds": {k: round(v, 1) for k, v in seconds.items()}}  # fmt: skip


NEW_AUGMENTATIONS = ("elastic", "rotate", "overlay", "noise", "blur", "gamma")


def bench_augment(args: argparse.Namespace) -> dict:
    """Milliseconds (wall and CPU) per training item of a ``--crop``-cube crop."""
    from fisbe_bench.methods.unet_affinity.config import DEFAULT_OFFSETS, Augment
    from fisbe_bench.methods.unet_affinity.data import CropDataset, index_sample
    from fisbe_bench.synth import write_dataset

    base = dataclasses.replace(Augment(), **dict.fromkeys(NEW_AUGMENTATIONS, 0.0))
    variants = {"without_new": base, "defaults": Augment()}
    variants |= {f"{name}_always": dataclasses.replace(base, **{name: 1.0})
                 for name in NEW_AUGMENTATIONS}  # fmt: skip
    crop = [args.crop] * 3
    timings = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        sample = write_dataset(Path(tmp), 1, 0, args.shape, args.seed, only="synth_c000")[0]
        index = index_sample(sample)
        for name, augment in variants.items():
            data = CropDataset([index], crop, DEFAULT_OFFSETS, args.seed, augment=augment)
            data[0]  # warm-up: opens the arrays
            wall, cpu = time.perf_counter(), time.process_time()
            for item in range(1, args.items + 1):
                data[item]
            timings[name] = {
                "wall_ms": round(1000 * (time.perf_counter() - wall) / args.items, 1),
                "cpu_ms": round(1000 * (time.process_time() - cpu) / args.items, 1),
            }
    return {"figure": "augment_ms_per_item", "crop": crop, "shape": args.shape,
            "items": args.items, "offsets": len(DEFAULT_OFFSETS), **timings}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("train", "predict"):
        p = sub.add_parser(name)
        p.add_argument("--preset", type=Path, default=Path("config/unet/demo.yaml"))
        p.add_argument("--data-root", type=Path)
        p.add_argument("--steps", type=int, default=20)
        p.add_argument("--shape", type=int, nargs=3, default=[64, 160, 160])
    p = sub.add_parser("instances")
    p.add_argument("--shape", type=int, nargs=3, default=[128, 256, 256])
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tmp", type=Path, default=None)
    p.add_argument(
        "--replicate-to",
        type=int,
        nargs=3,
        metavar=("Z", "Y", "X"),
        help="mirror-tile the --shape probabilities up to this shape",
    )
    p = sub.add_parser("score")
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("augment")
    p.add_argument("--crop", type=int, default=48)
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--shape", type=int, nargs=3, default=[192, 320, 320])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tmp", type=Path, default=None)
    args = parser.parse_args()
    bench = {"train": bench_train, "predict": bench_predict, "instances": bench_instances,
             "score": bench_score, "augment": bench_augment}[args.what]  # fmt: skip
    print(json.dumps(bench(args)), flush=True)


if __name__ == "__main__":
    main()

"""Benchmarks of B1 (unet_affinity) and B3 (patchperpix: a preset with ``patch_radius``,
predicted through its consensus head); prints one JSON line per figure and writes it to --out.

  python benchmarks/bench_unet.py train --preset config/unet/demo.yaml [--data-root D] --steps 20
  python benchmarks/bench_unet.py predict --preset config/unet/demo.yaml --shape 64 160 160
  python benchmarks/bench_unet.py instances --shape 128 256 256 [--preset P]
  python benchmarks/bench_unet.py score --data-root D --checkpoint RUN/best.pt --workdir OUT
  python benchmarks/bench_unet.py augment --crop 128 --items 8
  python benchmarks/bench_unet.py loader [--preset config/patchperpix/paper.yaml]
  python benchmarks/bench_unet.py gpu [--preset config/unet/paper.yaml] [--device cuda]

``instances`` builds near-perfect probabilities from a synthetic sample's GT (numinst
one-hot, affinities 0.05/0.95 plus noise; with a B3 ``--preset``, its consensus
affinities, which ideal patches make equal to these), so the foreground fraction and crossing
pattern are those of the generator; ``score`` predicts the test split with a trained run
and scores it next to B0; ``augment`` times training items (read, augment, targets) of a
synthetic sample without the spatial/overlay/noise augmentations, with each of them
always on, and with the defaults. ``train`` without ``--data-root`` generates a small
synthetic dataset first (not timed). ``train`` and ``predict`` take ``--device cuda`` (bf16
as the preset says) for the GPU figures (``make bench-gpu``). Each command writes its figure,
the machine and the command to ``--out`` (``benchmarks/RESULTS-unet.md``). Timings are
wall-clock on a shared machine: rerun to compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import results_file
import torch
import zarr

from fisbe_bench import contract, sample_io
from fisbe_bench.methods.unet_affinity.config import AFFINITY_KEY, NUMINST_KEY, Params, load_config
from fisbe_bench.methods.unet_affinity.instances import decode
from fisbe_bench.methods.unet_affinity.model import AffinityUNet
from fisbe_bench.methods.unet_affinity.predict import Head, load_model, predict_zarr
from fisbe_bench.methods.unet_affinity.train import train

KIND_TITLES = {"unet_affinity": "B1 `unet_affinity`", "patchperpix": "B3 `patchperpix`"}


def _kind(preset: Path | None) -> str:
    import yaml

    is_b3 = preset is not None and "patch_radius" in (yaml.safe_load(preset.read_text()) or {})
    return "patchperpix" if is_b3 else "unet_affinity"


def read_preset(path: Path) -> tuple[Any, Head | None]:
    """A B1 preset, or a B3 preset (it sets ``patch_radius``) with its consensus head."""
    if _kind(path) == "patchperpix":
        from fisbe_bench.methods.patchperpix.train import read_preset as read_b3

        return read_b3(path)
    return load_config(path), None


def bench_train(args: argparse.Namespace) -> dict:
    """Training steps/s of a preset (first step excluded: allocation warm-up)."""
    config, head = read_preset(args.preset)
    config = dataclasses.replace(
        config, steps=args.steps + 1, val_every=0, checkpoint_every=args.steps + 1
    )
    with tempfile.TemporaryDirectory() as out:
        data_root = args.data_root
        if data_root is None:  # a small synthetic dataset, generated untimed
            from fisbe_bench.synth import write_dataset

            data_root = Path(out) / "data"
            write_dataset(data_root, 4, 0, args.data_shape, 0)
        train(config, data_root, data_root / "sample_list_per_split.txt", Path(out) / "run",
              args.device, progress=False, head=head)  # fmt: skip
        seconds = [float(line.split(",")[-1]) for line in
                   (Path(out) / "run" / "loss.csv").read_text().splitlines()[2:]]  # fmt: skip
    steps_per_s = len(seconds) / sum(seconds)
    return {"figure": "train_steps_per_s", "preset": str(args.preset), "batch": config.batch,
            "crop": config.crop, "steps": len(seconds), "steps_per_s": round(steps_per_s, 3),
            "threads": torch.get_num_threads(), "device": args.device,
            **_gpu(args.device)}  # fmt: skip


def _gpu(device: str) -> dict:
    """Name and peak memory of the CUDA device, if one was used."""
    if not device.startswith("cuda"):
        return {}
    return {"gpu": torch.cuda.get_device_name(),
            "gpu_peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}  # fmt: skip


def bench_predict(args: argparse.Namespace) -> dict:
    """Seconds to predict one volume of ``--shape`` (random raw, untrained weights)."""
    config, head = read_preset(args.preset)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "model.pt"
        torch.save({"model": AffinityUNet(config.model).state_dict(),
                    "config": config.to_dict()}, checkpoint)  # fmt: skip
        model, _ = load_model(checkpoint, torch.device(args.device))
        raw = np.random.default_rng(0).integers(0, 1500, (3, *args.shape), dtype=np.uint16)
        sample_io.write_array(Path(tmp) / "s.zarr", contract.RAW_KEY, raw, (1, 64, 128, 128))
        started = time.perf_counter()
        tiles = predict_zarr(model, Path(tmp) / "s.zarr", Path(tmp) / "p.zarr",
                             config.tile, config.overlap,
                             bf16=config.bf16 and args.device != "cpu", head=head)  # fmt: skip
        seconds = time.perf_counter() - started
    return {"figure": "predict_seconds", "preset": str(args.preset), "shape": args.shape,
            "tile": config.tile, "overlap": config.overlap, "tiles": tiles,
            "seconds": round(seconds, 2), "device": args.device,
            **_gpu(args.device)}  # fmt: skip


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
        here = tuple(slice(max(0, -o), s - max(0, o)) for s, o in zip(shape, offset, strict=True))
        there = tuple(slice(max(0, o), s + min(0, o)) for s, o in zip(shape, offset, strict=True))
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
    """Seconds of ``decode`` (read + mutex watershed + write) per volume, from the stored
    outputs of ``--preset`` (B1: its affinities, default B1's 39; B3: its consensus head's)."""
    from fisbe_bench.methods.unet_affinity.config import DEFAULT_OFFSETS
    from fisbe_bench.synth import write_dataset

    offsets = list(DEFAULT_OFFSETS)
    if args.preset is not None:
        config, head = read_preset(args.preset)
        offsets = list(head.offsets if head else config.model.offsets)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        sample = write_dataset(tmp / "data", 1, 0, args.shape, args.seed, only="synth_c000")[0]
        fake_probabilities(sample, tmp / "probs.zarr", offsets, args.noise, 0)
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
    return {"figure": "instances_seconds", "preset": str(args.preset or "(B1 default offsets)"),
            "channels": len(offsets), "shape": args.shape, "foreground": round(foreground, 4),
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
            probs = args.workdir / "probs" / sample.name
            pred = args.workdir / "unet_affinity" / sample.name
            started = time.perf_counter()
            predict_zarr(model, sample, probs, config.tile, config.overlap, bf16=False)
            seconds["predict"] += time.perf_counter() - started
            started = time.perf_counter()
            decode(probs, pred, Params())
            seconds["instances"] += time.perf_counter() - started
            b0 = args.workdir / "threshold_cc" / sample.name
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


GPU_VARIANTS = {"plain": (False, False), "channels_last": (True, False),
                "compile": (False, True), "channels_last+compile": (True, True)}  # fmt: skip


def _training_steps(config: Any, dev: torch.device, crop: list[int], steps: int,
                    channels_last: bool, compiled: bool) -> float:  # fmt: skip
    """Steps/s of targets + forward + loss + backward + Adam at ``config.batch`` x ``crop``
    on random labels (no data loading; the targets are built on ``dev`` as in training),
    bf16 autocast as the preset says."""
    from fisbe_bench.methods.unet_affinity.predict import autocast
    from fisbe_bench.methods.unet_affinity.targets import batch_targets, loss_terms

    torch.manual_seed(0)
    model = AffinityUNet(config.model).to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    network = torch.compile(model) if compiled else model
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    raw = torch.rand(config.batch, 3, *crop, device=dev)
    if channels_last:
        raw = raw.contiguous(memory_format=torch.channels_last_3d)
    margin = max(abs(o) for offset in config.model.offsets for o in offset)
    box = [config.batch, *(c + 2 * margin for c in crop)]
    labels = torch.randint(0, 3, box, device=dev)  # background, neuron 1 or neuron 2
    bits = torch.where(labels > 0, 1 << (labels - 1), 0)[:, None]
    inside, weight = torch.ones(box, dtype=torch.bool, device=dev), torch.ones(box, device=dev)

    def step() -> None:
        targets = batch_targets(
            bits, (labels > 0).to(torch.uint8), inside, weight, config.model.offsets, margin
        )
        with autocast(dev, config.bf16):
            logits = network(raw)
        ce, bce = loss_terms(
            logits, targets.numinst, targets.affinities, targets.classes,
            weight=targets.weight, pair_weight=targets.pair_weight,
        )  # fmt: skip
        (ce + bce).backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    for _ in range(3):  # warm-up (compilation, cuDNN autotuning)
        step()
    _synchronize(dev)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(dev)
    return steps / (time.perf_counter() - started)


def _synchronize(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _utilisation(samples: list[float], stop: threading.Event) -> None:
    """Append GPU utilisation (%) from nvidia-smi every 0.2 s until ``stop``."""
    query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
    while not stop.is_set():
        try:
            samples.append(float(subprocess.run(query, capture_output=True, text=True,
                                                check=True).stdout.split()[0]))  # fmt: skip
        except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
            return
        stop.wait(0.2)


def bench_gpu(args: argparse.Namespace) -> dict:
    """The paper preset's GPU figures: training steps/s (batch x crop, bf16) with and
    without channels-last-3d and torch.compile, GPU utilisation while training, data-loader
    headroom (items/s the loader makes over items/s training consumes), inference seconds
    per volume including zarr reading and writing, and peak GPU memory of each."""
    from fisbe_bench.methods.unet_affinity.data import CropDataset, index_sample
    from fisbe_bench.synth import write_dataset

    config, head = read_preset(args.preset)
    dev = torch.device(args.device)
    crop = list(args.crop or config.crop)
    figure: dict[str, Any] = {"figure": "gpu", "device": str(dev), "preset": str(args.preset),
                              "batch": config.batch, "crop": crop, "bf16": config.bf16,
                              "offsets": len(config.model.offsets)}  # fmt: skip
    if dev.type == "cuda":
        figure["gpu_name"] = torch.cuda.get_device_name(dev)
    steps = {}
    for name, (channels_last, compiled) in GPU_VARIANTS.items():
        if compiled and dev.type != "cuda":
            continue  # torch.compile is a GPU option of the presets
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        steps[name] = round(_training_steps(config, dev, crop, args.steps, channels_last,
                                            compiled), 3)  # fmt: skip
        if dev.type == "cuda":
            figure[f"train_peak_gib_{name}"] = round(
                torch.cuda.max_memory_allocated(dev) / 2**30, 2
            )
    figure["train_steps_per_s"] = steps
    best = max(steps, key=steps.__getitem__)
    samples: list[float] = []
    stop = threading.Event()
    if dev.type == "cuda":
        watcher = threading.Thread(target=_utilisation, args=(samples, stop), daemon=True)
        watcher.start()
        _training_steps(config, dev, crop, args.steps, *GPU_VARIANTS[best])
        stop.set()
        watcher.join()
    figure["gpu_utilisation_percent"] = round(float(np.mean(samples)), 1) if samples else None
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        sample = write_dataset(Path(tmp), 1, 0, args.sample_shape, 0, only="synth_c000")[0]
        data = CropDataset([index_sample(sample)], crop, config.model.offsets, 0,
                           augment=config.augment)  # fmt: skip
        workers = max(1, config.num_workers)
        loader = torch.utils.data.DataLoader(data, batch_size=config.batch, num_workers=workers)
        batches = iter(loader)
        next(batches)  # workers started
        started = time.perf_counter()
        for _ in range(args.loader_batches):
            next(batches)
        items_per_s = args.loader_batches * config.batch / (time.perf_counter() - started)
        del batches, loader
        headroom = items_per_s / (steps[best] * config.batch)
        figure["loader"] = {"workers": workers, "items_per_s": round(items_per_s, 2),
                            "headroom": round(headroom, 2)}  # fmt: skip
        raw = np.random.default_rng(0).integers(0, 1500, (3, *args.volume), dtype=np.uint16)
        sample_io.write_array(Path(tmp) / "v.zarr", contract.RAW_KEY, raw, (1, 64, 128, 128))
        del raw
        torch.manual_seed(0)
        checkpoint = Path(tmp) / "model.pt"
        torch.save({"model": AffinityUNet(config.model).state_dict(),
                    "config": config.to_dict()}, checkpoint)  # fmt: skip
        model, _ = load_model(checkpoint, dev)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        started = time.perf_counter()
        tiles = predict_zarr(model, Path(tmp) / "v.zarr", Path(tmp) / "p.zarr", config.tile,
                             config.overlap, bf16=config.bf16, head=head)  # fmt: skip
        figure["inference"] = {"volume": [3, *args.volume], "tile": config.tile, "tiles": tiles,
                               "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip
        if dev.type == "cuda":
            figure["inference"]["peak_gib"] = round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    return figure


NEW_AUGMENTATIONS = ("elastic", "rotate", "overlay", "noise", "blur", "gamma")


def bench_loader(args: argparse.Namespace) -> dict:
    """Host memory of training data: the bytes of one loader item (a crop and what its
    targets are built from on the device) and the peak resident memory of one loader
    worker process after ``--items`` items of the preset at its crop, with its augmentation."""
    import psutil

    from fisbe_bench.methods.unet_affinity.data import CropDataset, index_sample
    from fisbe_bench.synth import write_dataset

    config, _ = read_preset(args.preset)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        sample = write_dataset(Path(tmp), 1, 0, args.sample_shape, 0, only="synth_c000")[0]
        data = CropDataset([index_sample(sample)], config.crop, config.model.offsets, 0,
                           augment=config.augment)  # fmt: skip
        loader = torch.utils.data.DataLoader(data, batch_size=1, num_workers=1)
        items = iter(loader)
        item_bytes = max(
            sum(value.numel() * value.element_size() for value in next(items).values())
            for _ in range(args.items)
        )
        workers = psutil.Process().children()
        found = [results_file.peak_rss_bytes(worker.pid) for worker in workers]
        peaks = [peak for peak in found if peak is not None]
        if len(peaks) < len(found):
            raise RuntimeError("no VmHWM for a loader worker (Linux only)")
        del items, loader
    return {"figure": "loader_memory", "preset": str(args.preset), "crop": list(config.crop),
            "offsets": len(config.model.offsets), "margin": data.margin,
            "item_gib": round(item_bytes / 2**30, 4),
            "worker_peak_gib": round(max(peaks) / 2**30, 3) if peaks else None}  # fmt: skip


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
        p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
        p.add_argument("--data-shape", type=int, nargs=3, default=[64, 160, 160],
                       help="train without --data-root: generated sample shape")  # fmt: skip
        results_file.add_out_option(p, "unet")
    p = sub.add_parser("instances")
    p.add_argument("--preset", type=Path, help="whose outputs (default: B1's 39 offsets)")
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
    results_file.add_out_option(p, "unet")
    p = sub.add_parser("score")
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--workdir", type=Path, required=True, help="predictions are kept here")
    results_file.add_out_option(p, "unet")
    p = sub.add_parser("gpu")
    p.add_argument("--preset", type=Path, default=Path("config/unet/paper.yaml"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--crop", type=int, nargs=3, help="training crop (default: the preset's)")
    p.add_argument("--steps", type=int, default=50, help="timed training steps per variant")
    p.add_argument("--loader-batches", type=int, default=20)
    p.add_argument("--sample-shape", type=int, nargs=3, default=[192, 320, 320])
    p.add_argument("--volume", type=int, nargs=3, default=[400, 700, 700])
    p.add_argument("--tmp", type=Path, default=None)
    results_file.add_out_option(p, "unet")
    p = sub.add_parser("loader")
    p.add_argument("--preset", type=Path, default=Path("config/patchperpix/paper.yaml"))
    p.add_argument("--items", type=int, default=8)
    p.add_argument("--sample-shape", type=int, nargs=3, default=[192, 320, 320])
    p.add_argument("--tmp", type=Path, default=None)
    results_file.add_out_option(p, "unet")
    p = sub.add_parser("augment")
    p.add_argument("--crop", type=int, default=48)
    p.add_argument("--items", type=int, default=20)
    p.add_argument("--shape", type=int, nargs=3, default=[192, 320, 320])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tmp", type=Path, default=None)
    results_file.add_out_option(p, "unet")
    args = parser.parse_args()
    start = results_file.started()
    bench = {"train": bench_train, "predict": bench_predict, "instances": bench_instances,
             "score": bench_score, "augment": bench_augment, "loader": bench_loader,
             "gpu": bench_gpu}[args.what]  # fmt: skip
    figure = bench(args)
    print(json.dumps(figure), flush=True)
    results_file.write_section(
        args.out,
        title=f"{KIND_TITLES[_kind(getattr(args, 'preset', None))]}: measured figures",
        start=start,
        raw=figure,
        table=figure_table(figure),
        notes=f"torch {torch.__version__}, {torch.get_num_threads()} threads",
    )


def figure_table(figure: dict) -> str:
    """One table row per number of the figure (nested ones flattened)."""
    rows = []
    for key, value in figure.items():
        if isinstance(value, dict):
            rows += [[f"{key} {k}", json.dumps(v)] for k, v in value.items()]
        elif key != "figure":
            rows.append([key, json.dumps(value) if isinstance(value, list) else value])
    return results_file.markdown_table([figure["figure"], "value"], rows)


if __name__ == "__main__":
    main()

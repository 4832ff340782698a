"""The B1 training loop: seeded, checkpointed, resumable, validated.

Output directory: ``last.pt`` (model, optimiser, weight average, step, histories; written
every ``checkpoint_every`` steps with write-to-temp + ``os.replace``, so a kill -9 leaves the
previous one intact), ``best.pt`` (the exported model: that of the best validation S, or of
the final step, as ``select`` says), ``loss.csv``,
``loss.png``, ``val.csv`` and ``sample_index/`` (cached crop centres). A rerun with the
same output directory resumes from ``last.pt``; on CPU a resumed run ends with the same
weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io as stdio
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from itertools import islice, zip_longest
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import zarr

from fisbe_bench import contract
from fisbe_bench.atomic import write_bytes
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.config import Params, TrainConfig, load_config
from fisbe_bench.methods.unet_affinity.data import CropDataset, SampleIndex, index_sample
from fisbe_bench.methods.unet_affinity.model import AffinityUNet
from fisbe_bench.methods.unet_affinity.predict import (
    Head,
    autocast,
    predict_zarr,
    resolve_device,
)
from fisbe_bench.methods.unet_affinity.targets import batch_targets, loss_terms

LOSS_COLUMNS = ["step", "loss", "ce", "bce", "seconds"]
VAL_COLUMNS = ["step", "S", "avF1", "C", "samples"]
# keys that may change between a run and its resumption (they do not alter the weights)
RESUMABLE_KEYS = {"steps", "checkpoint_every", "val_every", "val_max_samples", "log_every",
                  "num_workers", "tile", "overlap", "select"}  # fmt: skip


def split_samples(
    data_root: str | Path, split_file: str | Path, split: str, sets: Sequence[str]
) -> list[tuple[Path, str]]:
    """(path, set) of every sample of ``split`` in ``sets``; missing samples are an error."""
    from fisbe_bench.splits import parse_split_file

    found = []
    for entry in parse_split_file(split_file):
        if entry.split != split or entry.set not in sets:
            continue
        path = Path(data_root) / entry.set / entry.split / f"{entry.sample}.zarr"
        if not path.is_dir():
            raise FisbeError(f"sample {entry.sample!r} of the split file is missing", path)
        found.append((path, entry.set))
    return found


def validation_samples(
    data_root: str | Path, split_file: str | Path, limit: int
) -> list[tuple[Path, str]]:
    """At most ``limit`` val samples of both sets, whatever the training sets: taken from
    each set in turn, so a small limit still covers completely and partly labelled data."""
    by_set = [split_samples(data_root, split_file, "val", [name]) for name in contract.SETS]
    turns = (entry for group in zip_longest(*by_set) for entry in group if entry is not None)
    return list(islice(turns, limit))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary sibling, fsync, then rename over ``path``."""
    buffer = stdio.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue(), fsync=True)


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    text = stdio.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes(path, text.getvalue().encode(), fsync=True)


def plot_curves(path: Path, history: list[dict], validation: list[dict]) -> None:
    """Loss curve (raw and smoothed) and validation S, as a PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    if history:
        steps = np.array([row["step"] for row in history])
        for key, colour in (("loss", "C0"), ("ce", "C1"), ("bce", "C2")):
            values = np.array([row[key] for row in history], dtype=float)
            window = max(1, len(values) // 50)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax_loss.plot(steps, values, color=colour, alpha=0.25, lw=0.8)
            ax_loss.plot(steps[window - 1 :], smooth, color=colour, label=key)
        ax_loss.set_yscale("log")
        ax_loss.legend()
    ax_loss.set(xlabel="step", ylabel="training loss", title="loss (numinst CE + affinity BCE)")
    if validation:
        ax_val.plot([r["step"] for r in validation], [r["S"] for r in validation], "o-")
    ax_val.set(xlabel="step", ylabel="S", title="validation S", ylim=(0, 1))
    fig.tight_layout()
    buffer = stdio.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes(path, buffer.getvalue(), fsync=True)


def load_index(path: Path, set_name: str, cache: Path, seed: int) -> SampleIndex:
    """Crop centres of one sample, cached as ``<cache>/<set>_<sample>.npz``."""
    cached = cache / f"{set_name}_{path.stem}.npz"
    if cached.exists():
        data = np.load(cached)
        shape = tuple(data["shape"])
        return SampleIndex(path, shape, data["foreground"], data["overlap"], set_name == "partly")
    index = index_sample(path, seed, partly=set_name == "partly")
    buffer = stdio.BytesIO()
    np.savez(buffer, shape=index.shape, foreground=index.foreground, overlap=index.overlap)
    cache.mkdir(parents=True, exist_ok=True)
    write_bytes(cached, buffer.getvalue(), fsync=True)
    return index


def validate(
    model: AffinityUNet,
    config: TrainConfig,
    samples: Sequence[tuple[Path, str]],
    workdir: Path,
    head: Head | None = None,
) -> dict[str, float]:
    """Tiled inference (through ``head``, see :class:`~.predict.Head`) + instances + FISBe
    metrics on ``samples``: aggregate S, avF1, C."""
    from fisbe_bench.methods.unet_affinity.instances import decode
    from fisbe_bench.metrics import aggregate, evaluate_sample

    results = []
    was_training = model.training
    model.eval()
    try:
        for path, set_name in samples:
            probs, pred = workdir / "probs.zarr", workdir / "pred.zarr"
            predict_zarr(
                model, path, probs, config.tile, config.overlap, bf16=config.bf16, head=head
            )
            decode(probs, pred, Params())
            gt = zarr.open_array(str(path / contract.GT_KEY), mode="r")
            instances = zarr.open_array(str(pred / contract.PRED_KEY), mode="r")
            results.append(evaluate_sample(gt, instances, partly=set_name == "partly"))
    finally:
        model.train(was_training)
    summary = aggregate(results)
    return {key: float(summary[key]) for key in ("S", "avF1", "C")}


class WeightAverage:
    """Exponential moving average of a model's floating-point state (weights and BatchNorm
    statistics; integer buffers are copied), with the warm-up decay
    ``min(decay, (1 + step) / (10 + step))`` so that early steps are not frozen in."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.state = {key: value.detach().clone() for key, value in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Fold in the model's state after ``step`` optimiser steps."""
        decay = min(self.decay, (1 + step) / (10 + step))
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.state[key].mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                self.state[key].copy_(value)

    def model_like(self, model: AffinityUNet) -> AffinityUNet:
        """A copy of ``model`` holding the averaged state."""
        averaged = copy.deepcopy(model)
        averaged.load_state_dict(self.state)
        return averaged


def _compatible(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    current = config.to_dict()
    saved = {**TrainConfig().to_dict(), **saved}  # keys added since the run began: defaults
    changed = sorted(k for k in current if k not in RESUMABLE_KEYS and saved.get(k) != current[k])
    if changed:
        raise FisbeError(
            f"cannot resume: config differs in {changed}; use a new output directory", path
        )


def loader_workers(configured: int, threads: int | None = None) -> int:
    """Data-loader worker processes: the preset's ``num_workers``, but at most ``threads - 1``
    when a workflow rule grants ``threads`` (the training process takes one)."""
    return configured if threads is None else max(0, min(configured, threads - 1))


def train(
    config: TrainConfig,
    data_root: str | Path,
    split_file: str | Path,
    out: str | Path,
    device: str = "auto",
    stop_after: int | None = None,
    progress: bool = True,
    threads: int | None = None,
    expect_gpu: bool = False,
    head: Head | None = None,
) -> dict[str, Any]:
    """Train (or resume) into ``out``; returns a summary. ``stop_after`` ends this call
    after that many steps (as a kill would, without the final checkpoint). ``threads``: see
    :func:`loader_workers`; ``expect_gpu``: see :func:`resolve_device`; ``head``: how
    validation turns network outputs into affinities (default: as they are)."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device, expect_gpu)
    train_samples = split_samples(data_root, split_file, "train", config.sets)
    val_samples = validation_samples(data_root, split_file, config.val_max_samples)
    if not train_samples:
        raise FisbeError(f"no training samples of sets {list(config.sets)}", split_file)

    torch.manual_seed(config.seed)
    model = AffinityUNet(config.model).to(dev)
    if config.channels_last:
        model.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    step, history, validation = 0, [], []
    best = {"S": -1.0, "step": 0}
    average = WeightAverage(model, config.ema) if config.ema else None
    last_path, best_path = out / "last.pt", out / "best.pt"
    if last_path.exists():
        try:
            state = torch.load(str(last_path), map_location=dev, weights_only=True)
        except (RuntimeError, EOFError, OSError) as err:
            raise FisbeError(f"cannot resume from a damaged checkpoint: {err}", last_path) from err
        _compatible(state["config"], config, last_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history, validation = state["step"], state["history"], state["validation"]
        best = state["best"]
        if average is not None:
            average.state = state["average"]

    indexes = [
        load_index(path, set_name, out / "sample_index", config.seed)
        for path, set_name in train_samples
    ]
    dataset = CropDataset(
        indexes, config.crop, config.model.offsets, config.seed,
        config.p_foreground, config.p_overlap, config.augment, config.partly_background_weight,
        config.partly_dark_factor,
    )  # fmt: skip
    loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
        cast("torch.utils.data.Dataset[Any]", dataset),
        batch_size=config.batch,
        sampler=range(step * config.batch, config.steps * config.batch),
        num_workers=loader_workers(config.num_workers, threads),
        pin_memory=dev.type == "cuda",
        persistent_workers=False,
    )
    network = model
    if config.compile and dev.type == "cuda":
        network = torch.compile(model)  # type: ignore[assignment]

    def checkpoint() -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "config": config.to_dict(),
            "history": history,
            "validation": validation,
            "best": best,
            "average": average.state if average is not None else None,
        }
        save_checkpoint(last_path, state)
        _write_csv(out / "loss.csv", LOSS_COLUMNS, history)
        _write_csv(out / "val.csv", VAL_COLUMNS, validation)
        plot_curves(out / "loss.png", history, validation)

    def exported() -> AffinityUNet:
        """The weights a run validates and exports: the average, if any, else the trained."""
        return average.model_like(model) if average is not None else model

    def save_best() -> None:
        state = {"model": exported().state_dict(), "config": config.to_dict(), "step": step, **best}
        save_checkpoint(best_path, state)

    validating = bool(val_samples and config.val_every)
    model.train()
    bar = tqdm(total=config.steps, initial=step, desc="train", unit="step", disable=not progress)
    started_steps = step
    tick = time.perf_counter()
    for batch in loader:
        raw = batch["raw"].to(dev, non_blocking=True)
        if config.channels_last:
            raw = raw.contiguous(memory_format=torch.channels_last_3d)
        bits, counts, inside, weight = (
            batch[k].to(dev, non_blocking=True) for k in ("bits", "counts", "inside", "weight")
        )
        targets = batch_targets(bits, counts, inside, weight, config.model.offsets, dataset.margin)
        with autocast(dev, config.bf16):
            logits = network(raw)
        ce, bce = loss_terms(
            logits, targets.numinst, targets.affinities, targets.classes,
            config.background_pair_weight, config.boundary_pair_weight,
            config.overlap_pair_weight, config.numinst_class_weights, targets.weight,
            targets.pair_weight,
        )  # fmt: skip
        loss = ce + config.affinity_weight * bce
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if average is not None:
            average.update(model, step)
        now = time.perf_counter()
        history.append(
            {"step": step, "loss": loss.item(), "ce": ce.item(), "bce": bce.item(),
             "seconds": round(now - tick, 4)}
        )  # fmt: skip
        tick = now
        bar.update()
        if step % config.log_every == 0:
            bar.set_postfix(
                loss=f"{np.mean([r['loss'] for r in history[-config.log_every :]]):.4f}"
            )
        if stop_after is not None and step - started_steps >= stop_after:
            if step % config.checkpoint_every == 0:
                checkpoint()
            bar.close()
            return {"step": step, "stopped": True}
        final = step == config.steps
        scores = None
        if validating and (step % config.val_every == 0 or final):
            with tempfile.TemporaryDirectory(dir=out, prefix=".val-") as workdir:
                scores = validate(exported(), config, val_samples, Path(workdir), head)
            validation.append({"step": step, **scores, "samples": len(val_samples)})
            bar.write(f"step {step}: validation S {scores['S']:.4f}")
        if config.select == "best" and validating:
            if scores is not None and scores["S"] > best["S"]:
                best = {"S": scores["S"], "step": step}
                save_best()
        elif final:  # select last, or no validation: the final weights
            best = {"S": scores["S"] if scores else float("nan"), "step": step}
            save_best()
        if step % config.checkpoint_every == 0 or final:
            checkpoint()
    bar.close()
    if step >= config.steps and not best_path.exists():
        save_best()
    if not last_path.exists():
        checkpoint()
    return {"step": step, "best": best, "validation": validation[-1:] or None}


def clean_output(out: Path) -> None:
    """Remove a previous run's files (for ``--restart``)."""
    for name in ("last.pt", "best.pt", "loss.csv", "loss.png", "val.csv"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "sample_index", ignore_errors=True)


def read_preset(path: str | Path) -> tuple[TrainConfig, None]:
    """Training configuration of a B1 preset (B1 validates with no extra head)."""
    return load_config(path), None


def train_to_outputs(
    preset: str | Path,
    data_root: str | Path,
    split_file: str | Path,
    workdir: str | Path,
    model_out: str | Path,
    curve_out: str | Path,
    threads: int | None = None,
    device: str = "auto",
    expect_gpu: bool = False,
    seed: int | None = None,
    preset_reader: Callable[[str | Path], tuple[TrainConfig, Head | None]] | None = None,
) -> dict[str, Any]:
    """Workflow step: train (resuming in ``workdir``) on ``threads`` cores, the data-loader
    workers' share (:func:`loader_workers`) taken from them, then copy ``best.pt`` and the loss
    curve to the rule's outputs atomically. ``seed`` overrides the preset's ``seed``;
    ``preset_reader`` (default :func:`read_preset`; B3 passes its own) returns the training
    configuration and validation head of a preset file."""
    config, head = (preset_reader or read_preset)(preset)
    if threads:
        torch.set_num_threads(max(1, threads - loader_workers(config.num_workers, threads)))
    if seed is not None:
        config = dataclasses.replace(config, seed=seed)
    summary = train(
        config, data_root, split_file, workdir, device, progress=False,
        threads=threads, expect_gpu=expect_gpu, head=head,
    )  # fmt: skip
    for source, target in (
        (Path(workdir) / "best.pt", model_out),
        (Path(workdir) / "loss.png", curve_out),
    ):
        write_bytes(target, source.read_bytes(), fsync=True)
    print(json.dumps(summary, default=str))
    return summary

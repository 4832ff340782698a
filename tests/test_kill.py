"""kill -9 in the middle of evaluation, inference, training and a whole Snakemake run.

Each step runs as a real process (the installed ``fisbe-bench`` entry point or
``python -m snakemake``) in its own session and is killed with SIGKILL (the whole
process group, as a scheduler would) at a point where it is provably mid-way. Then: no
output that looks complete (or the earlier output byte-identical), and a rerun gives
valid output identical to an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
import zarr
from conftest import CORES, REPO, SNAKEMAKE

from fisbe_bench import contract
from fisbe_bench.cli import main

# xdist: inputs made once for every kill (one worker runs all of them)
pytestmark = pytest.mark.xdist_group("kill")

FISBE = str(Path(sys.executable).parent / "fisbe-bench")
COPIES = 16  # evaluation inputs: copies of the synthetic samples, a few seconds in all


def start(command: list[str], **kwargs: object) -> subprocess.Popen:
    """Start ``command`` in its own session (so its whole process group can be killed)."""
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kwargs,  # type: ignore[arg-type]
    )


def kill_when(proc: subprocess.Popen, ready: Callable[[str], bool], timeout: float = 300) -> str:
    """SIGKILL ``proc``'s process group once ``ready(line)`` holds for an output line
    (``ready("")`` is polled in between); fail if it ends first. Returns its output."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.02)
            seen.append(line)
        except queue.Empty:
            line = ""
            if proc.poll() is not None:
                pytest.fail(f"finished before the kill:\n{''.join(seen)[-3000:]}")
        if ready(line):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            return "".join(seen)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("timed out waiting for the kill point")


def run(command: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


def snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``path``: bytes and modification time."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path)): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def contents(path: Path) -> dict[str, bytes]:
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path)): p.read_bytes() for p in files}


def visible(folder: Path) -> list[str]:
    """Entries a reader would take for results (hidden temporaries excluded)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset for training and inference."""
    from fisbe_bench.synth import write_dataset

    root = tmp_path_factory.mktemp("small")
    write_dataset(root, 3, 1, (32, 64, 64), 1)
    return root


# --- evaluation --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GT and threshold_cc predictions: COPIES samples of 64 x 160 x 160 voxels."""
    from fisbe_bench.methods.threshold_cc import Params as ThresholdParams
    from fisbe_bench.methods.threshold_cc import predict
    from fisbe_bench.synth import write_dataset

    root = tmp_path_factory.mktemp("evaluation")
    write_dataset(root / "synth", 2, 0, (64, 160, 160), 0)
    samples = sorted((root / "synth").glob("*/*/*.zarr"))
    for sample in samples:
        predict(sample, root / "once" / sample.name, ThresholdParams())
    for i in range(COPIES):
        source = samples[i % len(samples)]
        shutil.copytree(source, root / f"gt/completely/test/s{i:02d}.zarr")
        shutil.copytree(root / "once" / source.name, root / f"pred/s{i:02d}.zarr")
    return root


def test_kill_evaluation(evaluation_inputs: Path, tmp_path: Path) -> None:
    root = evaluation_inputs
    out = tmp_path / "eval"
    args = ["evaluate", "--gt", str(root / "gt"), "--pred", str(root / "pred"), "--out"]
    mid_way = "INFO: evaluating s03"  # 13 of 16 samples still to go

    proc = start([FISBE, *args, str(out)])
    kill_when(proc, lambda line: mid_way in line)
    assert visible(tmp_path) == []  # no output at all, nothing that looks complete

    run([FISBE, *args, str(out)])
    assert main([*args, str(tmp_path / "reference")]) == 0  # an uninterrupted run
    assert contents(out) == contents(tmp_path / "reference")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completely"]["num_images"] == COPIES

    before = snapshot(out)
    proc = start([FISBE, *args, str(out)])
    kill_when(proc, lambda line: mid_way in line)
    assert snapshot(out) == before  # the earlier result: same bytes, not even rewritten


# --- inference ---------------------------------------------------------------------------


def save_checkpoint(path: Path) -> None:
    """An untrained tiny-preset model in the checkpoint format (weights are irrelevant)."""
    from fisbe_bench.methods.unet_affinity.config import load_config
    from fisbe_bench.methods.unet_affinity.model import AffinityUNet

    config = load_config(REPO / "config/unet/tiny.yaml")
    torch.manual_seed(0)
    state = {"model": AffinityUNet(config.model).state_dict(), "config": config.to_dict()}
    torch.save(state, str(path))


def test_kill_inference(small: Path, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint)
    sample = small / "completely/test/synth_c002.zarr"
    command = [FISBE, "unet-affinity", "predict", "--checkpoint", str(checkpoint)]
    command += ["--raw", str(sample)]
    command += ["--device", "cpu", "--tile", "16", "32", "32", "--overlap", "0", "0", "0"]
    out = tmp_path / "probs.zarr"

    proc = start([*command, "--out", str(out)])
    # mid-way: the temporary output exists, i.e. tiles are being written
    kill_when(proc, lambda _: any(tmp_path.glob(".probs.zarr.tmp-*")))
    assert visible(tmp_path) == ["model.pt"]

    run([*command, "--out", str(out)])
    run([*command, "--out", str(tmp_path / "reference.zarr")])
    for key in ("volumes/numinst", "volumes/affinities"):
        got = zarr.open_array(str(out / key), mode="r")
        want = zarr.open_array(str(tmp_path / "reference.zarr" / key), mode="r")
        assert got.shape[1:] == (32, 64, 64)
        np.testing.assert_array_equal(got[...], want[...])
        assert np.isfinite(got[...]).all()


# --- training ----------------------------------------------------------------------------


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(str(path), map_location="cpu", weights_only=True)["model"]


def test_kill_training_resumes_from_last_checkpoint(small: Path, tmp_path: Path) -> None:
    preset = yaml.safe_load((REPO / "config/unet/tiny.yaml").read_text())
    preset.update(steps=4, checkpoint_every=2, val_every=0, crop=[16, 16, 16])
    (tmp_path / "preset.yaml").write_text(yaml.safe_dump(preset))
    command = [FISBE, "unet-affinity", "train", "--config", str(tmp_path / "preset.yaml")]
    command += ["--data-root"]
    command += [str(small), "--split-file", str(small / "sample_list_per_split.txt")]
    command += ["--device", "cpu", "--no-progress", "--out"]
    killed = tmp_path / "killed"

    proc = start([*command, str(killed)])
    kill_when(proc, lambda _: (killed / "last.pt").exists())
    state = torch.load(str(killed / "last.pt"), map_location="cpu", weights_only=True)
    assert state["step"] == 2  # the last checkpoint, loadable; the run is not complete

    resumed = json.loads(run([*command, str(killed)]).stdout.splitlines()[-1])
    assert resumed["step"] == 4
    run([*command, str(tmp_path / "straight")])
    for name in ("last.pt", "best.pt"):
        want, got = weights(tmp_path / "straight" / name), weights(killed / name)
        assert want.keys() == got.keys()
        assert all(torch.equal(want[k], got[k]) for k in want), name
    losses = [
        [row.split(",")[1] for row in (run_dir / "loss.csv").read_text().splitlines()]
        for run_dir in (killed, tmp_path / "straight")
    ]
    assert losses[0] == losses[1] and len(losses[0]) == 1 + 4


# --- a whole Snakemake run ---------------------------------------------------------------

TINY = {
    "run": ["tiny"],
    "datasets": {
        "tiny": {"source": "synthetic", "n_completely": 3, "n_partly": 3, "shape": [24, 48, 48]}
    },
    "methods": {"threshold_cc": {"kind": "threshold_cc"}},
    "leaderboard": {"bootstrap": 10, "seed": 0},
}


@pytest.mark.slow  # runs the workflow
def test_kill_snakemake_then_unlock_and_rerun_incomplete(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    command = [*SNAKEMAKE, "--directory", str(tmp_path), "--configfile"]
    command += [str(tmp_path / "config.yaml"), *CORES]
    proc = start(command)
    started = []

    def in_a_method_job(line: str) -> bool:
        if "rule threshold_cc:" in line:
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] > 0.3

    kill_when(proc, in_a_method_job)
    assert (tmp_path / "results/tiny/splits.tsv").is_file()
    assert not (tmp_path / "results/tiny/leaderboard").exists()
    assert list((tmp_path / ".snakemake/incomplete").iterdir())  # jobs were running

    run([*command, "--unlock"])  # a killed Snakemake leaves its lock behind
    run([*command, "--rerun-incomplete"])
    proc = run([*command, "-n"])
    assert "Nothing to be done" in proc.stdout + proc.stderr

    # the predictions and scores equal those of the CLI run directly on the same data
    results = tmp_path / "results/tiny"
    for prediction in sorted((results / "threshold_cc/predictions").glob("*.zarr")):
        raw = next((tmp_path / "resources/tiny").glob(f"*/test/{prediction.name}"))
        direct = tmp_path / "direct" / prediction.name
        assert main(["threshold-cc", "predict", "--raw", str(raw), "--out", str(direct)]) == 0
        got = zarr.open_array(str(prediction / contract.PRED_KEY), mode="r")[...]
        want = zarr.open_array(str(direct / contract.PRED_KEY), mode="r")[...]
        np.testing.assert_array_equal(got, want)
    split_file = tmp_path / "resources/tiny/sample_list_per_split.txt"
    argv = ["evaluate", "--gt", str(tmp_path / "resources/tiny"), "--pred"]
    argv += [str(results / "threshold_cc/predictions"), "--split-file", str(split_file)]
    assert main([*argv, "--split", "test", "--out", str(tmp_path / "direct_eval")]) == 0
    for name in ("summary.json", "per_sample.csv", "per_threshold.csv"):
        evaluation = results / "threshold_cc/evaluation"
        assert (evaluation / name).read_bytes() == (tmp_path / "direct_eval" / name).read_bytes()
    assert (results / "leaderboard/leaderboard.csv").stat().st_size > 0

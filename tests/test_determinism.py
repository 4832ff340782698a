"""Bitwise reproducibility across processes: synthetic data, B0 predictions, evaluation.

Training on CPU with a seed is covered by ``tests/test_unet.py`` (same process: straight,
resumed and repeated runs give identical weights) and ``tests/test_kill.py`` (separate
processes: an uninterrupted run and a killed-then-resumed run give identical weights).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fisbe_bench.cli import main

# xdist: one pair of runs compared by every test (one worker runs all of them)
pytestmark = pytest.mark.xdist_group("determinism")

FISBE = str(Path(sys.executable).parent / "fisbe-bench")
SYNTH = ["synth", "--n-completely", "2", "--n-partly", "1", "--shape", "64", "160", "160"]


def contents(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` by relative name, with its bytes."""
    files = sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same synthetic dataset written by two concurrent ``fisbe-bench synth`` processes."""
    root = tmp_path_factory.mktemp("synth")
    procs = [
        subprocess.Popen([FISBE, *SYNTH, "--seed", "7", "--out", str(root / name)])
        for name in ("a", "b")
    ]
    assert [proc.wait(timeout=600) for proc in procs] == [0, 0]
    return root / "a", root / "b"


def test_synthetic_dataset_is_bitwise_identical_across_processes(
    twice: tuple[Path, Path],
) -> None:
    first, second = (contents(path) for path in twice)
    raw_chunks = [name for name in first if "/volumes/raw/" in name]
    assert len(raw_chunks) > 10  # data chunks, not just metadata
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_predictions_and_evaluation_are_bitwise_identical(
    twice: tuple[Path, Path], tmp_path: Path
) -> None:
    data = twice[0]
    for run in ("a", "b"):
        for sample in sorted(data.glob("*/*/*.zarr")):
            argv = ["threshold-cc", "predict", "--raw", str(sample), "--out"]
            assert main([*argv, str(tmp_path / run / sample.name)]) == 0
    assert contents(tmp_path / "a") == contents(tmp_path / "b")

    split_file = data / "sample_list_per_split.txt"
    argv = ["evaluate", "--gt", str(data), "--pred", str(tmp_path / "a")]
    argv += ["--split-file", str(split_file), "--out"]
    assert main([*argv, str(tmp_path / "eval_1")]) == 0
    proc = subprocess.run(
        [FISBE, *argv, str(tmp_path / "eval_2"), "--jobs", "2"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    one, two = contents(tmp_path / "eval_1"), contents(tmp_path / "eval_2")
    assert {"summary.json", "per_sample.csv", "per_threshold.csv"} <= one.keys()
    assert one == two
    assert b'"partly"' in one["summary.json"]  # both labelling sets are exercised

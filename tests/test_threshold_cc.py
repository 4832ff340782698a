"""B0: threshold + 26-connected components + small-piece filter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from fisbe_bench import contract, sample_io
from fisbe_bench.cli import main
from fisbe_bench.methods.threshold_cc import Params as ThresholdParams
from fisbe_bench.methods.threshold_cc import predict, segment


def _raw_sample(path: Path) -> np.ndarray:
    raw = np.zeros((3, 24, 48, 48), np.uint16)
    raw[0, 2:22, 10:14, 10:14] = 1200  # tube A: 20*4*4 = 320 voxels ... made longer below
    raw[0, 2:22, 10:14, 14:30] = 1200  # A grows to 20*4*20 = 1600 voxels
    raw[1, 2:22, 30:34, 30:42] = 900  # tube B: 20*4*12 = 960 voxels, another channel
    raw[2, 5:8, 40:44, 2:6] = 1400  # speck: 48 voxels, removed by the filter
    sample_io.write_array(path, contract.RAW_KEY, raw, chunks=(1, 24, 48, 48))
    return raw


def test_segment_keeps_large_components_with_sequential_ids() -> None:
    brightest = np.zeros((10, 40, 40), np.uint16)
    brightest[:, 2:12, 2:12] = 1000  # 1000 voxels
    brightest[:, 20:29, 20:29] = 1000  # 810 voxels
    brightest[:, 32:35, 32:35] = 1000  # 90 voxels
    labels = segment(brightest, ThresholdParams(threshold=0.2))
    assert sorted(np.unique(labels)) == [0, 1, 2]
    assert {int((labels == i).sum()) for i in (1, 2)} == {1000, 810}


def test_diagonal_neighbours_are_26_connected() -> None:
    brightest = np.zeros((30, 30, 30), np.uint16)
    for i in range(30):
        brightest[i, i, :] = 1000  # a diagonal sheet: only 26-connectivity joins it
    labels = segment(brightest, ThresholdParams(threshold=0.2, min_size=100))
    assert labels.max() == 1


def test_min_size_is_exclusive_like_the_scorer() -> None:
    brightest = np.zeros((8, 10, 10), np.uint16)
    brightest[:, :, :] = 1000  # exactly 800 voxels: removed (the scorer drops <= 800)
    assert segment(brightest, ThresholdParams()).max() == 0


def test_predict_writes_channel_stack(tmp_path: Path) -> None:
    _raw_sample(tmp_path / "s.zarr")
    n = predict(tmp_path / "s.zarr", tmp_path / "p.zarr", ThresholdParams())
    stack = zarr.open_array(str(tmp_path / "p.zarr" / contract.PRED_KEY), mode="r")[...]
    assert n == 2 and stack.shape == (2, 24, 48, 48)
    assert set(np.unique(stack[0])) == {0, 1} and set(np.unique(stack[1])) == {0, 2}
    assert sorted(int((c > 0).sum()) for c in stack) == [960, 1600]


def test_cli_and_bad_input(tmp_path: Path, capsys) -> None:
    _raw_sample(tmp_path / "s.zarr")
    args = [
        "threshold-cc",
        "predict",
        "--raw",
        str(tmp_path / "s.zarr"),
        "--out",
        str(tmp_path / "p"),
    ]
    assert main(args) == 0
    assert (
        main(["threshold-cc", "predict", "--raw", str(tmp_path / "nope.zarr"), "--out", "x"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.zarr" in err[0]

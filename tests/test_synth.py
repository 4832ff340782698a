"""The synthetic FISBe-like generator: layout, content, determinism, split file and CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import OFFICIAL_SPLIT
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from fisbe_bench import synth
from fisbe_bench.cli import main
from fisbe_bench.contract import GT_KEY, RAW_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.splits import parse_split_file

SHAPE = (32, 64, 64)
N_COMPLETELY, N_PARTLY, SEED = 3, 3, 7
FIXTURE_SPLITS = OFFICIAL_SPLIT


def read_sample(path: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    raw = zarr.open_array(str(path / RAW_KEY), mode="r")
    gt = zarr.open_array(str(path / GT_KEY), mode="r")
    return raw[...], gt[...], list(gt.attrs["dim_neurons"])


def digest(path: Path) -> str:
    """Hash of a sample's decoded arrays and GT attributes."""
    raw, gt, dim = read_sample(path)
    hasher = hashlib.sha256()
    for array in (raw, gt):
        hasher.update(str((array.shape, array.dtype.str)).encode())
        hasher.update(array.tobytes())
    hasher.update(json.dumps(dim).encode())
    return hasher.hexdigest()


def store_bytes(path: Path) -> dict[str, bytes]:
    """Every file of a zarr store, by relative path."""
    return {
        str(f.relative_to(path)): f.read_bytes() for f in sorted(path.rglob("*")) if f.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    synth.write_dataset(out, N_COMPLETELY, N_PARTLY, SHAPE, SEED)
    return out


@pytest.fixture(scope="module")
def plan() -> list[synth.SampleSpec]:
    return synth.plan_dataset(N_COMPLETELY, N_PARTLY)


def test_layout_dtypes_and_chunks(dataset: Path, plan: list[synth.SampleSpec]) -> None:
    assert sorted(p.name for p in dataset.iterdir()) == [
        "completely",
        "partly",
        "sample_list_per_split.txt",
    ]
    written = sorted(str(p.relative_to(dataset)) for p in dataset.glob("*/*/*.zarr"))
    assert written == sorted(f"{s.set}/{s.split}/{s.name}.zarr" for s in plan)
    assert {s.name for s in plan} == {f"synth_c{i:03d}" for i in range(3)} | {
        f"synth_p{i:03d}" for i in range(3)
    }
    for spec in plan:
        path = synth.sample_path(dataset, spec)
        assert (path / ".zgroup").is_file() and (path / "volumes/raw/.zarray").is_file()
        raw = zarr.open_array(str(path / RAW_KEY), mode="r")
        gt = zarr.open_array(str(path / GT_KEY), mode="r")
        assert raw.shape == (3, *SHAPE) and raw.dtype == np.uint16
        assert gt.ndim == 4 and gt.shape[1:] == SHAPE and gt.dtype == np.uint8
        assert gt.shape[0] >= 1
        assert raw.chunks[0] == 1 and gt.chunks[0] == 1
        meta = json.loads((path / GT_KEY / ".zarray").read_text())
        assert meta["zarr_format"] == 2
        assert meta["compressor"]["id"] == "blosc" and meta["compressor"]["cname"] == "zstd"
        dim = gt.attrs["dim_neurons"]
        assert isinstance(dim, list) and all(
            isinstance(i, int) and 1 <= i <= gt.shape[0] for i in dim
        )
    assert not list(dataset.rglob(".*tmp-*")), "temporary folders left behind"


def test_value_ranges_and_channel_ids(dataset: Path, plan: list[synth.SampleSpec]) -> None:
    for spec in plan:
        raw, gt, _ = read_sample(synth.sample_path(dataset, spec))
        assert raw.max() <= 4095
        assert raw.max() > 1500, "bright neurons should reach the baselines' clip level"
        assert np.median(raw) < 400, "background should stay dark"
        for i, channel in enumerate(gt):
            assert set(np.unique(channel).tolist()) == {0, i + 1}, f"{spec.name} channel {i}"


def test_gt_is_thin_and_overlaps(dataset: Path, plan: list[synth.SampleSpec]) -> None:
    overlaps = 0
    for spec in plan:
        _, gt, _ = read_sample(synth.sample_path(dataset, spec))
        fg = gt > 0
        overlaps += int((fg.sum(axis=0) > 1).sum())
        radii = np.concatenate([ndimage.distance_transform_edt(m)[m] for m in fg])
        assert np.median(radii) <= 3.0
        assert fg.any(axis=0).mean() < 0.1, "neurites should be sparse"
        for mask in fg:
            extent = np.ptp(np.argwhere(mask), axis=0)
            assert extent.max() >= 0.3 * max(SHAPE), "neurons should span much of the volume"
    assert overlaps > 0, "crossing neurons should share voxels"


def unexplained_signal(raw: np.ndarray, gt: np.ndarray) -> int:
    """Bright raw voxels farther than 4 voxels from every GT neuron."""
    signal = ndimage.uniform_filter(raw.max(axis=0).astype(np.float32), 3)
    near_gt = ndimage.binary_dilation((gt > 0).any(axis=0), iterations=4)
    return int(((signal > np.percentile(signal, 50) + 250) & ~near_gt).sum())


def test_partly_samples_hide_neurons(dataset: Path, plan: list[synth.SampleSpec]) -> None:
    counts: dict[str, list[int]] = {"completely": [], "partly": []}
    for spec in plan:
        raw, gt, _ = read_sample(synth.sample_path(dataset, spec))
        counts[spec.set].append(unexplained_signal(raw, gt))
    assert sum(counts["partly"]) > 5 * max(sum(counts["completely"]), 100), counts


def test_dim_neurons_are_faint() -> None:
    spec = synth.SampleSpec("synth_c000", "completely", "train", 0)
    found = False
    for seed in range(6):
        raw, gt, dim = synth.generate_sample(spec, SHAPE, seed)
        if not dim or len(dim) == len(gt):
            continue
        found = True
        brightness = [raw.max(axis=0)[gt[i] > 0].mean() for i in range(len(gt))]
        faint = max(brightness[i - 1] for i in dim)
        bright = [b for i, b in enumerate(brightness, start=1) if i not in dim]
        assert faint < np.median(bright)
    assert found


def test_split_file_format(dataset: Path, plan: list[synth.SampleSpec]) -> None:
    text = (dataset / "sample_list_per_split.txt").read_text()
    assert text == (
        "(1) samples for FlyLight completely:\n\n"
        "train:\nsynth_c000\n\nval:\nsynth_c001\n\ntest:\nsynth_c002\n\n"
        "(2) samples for FlyLight partly:\n\n"
        "train:\nsynth_p000\n\nval:\nsynth_p001\n\ntest:\nsynth_p002\n\n"
    )
    entries = parse_split_file(dataset / "sample_list_per_split.txt")
    assert [(e.sample, e.set, e.split) for e in entries] == [(s.name, s.set, s.split) for s in plan]


def skeleton(text: str) -> list[str]:
    """The split file without sample names: headers and blank lines, names collapsed."""
    lines: list[str] = []
    for line in text.splitlines():
        kind = line if not line or line.endswith(":") else "NAME"
        if not (kind == "NAME" and lines and lines[-1] == "NAME"):
            lines.append(kind)
    return lines


def test_split_file_mimics_official_layout() -> None:
    official = FIXTURE_SPLITS.read_text()
    ours = synth.split_file_text(synth.plan_dataset(30, 71))
    assert skeleton(ours) == skeleton(official)
    assert ours.endswith("\n\n") == official.endswith("\n\n")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40))
def test_split_file_round_trips(
    tmp_path_factory: pytest.TempPathFactory, n_c: int, n_p: int
) -> None:
    assume(n_c + n_p > 0)
    plan = synth.plan_dataset(n_c, n_p)
    path = tmp_path_factory.mktemp("splits") / "s.txt"
    path.write_text(synth.split_file_text(plan))
    parsed = [(e.sample, e.set, e.split) for e in parse_split_file(path)]
    assert parsed == [(s.name, s.set, s.split) for s in plan]
    for set_name, n in (("completely", n_c), ("partly", n_p)):
        splits = [s.split for s in plan if s.set == set_name]
        assert len(splits) == n
        if n >= 3:
            assert splits.count("val") >= 1 and splits.count("test") >= 1


def test_same_seed_same_bytes_and_single_sample(
    dataset: Path, plan: list[synth.SampleSpec], tmp_path: Path
) -> None:
    again = tmp_path / "again"
    synth.write_dataset(again, N_COMPLETELY, N_PARTLY, SHAPE, SEED, jobs=2)
    for spec in plan:
        assert digest(synth.sample_path(again, spec)) == digest(synth.sample_path(dataset, spec))
    single = tmp_path / "single"
    spec = plan[-1]
    synth.write_dataset(single, N_COMPLETELY, N_PARTLY, SHAPE, SEED, only=spec.name)
    assert [p.name for p in single.glob("*/*/*.zarr")] == [f"{spec.name}.zarr"]
    assert not (single / "sample_list_per_split.txt").exists()
    assert store_bytes(synth.sample_path(single, spec)) == store_bytes(
        synth.sample_path(dataset, spec)
    )


def test_different_seeds_and_samples_differ(dataset: Path, plan: list[synth.SampleSpec]) -> None:
    digests = {digest(synth.sample_path(dataset, spec)) for spec in plan}
    assert len(digests) == len(plan)
    a = synth.generate_sample(plan[0], SHAPE, SEED)
    b = synth.generate_sample(plan[0], SHAPE, SEED + 1)
    assert not np.array_equal(a[0], b[0])


@pytest.mark.parametrize("shape", [(16, 16, 16), (48, 20, 33)])
def test_odd_shapes(shape: tuple[int, int, int]) -> None:
    spec = synth.SampleSpec("synth_p004", "partly", "test", 4)
    raw, gt, dim = synth.generate_sample(spec, shape, 0)
    assert raw.shape == (3, *shape) and gt.shape[1:] == shape and len(gt) >= 1
    assert all((gt[i] > 0).any() for i in range(len(gt)))
    again = synth.generate_sample(spec, shape, 0)
    assert np.array_equal(raw, again[0]) and np.array_equal(gt, again[1]) and dim == again[2]


def test_failed_rewrite_keeps_old_sample(
    dataset: Path, plan: list[synth.SampleSpec], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ds"
    spec = plan[0]
    synth.write_sample(out, spec, SHAPE, SEED)
    before = store_bytes(synth.sample_path(out, spec))
    calls = []

    def failing_write(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_write(*args, **kwargs)

    real_write = synth.write_array
    monkeypatch.setattr(synth, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        synth.write_sample(out, spec, SHAPE, SEED + 1)
    assert store_bytes(synth.sample_path(out, spec)) == before
    assert [p.name for p in (out / spec.set / spec.split).iterdir()] == [f"{spec.name}.zarr"]


def test_rerun_removes_stale_samples_only(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    synth.write_dataset(out, 5, 1, (16, 16, 16), SEED)
    foreign = out / "completely" / "train" / "mine.zarr"
    foreign.mkdir()
    synth.write_dataset(out, 3, 0, (16, 16, 16), SEED)
    written = sorted(str(p.relative_to(out)) for p in out.glob("*/*/synth_*.zarr"))
    expected = [f"{s.set}/{s.split}/{s.name}.zarr" for s in synth.plan_dataset(3, 0)]
    assert written == sorted(expected)
    assert foreign.is_dir()


def test_cli_writes_dataset(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = ["synth", "--out", str(out), "--n-completely", "1", "--n-partly", "2"]
    assert main([*args, "--shape", "16", "24", "24", "--seed", "3"]) == 0
    assert (out / "sample_list_per_split.txt").is_file()
    assert sorted(p.name for p in out.glob("*/train/*.zarr")) == [
        "synth_c000.zarr",
        "synth_p000.zarr",
        "synth_p001.zarr",
    ]
    assert main([*args, "--shape", "16", "24", "24", "--sample", "synth_p001"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n-completely", "-1"], "sample counts must be >= 0"),
        (["--n-completely", "0", "--n-partly", "0"], "nothing to generate"),
        (["--shape", "4", "32", "32"], "shape must be"),
        (["--seed", "-2"], "seed must be"),
        (["--jobs", "0"], "jobs must be"),
        (["--sample", "synth_c999"], "unknown sample 'synth_c999'"),
    ],
)
def test_cli_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "bad"
    assert main(["synth", "--out", str(out), "--shape", "16", "16", "16", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and err.startswith("fisbe-bench synth: error:")
    assert not out.exists() or not any(out.rglob("*.zarr"))


def test_cli_unparsable_argument(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["synth", "--out", str(tmp_path), "--shape", "a", "b", "c"])
    assert exit_info.value.code == 2


def test_library_rejects_bad_shape() -> None:
    with pytest.raises(FisbeError, match="shape"):
        synth.generate_sample(synth.SampleSpec("synth_c000", "completely", "train", 0), (8, 8), 0)


def test_imports_only_data_env_packages() -> None:
    """The data conda env has numpy, scipy, zarr, numcodecs and tqdm, nothing heavier."""
    code = (
        "import sys, fisbe_bench.synth; "
        "print([m for m in ('skimage', 'edt', 'cc3d', 'torch', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fisbe_like_geometry_and_colour_drift() -> None:
    """Thin (1-voxel) neurites, signal gaps (GT in several 26-connected pieces), 5-10
    neurons, and colour that drifts along a neuron (see also tests/test_dataset_stats.py)."""
    from fisbe_bench.dataset_stats import neuron_stats

    spec = synth.SampleSpec("synth_c000", "completely", "train", 0)
    raw, gt, _ = synth.generate_sample(spec, (72, 176, 176), 0)
    assert 5 <= len(gt) <= 10
    stats = [neuron_stats(channel > 0) for channel in gt]
    assert any(s["median_diameter"] == 1.0 for s in stats)
    assert max(s["pieces"] for s in stats) >= 2
    assert all(s["voxels"] > 800 for s in stats), "every neuron survives the 800-voxel rule"
    bright = max(range(len(gt)), key=lambda i: raw.max(axis=0)[gt[i] > 0].mean())
    colour = raw[:, gt[bright] > 0].astype(float)
    chroma = colour / colour.sum(axis=0, keepdims=True).clip(1.0)
    assert chroma.std(axis=1).max() > 0.05, "colour should vary along a neuron"

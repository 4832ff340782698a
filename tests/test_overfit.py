"""``fisbe-bench overfit``: a learned method memorises one volume; broken targets cannot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import zarr

from fisbe_bench.cli import main
from fisbe_bench.contract import GT_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.overfit import PRESETS, fitted_preset, overfit
from fisbe_bench.synth import write_dataset

SHAPE = (32, 64, 64)
# budgets and thresholds of the small check (the built-in budgets reach S >= 0.9 at
# 64x128x128: benchmarks/RESULTS-overfit.md)
CHECKS = {"unet_affinity": (400, 0.6), "patchperpix": (150, 0.4)}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("overfit")
    write_dataset(root, 2, 0, SHAPE, 3)
    return root / "completely" / "train"


def test_the_preset_is_fitted_to_the_volume() -> None:
    fitted = fitted_preset({"crop": [48, 48, 48], "steps": 5}, (30, 64, 100), 4)
    assert fitted == {"crop": [28, 48, 48], "tile": [32, 64, 100], "overlap": [0, 0, 0], "steps": 5}
    with pytest.raises(FisbeError, match="smaller than 4 voxels"):
        fitted_preset({"crop": [48, 48, 48]}, (3, 64, 64), 4)
    assert PRESETS["unet_affinity"]["select"] == PRESETS["patchperpix"]["select"] == "last"


def test_a_volume_without_ground_truth_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "empty.zarr"
    zarr.open_group(str(empty), mode="w")
    code = main(
        [
            "overfit",
            "--method",
            "unet_affinity",
            "--sample",
            str(empty),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "not a FISBe sample" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(CHECKS))
def test_overfit_memorises_one_volume(
    samples: Path, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture
) -> None:
    """About 2 min on one core per kind: a few hundred training steps, tuning and scoring."""
    steps, threshold = CHECKS[kind]
    sample = samples / "synth_c000.zarr"
    code = main(["overfit", "--method", kind, "--sample", str(sample), "--out", str(tmp_path),
                 "--steps", str(steps), "--no-progress"])  # fmt: skip
    assert code == 0
    reported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["S"]["completely"]
    assert reported >= threshold
    assert (tmp_path / "predictions" / sample.name).is_dir() and (
        tmp_path / "train" / "best.pt"
    ).is_file()
    summary = json.loads((tmp_path / "evaluation" / "summary.json").read_text())
    assert summary["completely"]["S"] == pytest.approx(reported, abs=1e-4)


@pytest.mark.slow
def test_overfit_on_shuffled_targets_fails_the_check(samples: Path, tmp_path: Path) -> None:
    """About 2 min on one core: the unet_affinity check of the test above, trained on the raw
    of one volume with the ground truth of another, scored against the volume's own."""
    from fisbe_bench.metrics.directories import evaluate_directories

    steps, threshold = CHECKS["unet_affinity"]
    shuffled = tmp_path / "data" / "synth_c000.zarr"
    shutil.copytree(samples / "synth_c000.zarr", shuffled)
    shutil.rmtree(shuffled / GT_KEY)
    shutil.copytree(samples / "synth_c001.zarr" / GT_KEY, shuffled / GT_KEY)
    overfit("unet_affinity", shuffled, tmp_path / "run", steps=steps, progress=False)
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "synth_c000.zarr").symlink_to(samples / "synth_c000.zarr", target_is_directory=True)
    scored = evaluate_directories(truth, tmp_path / "run" / "predictions", tmp_path / "scored")
    assert scored["completely"]["S"] < threshold

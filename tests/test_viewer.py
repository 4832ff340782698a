"""``fisbe-bench view`` builds the documented napari layers and saves a 3-D screenshot.

napari runs in a subprocess (no Qt state leaks into pytest) on Qt's xcb platform under Xvfb
where no display is set: Qt's ``offscreen`` platform gives napari's canvas no OpenGL context
(adding an image fails) and, under Xvfb, draws it blank. CI installs Xvfb (``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from fisbe_bench.cli import main
from fisbe_bench.contract import GT_KEY, RAW_KEY
from fisbe_bench.sample_io import write_array, write_instances

SHAPE = (8, 24, 32)
ENV = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
HEADLESS = [] if os.environ.get("DISPLAY") else ["xvfb-run", "--auto-servernum"]
pytestmark = [
    pytest.mark.viewer,
    pytest.mark.skipif(
        bool(HEADLESS) and shutil.which("xvfb-run") is None, reason="no display and no xvfb-run"
    ),
]
LAYERS = """
import json, sys
from pathlib import Path
from fisbe_bench.viewer import build_viewer

viewer = build_viewer(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]], show=False)
print(json.dumps({
    "ndisplay": viewer.dims.ndisplay,
    "layers": [
        {
            "name": layer.name,
            "type": type(layer).__name__,
            "blending": str(layer.blending),
            "colormap": getattr(getattr(layer, "colormap", None), "name", None),
            "contrast": list(getattr(layer, "contrast_limits", [])),
            "max": int(layer.data.max()),
        }
        for layer in viewer.layers
    ],
}))
viewer.close()
"""


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A tiny sample with two overlapping neurons, a zarr and a TIFF prediction folder."""
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.zarr"
    write_array(path, RAW_KEY, rng.integers(0, 3000, (3, *SHAPE), dtype=np.uint16), (3, *SHAPE))
    labels = np.zeros(SHAPE, np.uint8)
    labels[2:6, 4:12, 4:20] = 1
    labels[2:6, 14:20, 10:28] = 2
    write_instances(path, labels, GT_KEY, extra_voxels={2: np.array([[3, 5, 5], [3, 6, 6]])})
    zarr_preds = tmp_path / "B0" / "predictions"
    write_instances(zarr_preds / "tiny.zarr", labels)
    tiff_preds = tmp_path / "other"
    tiff_preds.mkdir()
    tifffile.imwrite(tiff_preds / "tiny.tif", labels[np.newaxis])
    return path, zarr_preds, tiff_preds


def test_layers_blending_colormaps_and_3d(sample: tuple[Path, Path, Path]) -> None:
    path, zarr_preds, tiff_preds = sample
    result = subprocess.run(
        [*HEADLESS, sys.executable, "-c", LAYERS, path, zarr_preds, tiff_preds],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.splitlines()[-1])
    assert shown["ndisplay"] == 3
    layers = {layer.pop("name"): layer for layer in shown["layers"]}
    assert list(layers) == ["raw red", "raw green", "raw blue", "gt", "gt overlap", "B0", "other"]
    for colour in ("red", "green", "blue"):
        raw = layers[f"raw {colour}"]
        assert (raw["type"], raw["blending"], raw["colormap"]) == ("Image", "additive", colour)
        assert raw["contrast"] == [0.0, 1.0] and raw["max"] == 1  # clip(0, 1500) / 1500
    assert all(layers[n]["type"] == "Labels" for n in ("gt", "gt overlap", "B0", "other"))
    assert layers["gt"]["max"] == 2 and layers["gt overlap"]["max"] == 2
    assert layers["B0"]["max"] == layers["other"]["max"] == 2


def test_screenshot_is_a_png(sample: tuple[Path, Path, Path], tmp_path: Path) -> None:
    path, zarr_preds, _ = sample
    shot = tmp_path / "view.png"
    result = subprocess.run(
        [
            *(*HEADLESS, sys.executable, "-m", "fisbe_bench.cli", "view", path),
            *("--pred", zarr_preds, "--screenshot", shot),
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_missing_prediction_is_one_line(
    sample: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = sample
    (tmp_path / "empty").mkdir()
    assert main(["view", str(path), "--pred", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(tmp_path / "empty" / "tiny.zarr") in err


def test_missing_napari_names_the_extra(
    sample: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "napari", None)  # import napari -> ImportError
    assert main(["view", str(sample[0])]) == 2
    assert "pip install 'fisbe-bench[viewer]'" in capsys.readouterr().err

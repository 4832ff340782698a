"""``pip install .`` into a fresh virtual environment gives a working ``fisbe-bench``.

The venv does not see the test environment's packages, so pip must resolve the
pyproject dependencies itself (from PyPI, or local wheels where pip is configured so).
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

COPY_GT_TO_PRED = """
import sys
from pathlib import Path

import zarr

from fisbe_bench import sample_io

for sample in Path(sys.argv[1]).rglob("*.zarr"):
    gt = zarr.open_group(str(sample), mode="r")["volumes/gt_instances"][...]
    sample_io.write_instances(Path(sys.argv[2]) / sample.name, gt.max(axis=0))
"""


def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{argv}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_pip_install_gives_a_working_cli(tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=True, system_site_packages=False)
    bin_dir = tmp_path / "venv" / "bin"
    python = bin_dir / "python"
    run(python, "-m", "pip", "install", "--quiet", str(REPO))
    installed = run(python, "-m", "pip", "list", "--format=freeze").stdout.lower()
    assert "torch==" not in installed, "the base dependencies pulled in torch"

    cli = bin_dir / "fisbe-bench"
    assert "evaluate" in run(cli, "--help").stdout
    data, pred, out = tmp_path / "synthetic", tmp_path / "pred", tmp_path / "evaluation"
    tiny = ("--n-completely", "1", "--n-partly", "1", "--shape", "24", "64", "64")
    run(cli, "synth", "--out", data, *tiny)
    pred.mkdir()
    run(python, "-c", COPY_GT_TO_PRED, data, pred)
    run(cli, "evaluate", "--gt", data, "--pred", pred, "--out", out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completely"]["num_images"] == 2
    assert sys.prefix not in run(python, "-c", "import numpy; print(numpy.__file__)").stdout

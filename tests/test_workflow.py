"""The workflow itself: a real tiny run, the real-FISBe dry run, config validation, report."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
TINY = {
    "run": ["tiny"],
    "datasets": {
        "tiny": {
            "source": "synthetic",
            "n_completely": 3,
            "n_partly": 3,
            "shape": [40, 96, 96],
            "seed": 3,
        }
    },
    "methods": {"threshold_cc": {"kind": "threshold_cc"}},
    "leaderboard": {"bootstrap": 200, "seed": 0},
}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow in ``workdir``."""
    proc = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        pytest.fail(f"snakemake {' '.join(args)} failed:\n{tail}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run."""
    block = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def read_table(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    config = write_config(workdir, TINY)
    snakemake(workdir, "--configfile", str(config), "--cores", "2")
    return workdir


def test_tiny_workflow_leaves_the_contract_paths(tiny_run: Path) -> None:
    board = tiny_run / "results/tiny/leaderboard"
    for ext in ("csv", "md", "html"):
        assert (board / f"leaderboard.{ext}").stat().st_size > 0
    rows = read_table(board / "leaderboard.csv")
    assert {"method", "set", "S", "avF1", "C", "clDice_TP", "tp", "FS", "FM"} <= set(rows[0])
    assert {r["set"] for r in rows} == {"completely", "partly", "combined"}
    assert {r["method"] for r in rows} == {"threshold_cc"}
    evaluation = tiny_run / "results/tiny/threshold_cc/evaluation"
    summary = json.loads((evaluation / "summary.json").read_text())
    for row in rows:
        assert float(row["S"]) == pytest.approx(summary[row["set"]]["S"], abs=1e-3)


def test_splits_table_covers_every_sample(tiny_run: Path) -> None:
    rows = read_table(tiny_run / "results/tiny/splits.tsv", "\t")
    assert len(rows) == 6
    assert {r["set"] for r in rows} == {"completely", "partly"}
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert all(Path(tiny_run, r["path"]).is_dir() for r in rows)


def test_rerun_has_nothing_to_do(tiny_run: Path) -> None:
    proc = snakemake(tiny_run, "--configfile", str(tiny_run / "config.yaml"), "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_report_zip_holds_the_leaderboard(tiny_run: Path) -> None:
    report = tiny_run / "results/tiny/report.zip"
    snakemake(tiny_run, "--configfile", str(tiny_run / "config.yaml"), "--report", str(report))
    names = zipfile.ZipFile(report).namelist()
    assert any(name.endswith("leaderboard.csv") for name in names)
    assert any(name.endswith("report.html") for name in names)


def test_real_fisbe_dry_run_builds_the_dag_without_network(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, "--configfile", str(REPO / "config/fisbe.yaml"), "-n")
    counts = job_counts(proc.stdout)
    assert counts["threshold_cc"] == 7 + 16  # official test split: completely + partly
    assert counts["extract_fisbe"] == 2 and counts["splits"] == 1
    assert counts["zenodo_record"] == 1 and counts["download_fisbe_completely"] == 1
    sheet = read_table(REPO / "config/fisbe_samples.tsv", "\t")
    assert len(sheet) == 101


def test_schema_error_names_the_key(tmp_path: Path) -> None:
    bad = {**TINY, "datasets": {"tiny": {**TINY["datasets"]["tiny"], "n_partly": -1}}}
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, bad)), "-n", check=False)
    assert proc.returncode != 0
    assert "n_partly" in proc.stdout + proc.stderr


def test_unknown_dataset_in_run_is_refused(tmp_path: Path) -> None:
    bad = {**TINY, "run": ["nope"]}
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, bad)), "-n", check=False)
    assert proc.returncode != 0
    assert "'nope' is not defined under datasets" in proc.stdout + proc.stderr

"""The workflow itself: a real tiny run, the real-FISBe dry run, config validation, report."""

from __future__ import annotations

import importlib
import json
import zipfile
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from conftest import (
    CORES,
    REPO,
    TINY,
    TINY_LEARNED,
    job_counts,
    read_table,
    snakemake,
    write_config,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny")
    config = write_config(workdir, TINY)
    snakemake(workdir, "--configfile", str(config), *CORES)
    return workdir


@pytest.mark.slow  # runs the workflow
@pytest.mark.xdist_group("tiny_run")  # the module's one tiny run
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


@pytest.mark.slow  # runs the workflow
@pytest.mark.xdist_group("tiny_run")  # the module's one tiny run
def test_splits_table_covers_every_sample(tiny_run: Path) -> None:
    rows = read_table(tiny_run / "results/tiny/splits.tsv", "\t")
    assert len(rows) == 6
    assert {r["set"] for r in rows} == {"completely", "partly"}
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert all(Path(tiny_run, r["path"]).is_dir() for r in rows)


@pytest.mark.slow  # runs the workflow
@pytest.mark.xdist_group("tiny_run")  # the module's one tiny run
def test_rerun_has_nothing_to_do(tiny_run: Path) -> None:
    proc = snakemake(tiny_run, "--configfile", str(tiny_run / "config.yaml"), "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow  # runs the workflow
@pytest.mark.xdist_group("tiny_run")  # the module's one tiny run
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


@pytest.mark.parametrize(
    ("methods", "leaderboard", "named"),
    [
        (
            {"m": {"kind": "threshold_cc", "treshold": 0.3}},
            {},
            ["'treshold' was unexpected", "kind threshold_cc"],
        ),
        (
            {"m": {"kind": "colour_clustering", "otsu": True}},
            {},
            ["'otsu' was unexpected", "kind colour_clustering"],
        ),
        ({"m": {"kind": "external"}}, {}, ["'path' is a required property"]),
        (
            {
                "m": {
                    "kind": "external",
                    "path": "resources/external/m",
                    "url": "https://x.org/p.zip",
                }
            },
            {},
            ["'sha256' is a required property"],
        ),
        (
            {"m": {"kind": "external", "path": "p", "md5": "0" * 32}},
            {},
            ["'url' is a dependency of 'md5'"],
        ),
        ({"m": {"kind": "threshold_cc", "training": "none"}}, {}, ["'training' was unexpected"]),
        (TINY["methods"], {"bootstrap": 0}, ["bootstrap", "less than the minimum of 1"]),
    ],
)
def test_strict_schema_names_the_key(
    tmp_path: Path, methods: dict, leaderboard: dict, named: list[str]
) -> None:
    bad = {**TINY, "methods": methods, "leaderboard": {**TINY["leaderboard"], **leaderboard}}
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, bad)), "-n", check=False)
    assert proc.returncode != 0
    assert all(text in proc.stdout + proc.stderr for text in named), proc.stderr[-2000:]


def test_synthetic_shape_below_16_voxels_is_refused(tmp_path: Path) -> None:
    bad = {**TINY, "datasets": {"tiny": {**TINY["datasets"]["tiny"], "shape": [8, 96, 96]}}}
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, bad)), "-n", check=False)
    assert proc.returncode != 0
    assert "shape" in proc.stdout + proc.stderr


def test_schema_keys_of_each_kind_are_its_params_and_workflow_keys() -> None:
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    blocks = schema["properties"]["methods"]["additionalProperties"]["allOf"]
    keys = {b["if"]["properties"]["kind"]["const"]: set(b["then"]["properties"]) for b in blocks}
    for kind in ("threshold_cc", "colour_clustering", "unet_affinity", "patchperpix"):
        module = importlib.import_module(f"fisbe_bench.methods.{kind}")
        assert keys.pop(kind) == {f.name for f in fields(module.Params)} | module.WORKFLOW_KEYS
    assert keys == {"external": {"kind", "path", "url", "sha256", "md5", "training", "pred_key"}}


SWEEP = {
    **TINY_LEARNED,
    "methods": {
        **TINY["methods"],
        "unet_affinity": {
            "kind": "unet_affinity",
            "preset": "config/unet/tiny.yaml",
            "grid": "config/unet_grid_tiny.yaml",
            "label_fractions": [0.5, 1.0],
        },
    },
}


def test_label_efficiency_dry_run_trains_once_more_per_fraction_below_1(tmp_path: Path) -> None:
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, SWEEP)), "-n")
    counts = job_counts(proc.stdout)
    assert counts["train_unet_affinity"] == 1  # fraction 1 is the normal run
    assert counts["train_unet_affinity_fraction"] == 1  # fraction 0.5
    assert counts["label_subset"] == counts["evaluate_fraction"] == 1
    # the tiny test split, and the val split its decoding is tuned on
    assert counts["predict_unet_affinity_fraction"] == 4
    assert counts["tune_unet_affinity_fraction"] == counts["tune_unet_affinity"] == 1
    assert counts["unet_affinity_fraction"] == 2  # decoded: the test split only
    assert counts["label_efficiency"] == 1 and counts["evaluate"] == 2


def test_label_fractions_need_a_learned_method(tmp_path: Path) -> None:
    bad = {**TINY, "methods": {"threshold_cc": {"kind": "threshold_cc", "label_fractions": [0.5]}}}
    proc = snakemake(tmp_path, "--configfile", str(write_config(tmp_path, bad)), "-n", check=False)
    assert proc.returncode != 0
    assert "'label_fractions' was unexpected" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_label_efficiency_run_writes_the_table_and_figure(tmp_path: Path) -> None:
    snakemake(tmp_path, "--configfile", str(write_config(tmp_path, SWEEP)), *CORES)
    folder = tmp_path / "results/tiny/unet_affinity/label_efficiency"
    rows = read_table(folder / "label_efficiency.csv")
    assert {(r["fraction"], r["set"]) for r in rows} == {
        (f, s) for f in ("0.5", "1.0") for s in ("completely", "partly", "combined")
    }
    summary = json.loads(
        (tmp_path / "results/tiny/unet_affinity/evaluation/summary.json").read_text()
    )
    full = next(r for r in rows if r["fraction"] == "1.0" and r["set"] == "combined")
    assert float(full["S"]) == pytest.approx(summary["combined"]["S"])
    assert int(full["n_train_images"]) == 1  # tiny.yaml trains on completely only: 1 image
    assert (folder / "fraction_0.5/evaluation/summary.json").is_file()
    assert (folder / "label_efficiency.png").stat().st_size > 0

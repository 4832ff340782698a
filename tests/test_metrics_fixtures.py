"""FISBe metrics against the official evaluator's numbers on two real FISBe images.

Fixtures: tests/data/fisbe-real (GT zarr, colour-clustering predictions in HDF5,
the official per-sample TOML and summary CSV). Expected values: tests/data/README.md.
"""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from conftest import DUAN_KEY, FISBE_REAL, OFFICIAL_SPLIT, R14, VT

from fisbe_bench.metrics import SampleResult, aggregate, combine, evaluate_sample
from fisbe_bench.metrics.aggregate import F1_KEYS
from fisbe_bench.metrics.directories import read_split_file

TOL = 1e-6

# xdist: the real volumes scored once (one worker runs all of them)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("metrics_fixtures")]


@pytest.fixture(scope="module")
def results() -> dict[str, SampleResult]:
    """Both real samples scored through the array API (zarr GT, h5py prediction)."""
    out = {}
    for name, partly in ((R14, False), (VT, True)):
        gt = zarr.open_array(str(FISBE_REAL / "gt" / f"{name}.zarr" / "volumes" / "gt_instances"))
        with h5py.File(FISBE_REAL / "pred" / f"{name}.hdf", "r") as handle:
            out[name] = evaluate_sample(gt, handle[DUAN_KEY], partly=partly, name=name)
    return out


@pytest.fixture(scope="module")
def official_rows() -> list[dict[str, str]]:
    with (FISBE_REAL / "expected" / "summary_brainbow_combined.csv").open() as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def test_r14a02_completely(results: dict[str, SampleResult]) -> None:
    r = results[R14]
    assert (r.n_gt, r.n_pred) == (7, 9)
    for key in ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"):
        assert (r.TP[key], r.FP[key], r.FN[key]) == (3, 6, 4)
    for key in ("0.8", "0.9"):
        assert (r.TP[key], r.FP[key], r.FN[key]) == (2, 7, 5)
    assert r.avF1 == pytest.approx(0.3472222, abs=TOL)
    assert pytest.approx(0.3841240, abs=TOL) == r.C
    assert pytest.approx(0.3656731, abs=TOL) == r.S
    assert (r.FS, r.FM) == (0, 0)
    expected_cov = [0.0881988, 0.9552964, 0, 0.6475989, 0, 0.9977741, 0]
    assert r.coverage == pytest.approx(expected_cov, abs=TOL)
    assert r.tp_cldice == pytest.approx([0.9902095, 0.9613602, 0.7825463], abs=TOL)


def test_vt011145_partly(results: dict[str, SampleResult]) -> None:
    r = results[VT]
    assert (r.n_gt, r.n_pred) == (8, 4)
    assert r.avF1 == pytest.approx(0.2407407, abs=TOL)
    assert pytest.approx(0.2028291, abs=TOL) == r.C
    assert pytest.approx(0.2217849, abs=TOL) == r.S
    assert (r.FP["0.5"], r.FN["0.5"]) == (2, 6)
    assert r.clDice_TP == pytest.approx(0.7117212, abs=TOL)
    assert (r.FM, r.FS) == (1, 1)
    expected_cov = [0, 0.0069532, 0.9922959, 0.6233837, 0, 0, 0, 0]
    assert r.coverage == pytest.approx(expected_cov, abs=TOL)


@pytest.mark.parametrize("name", [R14, VT])
def test_every_official_summary_column(
    name: str, results: dict[str, SampleResult], official_rows: list[dict[str, str]]
) -> None:
    row = next(r for r in official_rows if r["sample"] == name)
    ours = results[name].official_tables()
    for column, value in row.items():
        if column == "sample":
            continue
        table, key = column.split(" ", 1)
        source = ours["general"] if table == "general" else ours["confusion_matrix"]
        if table.startswith("th_"):
            source = source[table]
        if key not in source:  # dim/overlap diagnostics and avg_tp_skel_coverage
            continue
        assert float(source[key]) == pytest.approx(float(value), abs=TOL), column


def test_official_toml_keys_and_values(results: dict[str, SampleResult]) -> None:
    path = FISBE_REAL / "expected" / f"{R14}_volumes_gmm_label_cleaned_cldice_greedy_rm800.toml"
    expected = tomllib.loads(path.read_text())
    ours = results[R14].official_tables()

    def compare(exp: dict, got: dict, where: str) -> None:
        assert set(exp) == set(got), where
        for key, value in exp.items():
            if isinstance(value, dict):
                compare(value, got[key], f"{where}.{key}")
            elif isinstance(value, list):
                assert [float(v) for v in got[key]] == pytest.approx(
                    [float(v) for v in value], abs=TOL
                ), f"{where}.{key}"
            else:
                assert float(got[key]) == pytest.approx(float(value), abs=TOL), f"{where}.{key}"

    compare(expected, ours, "toml")


def _sample_from_official_row(row: dict[str, str], partly: bool) -> SampleResult:
    """Per-image counts recoverable from the official summary CSV.

    Completely images: FP = n_pred - TP and FN = n_gt - TP, so TP per threshold follows
    from F1 = 2TP / (n_gt + n_pred). Partly images: only threshold 0.5 is known, used as
    a stand-in for every threshold. Coverage and clDice lists repeat the image means.
    """
    n_gt, n_pred = int(float(row["general Num GT"])), int(float(row["general Num Pred"]))
    tp, fp, fn = {}, {}, {}
    for key in F1_KEYS:
        if partly:
            tp[key] = int(float(row["th_0_5 AP_TP"]))
            fp[key] = int(float(row["th_0_5 AP_FP"]))
            fn[key] = int(float(row["th_0_5 AP_FN"]))
        else:
            f1 = float(row[f"th_{key.replace('.', '_')} fscore"])
            tp[key] = round(f1 * (n_gt + n_pred) / 2)
            fp[key], fn[key] = n_pred - tp[key], n_gt - tp[key]
    tp_05 = int(float(row["general TP_05"]))
    cldice = float(row["general avg_TP_05_cldice"]) if tp_05 else 0.0
    return SampleResult(
        n_gt=n_gt,
        n_pred=n_pred,
        TP=tp,
        FP=fp,
        FN=fn,
        coverage=[float(row["general avg_gt_skel_coverage"])] * n_gt,
        tp_cldice=[cldice] * tp_05,
        FS=int(float(row["general FS"])),
        FM=int(float(row["general FM"])),
        name=row["sample"],
        partly=partly,
    )


def test_set_aggregation_matches_official_pooled_rows(official_rows: list[dict[str, str]]) -> None:
    partly_names, _ = read_split_file(OFFICIAL_SPLIT)
    rows = [r for r in official_rows if r["sample"] not in ("mean", "sum", "avg_inst")]
    pooled = next(r for r in official_rows if r["sample"] == "avg_inst")
    completely = [
        _sample_from_official_row(r, False) for r in rows if r["sample"] not in partly_names
    ]
    partly = [_sample_from_official_row(r, True) for r in rows if r["sample"] in partly_names]
    assert len(completely) == 7  # the official run scored one partly image twice
    for result, row in zip(
        completely, [r for r in rows if r["sample"] not in partly_names], strict=True
    ):
        assert result.avF1 == pytest.approx(float(row["confusion_matrix avFscore"]), abs=1e-9)

    summary_c = aggregate(completely)
    # published leaderboard row, Duan et al. completely: S/avF1/C/clDice_TP/tp/FS/FM
    published = (0.28, 0.23, 0.33, 0.81, 0.38, 6, 1)
    for key, value in zip(
        ("S", "avF1", "C", "clDice_TP", "tp", "FS", "FM"), published, strict=True
    ):
        assert summary_c[key] == pytest.approx(value, abs=0.005), key

    combined = combine(summary_c, aggregate(partly))
    assert combined["C"] == pytest.approx(float(pooled["general avg_gt_skel_coverage"]), abs=TOL)
    assert combined["F1"]["0.5"] == pytest.approx(float(pooled["th_0_5 fscore"]), abs=TOL)
    # clDice_TP of "combined" is the mean of the concatenated TP lists (metrics.md and the
    # official code today). The fixture CSV and the published leaderboard (0.77) come from
    # an older evaluator that averaged the two sets' values instead: documented divergence.
    pooled_lists = [v for r in completely + partly for v in r.tp_cldice]
    assert combined["clDice_TP"] == pytest.approx(np.mean(pooled_lists), abs=TOL)
    sets_mean = (summary_c["clDice_TP"] + aggregate(partly)["clDice_TP"]) / 2
    assert sets_mean == pytest.approx(float(pooled["general avg_TP_05_cldice"]), abs=TOL)
    assert combined["tp"] == pytest.approx(float(pooled["general TP_05_rel"]), abs=1e-12)
    assert (combined["FS"], combined["FM"]) == (45, 29)
    assert (combined["num_gt"], combined["num_pred"]) == (134, 293)
    assert combined["TP"]["0.5"] == int(pooled["th_0_5 AP_TP"])
    # combined S is the mean of the sets' S, i.e. 0.5 * mean avF1 + 0.5 * mean C
    s_combined = float(pooled["general avg_f1_cov_score"])
    av_f1_combined = float(pooled["confusion_matrix avFscore"])
    assert s_combined == pytest.approx(0.5 * av_f1_combined + 0.5 * combined["C"], abs=TOL)


def test_cli_on_real_fixtures(
    real_evaluation: tuple[dict, Path], results: dict[str, SampleResult]
) -> None:
    summary, out = real_evaluation
    assert set(summary) == {"completely", "partly", "combined"}
    assert json.loads((out / "summary.json").read_text()) == summary
    for set_name, name in (("completely", R14), ("partly", VT)):
        one = aggregate([results[name]])
        for key in ("S", "avF1", "C", "clDice_TP", "tp", "FS", "FM", "num_gt", "num_pred"):
            assert summary[set_name][key] == pytest.approx(one[key], abs=1e-12), key
    combined = summary["combined"]
    assert combined["S"] == pytest.approx((0.3656731 + 0.2217849) / 2, abs=TOL)
    assert combined["tp"] == pytest.approx((3 + 2) / (7 + 8))
    assert combined["clDice_TP"] == pytest.approx(
        np.mean([0.9902095, 0.9613602, 0.7825463, *results[VT].tp_cldice]), abs=TOL
    )
    toml = tomllib.loads((out / f"{R14}.toml").read_text())
    assert toml["general"]["avg_f1_cov_score"] == pytest.approx(0.3656731, abs=TOL)

"""Tables, statistics, figures and the leaderboard files, on small fake evaluations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import METRICS, write_evaluation

from fisbe_bench.cli import main
from fisbe_bench.contract import GT_KEY, RAW_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports import stats
from fisbe_bench.reports.evaluations import combine_summaries, load_evaluations
from fisbe_bench.reports.leaderboard import write_leaderboard
from fisbe_bench.reports.tables import leaderboard_table, markdown_tables
from fisbe_bench.sample_io import write_array, write_instances


@pytest.fixture
def results(tmp_path: Path) -> dict[str, Path]:
    """Three methods of clearly different quality on the same 8 + 8 image names."""
    return {
        name: write_evaluation(tmp_path / "results/ds" / name / "evaluation", skill, seed)
        for name, skill, seed in (("weak", 0.2, 1), ("strong", 0.85, 2), ("middle", 0.5, 3))
    }


def test_leaderboard_ranked_by_s_per_set(results: dict[str, Path]) -> None:
    table = leaderboard_table(load_evaluations(results))
    assert list(table["set"].unique()) == ["completely", "partly", "combined"]
    for _, rows in table.groupby("set"):
        assert list(rows["method"]) == ["strong", "middle", "weak"]
        assert list(rows["rank"]) == [1, 2, 3]
        assert rows["S"].is_monotonic_decreasing


def test_ties_share_the_better_rank(tmp_path: Path) -> None:
    twins = {
        name: write_evaluation(tmp_path / name, 0.5, 7, sets=("completely",)) for name in ("b", "a")
    }
    table = leaderboard_table(load_evaluations(twins))
    assert list(table["method"]) == ["a", "b"]
    assert list(table["rank"]) == [1, 1]


def test_combined_row_follows_fisbe_rules(tmp_path: Path) -> None:
    folder = write_evaluation(tmp_path / "m", 0.6, 5, with_combined=False)
    summary = json.loads((folder / "summary.json").read_text())
    assert "combined" not in summary
    (evaluation,) = load_evaluations({"m": folder})
    combined = evaluation.summary["combined"]
    full, part = summary["completely"], summary["partly"]
    for key in ("S", "avF1", "C"):
        assert combined[key] == pytest.approx((full[key] + part[key]) / 2)
    for key in ("FS", "FM", "num_gt", "num_images"):
        assert combined[key] == full[key] + part[key]
    tp05 = full["tp"] * full["num_gt"] + part["tp"] * part["num_gt"]
    assert combined["tp"] == pytest.approx(tp05 / (full["num_gt"] + part["num_gt"]))
    assert combined["F1"]["0.3"] == pytest.approx((full["F1"]["0.3"] + part["F1"]["0.3"]) / 2)
    table = leaderboard_table([evaluation])
    row = table[table["set"] == "combined"].iloc[0]
    assert row["FS"] == full["FS"] + part["FS"]
    assert row["S"] == pytest.approx(combined["S"])


def test_combined_published_example() -> None:
    """clDice_TP of the combined set is the mean over the pooled true positives."""
    full = {"S": 0.3, "avF1": 0.2, "C": 0.4, "clDice_TP": 0.9, "tp": 0.5, "FS": 1, "FM": 2}
    part = {"S": 0.5, "avF1": 0.6, "C": 0.4, "clDice_TP": 0.6, "tp": 0.25, "FS": 3, "FM": 4}
    full |= {"num_gt": 10, "num_pred": 12, "num_images": 2}
    part |= {"num_gt": 20, "num_pred": 9, "num_images": 3}
    combined = combine_summaries(full, part)
    assert combined["tp"] == pytest.approx(10 / 30)
    assert combined["clDice_TP"] == pytest.approx((0.9 * 5 + 0.6 * 5) / 10)
    assert combined["S"] == pytest.approx(0.4)
    assert (combined["FS"], combined["FM"], combined["num_images"]) == (4, 6, 5)


def test_bootstrap_contains_estimate_and_is_seeded(results: dict[str, Path]) -> None:
    evaluations = load_evaluations(results)
    first = stats.bootstrap_table(evaluations, n_boot=500, seed=3)
    again = stats.bootstrap_table(evaluations, n_boot=500, seed=3)
    other = stats.bootstrap_table(evaluations, n_boot=500, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["lo"], other["lo"])
    assert len(first) == 3 * 3 * 3  # methods x sets x metrics
    assert (first["lo"] <= first["estimate"]).all()
    assert (first["estimate"] <= first["hi"]).all()
    assert (first["lo"] < first["hi"]).all()
    for evaluation in evaluations:
        rows = first[first["method"] == evaluation.method]
        for row in rows.itertuples():
            expected = evaluation.summary[row.set][row.metric]
            assert row.estimate == pytest.approx(expected, abs=1e-9)


def test_bootstrap_without_coverage_lists_pools_c_exactly(tmp_path: Path) -> None:
    with_lists = write_evaluation(tmp_path / "a", 0.5, 11)
    without = write_evaluation(tmp_path / "b", 0.5, 11, coverage_lists=False)
    a = stats.bootstrap_table(load_evaluations({"m": with_lists}), n_boot=200, seed=0)
    b = stats.bootstrap_table(load_evaluations({"m": without}), n_boot=200, seed=0)
    np.testing.assert_allclose(a[["estimate", "lo", "hi"]], b[["estimate", "lo", "hi"]])
    assert a["exact_coverage"].all() and not b["exact_coverage"].any()


def test_coverage_lists_from_official_tomls(tmp_path: Path) -> None:
    folder = write_evaluation(tmp_path / "m", 0.5, 11, coverage_lists=False)
    rows = pd.read_csv(write_evaluation(tmp_path / "ref", 0.5, 11) / "per_sample.csv")
    for sample, coverage in zip(rows["sample"], rows["gt_coverage"], strict=True):
        values = ", ".join(map(str, json.loads(coverage)))
        (folder / f"{sample}.toml").write_text(f"[general]\ngt_skel_coverage = [{values}]\n")
    (evaluation,) = load_evaluations({"m": folder})
    assert evaluation.per_sample["gt_coverage"].map(len).tolist() == rows["num_gt"].tolist()
    table = stats.bootstrap_table([evaluation], n_boot=20)
    assert table["exact_coverage"].all()
    (folder / f"{rows['sample'][0]}.toml").write_text("[general\n")
    with pytest.raises(FisbeError, match="TOML"):
        load_evaluations({"m": folder})


def test_bootstrap_resamples_are_shared_across_methods() -> None:
    weights = stats.resample_weights(5, 100, seed=9, stream=0)
    assert weights.shape == (100, 5)
    assert (weights.sum(axis=1) == 5).all()
    np.testing.assert_array_equal(weights, stats.resample_weights(5, 100, seed=9, stream=0))
    assert not np.array_equal(weights, stats.resample_weights(5, 100, seed=9, stream=1))


def test_holm_adjustment() -> None:
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])


def test_markdown_table_shape(results: dict[str, Path]) -> None:
    evaluations = load_evaluations(results)
    table = leaderboard_table(evaluations, stats.bootstrap_table(evaluations, n_boot=50))
    text = markdown_tables(table, "ds")
    blocks = text.split("\n## ")[1:]
    assert [b.splitlines()[0] for b in blocks] == [
        "completely labelled",
        "completely + partly labelled",
        "partly labelled",
    ]
    for block in blocks:
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len(rows) == 2 + 3  # header, separator, one per method
        assert {line.count("|") for line in rows} == {len(METRICS) + 3}
        assert rows[0] == "| Rank | Method | " + " | ".join(METRICS) + " |"
        assert rows[2].startswith("| 1 | strong | ")
        assert "[" in rows[2]  # interval shown


def test_leaderboard_files(results: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "board"
    written = write_leaderboard("ds", results, out, bootstrap=200, seed=1)
    names = {p.name for p in written.values()}
    assert names >= {
        "leaderboard.csv",
        "leaderboard.md",
        "leaderboard.html",
        "leaderboard_completely.csv",
        "leaderboard_combined.csv",
        "per_threshold.csv",
        "per_sample.csv",
        "bootstrap.csv",
    }
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.columns[:2]) == ["method", "set"]
    for column in [*METRICS, "S_lo", "S_hi", "avF1_lo", "avF1_hi", "C_lo", "C_hi"]:
        assert column in board.columns
    assert board[["S_lo", "S_hi"]].notna().all().all()
    assert set(board["set"]) == {"completely", "partly", "combined"}
    assert set(pd.read_csv(out / "leaderboard_combined.csv")["set"]) == {"combined"}
    per_threshold = pd.read_csv(out / "per_threshold.csv")
    assert len(per_threshold) == 3 * 2 * 9
    assert list(per_threshold.columns[:3]) == ["method", "set", "threshold"]
    assert len(pd.read_csv(out / "per_sample.csv")) == 3 * 16
    assert not list(out.glob(".*tmp"))  # no temporary files left behind


def test_html_is_self_contained(results: dict[str, Path], tmp_path: Path) -> None:
    figures = tmp_path / "figures"
    (figures / "mips").mkdir(parents=True)
    from fisbe_bench.reports.figures import write_figures

    write_figures("ds", results, figures)
    write_leaderboard("ds", results, tmp_path / "board", figures_dir=figures, bootstrap=50)
    page = (tmp_path / "board/leaderboard.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and 'src="data:image/png;base64,' in page
    assert page.count('<table class="sortable"') >= 3
    assert 'id="leaderboard-completely"' in page and 'id="leaderboard-combined"' in page
    assert "<script>" in page and "<style>" in page


def test_figures_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shape = (6, 24, 24)
    data = tmp_path / "resources/ds/completely/test"
    sample = data / "s00.zarr"
    raw = rng.integers(0, 4096, size=(3, *shape)).astype(np.uint16)
    write_array(sample, RAW_KEY, raw, chunks=(1, 4, 16, 16))
    gt = np.zeros(shape, np.uint16)
    gt[:, 2:10, 2:20], gt[:, 14:22, 2:20] = 1, 2
    write_instances(sample, gt, key=GT_KEY, chunks=(4, 16, 16))
    (tmp_path / "splits.tsv").write_text(
        f"sample\tset\tsplit\tpath\ns00\tcompletely\ttest\t{sample}\n"
        f"s01\tcompletely\ttrain\t{data / 's01.zarr'}\n"
    )
    evaluations = {}
    for name, labels in (("merge", (gt > 0) * 1), ("split", np.where(gt == 1, 1, 0))):
        method = tmp_path / "results/ds" / name
        evaluations[name] = write_evaluation(method / "evaluation", 0.5, 3, sets=("completely",))
        pred = labels.copy()
        if name == "split":
            pred[:, :, 11:] *= 2  # GT 1 cut in two halves
        write_instances(method / "predictions/s00.zarr", pred, chunks=(4, 16, 16))
    (tmp_path / "results/ds/split/train").mkdir()
    pd.DataFrame({"step": range(50), "loss": np.linspace(2, 0.1, 50)}).to_csv(
        tmp_path / "results/ds/split/train/loss.csv", index=False
    )
    out = tmp_path / "figures"
    status = main(
        [
            "figures",
            "--dataset",
            "ds",
            "--evaluations",
            *map(str, evaluations.values()),
            "--methods",
            *evaluations,
            "--out-dir",
            str(out),
            "--splits",
            str(tmp_path / "splits.tsv"),
        ]
    )
    assert status == 0
    for stem in ("f1_threshold", "per_sample", "coverage", "loss", "mips/s00"):
        for fmt in ("png", "svg"):
            path = out / f"{stem}.{fmt}"
            assert path.is_file() and path.stat().st_size > 1000, path
    assert not (out / "mips/s01.png").exists()  # train sample not drawn


def test_classify_errors_voxel_proxy() -> None:
    from fisbe_bench.reports.figures import classify_errors

    # GT 0 covered by predictions 0 and 1 (split); prediction 2 covers GTs 1 and 2 (merge)
    overlap = np.array([[50, 50, 0], [0, 0, 40], [0, 0, 30]])
    split, merge, fs, fm = classify_errors(overlap, np.array([100, 50, 50]))
    assert split.tolist() == [True, True, False]
    assert merge.tolist() == [False, False, True]
    assert (fs, fm) == (1, 1)


def test_overlapping_gt_voxels_do_not_count_as_splits() -> None:
    from fisbe_bench.reports.figures import GroundTruthIndex, classify_errors

    index = GroundTruthIndex(2)
    index.add(0, np.arange(0, 100))
    index.add(1, np.arange(80, 180))  # 20 voxels shared with GT 0
    index.finish()
    np.testing.assert_array_equal(index.sizes, [80, 80])
    perfect = np.stack([index.overlaps(np.arange(0, 100)), index.overlaps(np.arange(80, 180))], 1)
    np.testing.assert_array_equal(perfect, [[80, 0], [0, 80]])
    assert classify_errors(perfect, index.sizes)[2:] == (0, 0)
    np.testing.assert_array_equal(index.overlaps(np.array([5, 90, 150, 500])), [1, 1])


def test_cli_errors_are_one_line(
    results: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["leaderboard", "--dataset", "ds", "--out-dir", str(tmp_path / "out")]
    paths = [str(p) for p in results.values()]
    assert main([*base, "--evaluations", *paths, "--methods", "a", "b"]) == 2
    assert "3 evaluation folder(s)" in capsys.readouterr().err
    (results["weak"] / "summary.json").write_text("{not json")
    assert main([*base, "--evaluations", *paths, "--methods", *results]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "summary.json" in err
    assert not (tmp_path / "out").exists()


def test_leaderboard_cli_degrades_gracefully(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Completely labelled images only, two methods, one without per-threshold counts."""
    folders = [
        write_evaluation(tmp_path / name, skill, seed, sets=("completely",))
        for name, skill, seed in (("a", 0.3, 1), ("b", 0.7, 2))
    ]
    table = pd.read_csv(folders[0] / "per_sample.csv")
    table.drop(columns=[c for c in table.columns if c[:3] in ("TP_", "FP_", "FN_")]).to_csv(
        folders[0] / "per_sample.csv", index=False
    )
    out = tmp_path / "board"
    argv = ["leaderboard", "--dataset", "ds", "--out-dir", str(out), "--seed", "5"]
    argv += ["--evaluations", *map(str, folders), "--methods", "a", "b", "--bootstrap", "100"]
    assert main(argv) == 0
    assert "no bootstrap intervals" in capsys.readouterr().err
    board = pd.read_csv(out / "leaderboard.csv").set_index("method")
    assert list(board["set"]) == ["completely", "completely"]
    assert board.loc["a", ["S_lo", "S_hi"]].isna().all()
    assert board.loc["b", ["S_lo", "S_hi"]].notna().all()
    assert not (out / "leaderboard_combined.csv").exists()
    page = (out / "leaderboard.html").read_text()
    assert "no bootstrap intervals" in page and "at least three" in page
    assert (
        markdown_tables(leaderboard_table(load_evaluations({"a": folders[0]})), "ds").count("\n## ")
        == 1
    )


def test_missing_tables_raise(tmp_path: Path) -> None:
    folder = write_evaluation(tmp_path / "m", 0.5, 0)
    (folder / "per_threshold.csv").unlink()
    with pytest.raises(FisbeError, match="per_threshold.csv"):
        load_evaluations({"m": folder})

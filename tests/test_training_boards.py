"""The two FISBe leaderboards: methods by training data (completely / completely+partly)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, write_evaluation

from fisbe_bench.cli import main
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports.leaderboard import write_leaderboard
from fisbe_bench.reports.tables import leaderboard_columns
from fisbe_bench.training import method_training


def test_training_from_config(tmp_path: Path) -> None:
    assert method_training({"kind": "threshold_cc"}, REPO) == "none"
    assert method_training({"kind": "colour_clustering"}, REPO) == "none"
    assert method_training({"kind": "external", "path": "x"}, REPO) == "none"
    external = {"kind": "external", "path": "x", "training": "completely+partly"}
    assert method_training(external, REPO) == "completely+partly"
    unet = {"kind": "unet_affinity", "preset": "config/unet/demo.yaml"}
    assert method_training(unet, REPO) == "completely"
    preset = tmp_path / "both.yaml"
    preset.write_text("sets: [completely, partly]\n")
    assert method_training({"kind": "unet_affinity", "preset": str(preset)}, REPO) == (
        "completely+partly"
    )
    with pytest.raises(FisbeError, match="training"):
        method_training({"kind": "external", "training": "everything"}, REPO)
    with pytest.raises(FisbeError, match="preset"):
        method_training({"kind": "unet_affinity", "preset": str(tmp_path / "no.yaml")}, REPO)


@pytest.fixture
def methods(tmp_path: Path) -> dict[str, Path]:
    return {
        name: write_evaluation(tmp_path / name / "evaluation", skill, seed)
        for name, skill, seed in (("plain", 0.3, 1), ("full", 0.8, 2), ("both", 0.55, 3))
    }


TRAINING = {"plain": "none", "full": "completely", "both": "completely+partly"}


def test_leaderboard_csv_appends_training(methods: dict[str, Path], tmp_path: Path) -> None:
    write_leaderboard("ds", methods, tmp_path / "old", bootstrap=20)
    write_leaderboard("ds", methods, tmp_path / "new", bootstrap=20, training=TRAINING)
    old = pd.read_csv(tmp_path / "old/leaderboard.csv")
    new = pd.read_csv(tmp_path / "new/leaderboard.csv")
    columns = leaderboard_columns()
    assert list(new.columns) == list(old.columns) == columns
    assert columns.index("training") == columns.index("num_images") + 1  # then the seed spread
    assert (old["training"] == "none").all()
    assert dict(zip(new["method"], new["training"], strict=True)) == TRAINING
    pd.testing.assert_frame_equal(old.drop(columns="training"), new.drop(columns="training"))


def test_two_boards_in_markdown_and_html(methods: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "board"
    write_leaderboard("ds", methods, out, bootstrap=20, training=TRAINING)
    text = (out / "leaderboard.md").read_text()
    first, second = text.split("\n## ")[1:3]
    assert first.startswith("Trained on completely labelled data")
    assert second.startswith("Trained on completely + partly labelled data")
    for board, trained, other in ((first, "full", "both"), (second, "both", "full")):
        section = board.split("### completely labelled\n", 1)[1].split("\n###", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
        assert [r.split(" | ")[1] for r in rows] == [trained, "plain"]
        assert rows[0].startswith("| 1 | ") and rows[1].startswith("| 2 | ")
        assert f"| {other} |" not in section
    page = (out / "leaderboard.html").read_text()
    assert "Trained on completely labelled data" in page
    for table in ("leaderboard-completely", "leaderboard-cp-completely", "leaderboard-cp-combined"):
        assert f'id="{table}"' in page


def test_cli_training_values(methods: dict[str, Path], tmp_path: Path) -> None:
    argv = ["leaderboard", "--dataset", "ds", "--out-dir", str(tmp_path / "out")]
    argv += ["--evaluations", *map(str, methods.values()), "--methods", *methods]
    assert main([*argv, "--bootstrap", "10", "--training", *TRAINING.values()]) == 0
    board = pd.read_csv(tmp_path / "out/leaderboard.csv")
    assert set(board["training"]) == set(TRAINING.values())
    assert main([*argv, "--training", "none"]) == 2

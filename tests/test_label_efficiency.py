"""Label efficiency: the training subsets and the table/figure of a sweep."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import read_table, write_evaluation

from fisbe_bench.reports.label_efficiency import label_efficiency_table, write_label_efficiency
from fisbe_bench.splits import (
    SplitEntry,
    parse_split_file,
    training_subset,
    write_split_file,
    write_training_subset,
)

ENTRIES = [
    *(SplitEntry(f"c{i:02d}", "completely", "train") for i in range(10)),
    *(SplitEntry(f"p{i:02d}", "partly", "train") for i in range(3)),
    SplitEntry("cv", "completely", "val"),
    SplitEntry("ct", "completely", "test"),
    SplitEntry("pt", "partly", "test"),
]


def train_names(entries: list[SplitEntry], set_name: str) -> set[str]:
    return {e.sample for e in entries if e.split == "train" and e.set == set_name}


def test_subset_sizes_per_set() -> None:
    for fraction in (0.1, 0.25, 0.5, 0.7, 1.0):
        subset = training_subset(ENTRIES, fraction, seed=0)
        assert len(train_names(subset, "completely")) == math.ceil(round(fraction * 10, 9))
        assert len(train_names(subset, "partly")) == max(1, math.ceil(fraction * 3))
    assert training_subset(ENTRIES, 1.0) == ENTRIES


def test_subset_keeps_at_least_one_image_per_set_with_any() -> None:
    subset = training_subset(ENTRIES, 0.01)
    assert len(train_names(subset, "completely")) == len(train_names(subset, "partly")) == 1
    only_completely = [e for e in ENTRIES if e.set == "completely"]
    assert not train_names(training_subset(only_completely, 0.01), "partly")


def test_subset_keeps_val_and_test_and_file_order() -> None:
    subset = training_subset(ENTRIES, 0.25)
    assert [e for e in subset if e.split != "train"] == [e for e in ENTRIES if e.split != "train"]
    assert subset == [e for e in ENTRIES if e in subset]


def test_subset_is_deterministic_and_independent_of_input_order() -> None:
    first = training_subset(ENTRIES, 0.5, seed=7)
    assert training_subset(ENTRIES, 0.5, seed=7) == first
    assert set(training_subset(ENTRIES[::-1], 0.5, seed=7)) == set(first)
    seeds = {
        frozenset(train_names(training_subset(ENTRIES, 0.3, s), "completely")) for s in range(8)
    }
    assert len(seeds) > 1


def test_subsets_are_nested() -> None:
    for seed in range(5):
        previous: dict[str, set[str]] = {"completely": set(), "partly": set()}
        for fraction in (0.1, 0.25, 0.5, 0.75, 1.0):
            subset = training_subset(ENTRIES, fraction, seed)
            for set_name, names in previous.items():
                assert names <= train_names(subset, set_name)
                previous[set_name] = train_names(subset, set_name)


def test_subset_of_one_set_does_not_depend_on_the_other() -> None:
    only_completely = [e for e in ENTRIES if e.set == "completely"]
    assert train_names(training_subset(ENTRIES, 0.5, 3), "completely") == train_names(
        training_subset(only_completely, 0.5, 3), "completely"
    )


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_subset_rejects_fractions_outside_0_1(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        training_subset(ENTRIES, fraction)


def test_written_subset_is_an_official_split_file(tmp_path: Path) -> None:
    full = write_split_file(ENTRIES, tmp_path / "full.txt")
    subset = write_training_subset(full, 0.5, tmp_path / "half.txt", seed=1)
    assert parse_split_file(tmp_path / "half.txt") == subset
    assert set(subset) == set(training_subset(ENTRIES, 0.5, 1))


def test_table_and_figure(tmp_path: Path) -> None:
    full = write_split_file(ENTRIES, tmp_path / "full.txt")
    half = write_training_subset(full, 0.5, tmp_path / "half.txt")
    assert len([e for e in half if e.split == "train"]) == 5 + 2
    summaries = [
        write_evaluation(tmp_path / name, skill, seed) / "summary.json"
        for name, skill, seed in (("half", 0.4, 1), ("full", 0.7, 2))
    ]
    csv_out = tmp_path / "out" / "label_efficiency.csv"
    write_label_efficiency(
        "net", [0.5, 1.0], summaries, [tmp_path / "half.txt", full], ["completely"], csv_out
    )
    rows = read_table(csv_out)
    assert list(rows[0]) == ["fraction", "set", "n_train_images", "S", "avF1", "C"]
    counts = {(float(r["fraction"]), r["set"]): int(r["n_train_images"]) for r in rows}
    assert counts == {
        (0.5, "completely"): 5, (0.5, "partly"): 0, (0.5, "combined"): 5,
        (1.0, "completely"): 10, (1.0, "partly"): 0, (1.0, "combined"): 10,
    }  # fmt: skip
    assert (csv_out.parent / "label_efficiency.png").stat().st_size > 0
    both = label_efficiency_table({1.0: (summaries[1], full)}, ["completely", "partly"]).set_index(
        "set"
    )
    assert both.loc["combined", "n_train_images"] == 13
    assert both.loc["partly", "n_train_images"] == 3

"""Sample plan of a synthetic dataset: names, labelling set and split per sample.

Standard library only: the Snakefile imports it at DAG-build time, where only Snakemake
is installed (with ``--use-conda`` the steps' dependencies live in their own envs).
"""

from __future__ import annotations

from dataclasses import dataclass

from fisbe_bench.contract import SETS, SPLITS

PREFIX = {"completely": "synth_c", "partly": "synth_p"}


@dataclass(frozen=True)
class SampleSpec:
    """One planned sample: its name, labelling set, split and index within the set."""

    name: str
    set: str
    split: str
    index: int


def split_counts(n: int) -> tuple[int, int, int]:
    """Train/val/test counts for ``n`` samples: about 60/15/25 %, val and test >= 1 if n >= 3."""
    if n < 3:
        return n, 0, 0
    test = max(1, round(0.25 * n))
    val = max(1, round(0.15 * n))
    return n - val - test, val, test


def plan_dataset(n_completely: int, n_partly: int) -> list[SampleSpec]:
    """Deterministic sample plan; names are ``synth_c000``... and ``synth_p000``..."""
    plan = []
    for set_name, n in zip(SETS, (n_completely, n_partly), strict=True):
        index = 0
        for split, count in zip(SPLITS, split_counts(n), strict=True):
            for _ in range(count):
                plan.append(SampleSpec(f"{PREFIX[set_name]}{index:03d}", set_name, split, index))
                index += 1
    return plan

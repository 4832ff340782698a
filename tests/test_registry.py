"""Method registry and reruns (docs/reruns.md): what a config or code change makes Snakemake run.

One tiny run of a copy of the workflow (so a test may edit a script), then a second method,
registered as `kind: external` on a copy of the first method's predictions: the dry run in
between shows what adding a method costs. The rerun tests only read dry-run job lists.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_workflow import TINY, job_counts

REPO = Path(__file__).resolve().parents[1]
EXTERNAL = {"kind": "external", "path": "elsewhere/ext_predictions"}
# The data and per-method rules of the tiny config; every other rule is an aggregate.
PIPELINE_RULES = {"synth_dataset", "splits", "threshold_cc", "evaluate"}
WITH_EXTERNAL = {**TINY, "methods": {**TINY["methods"], "ext": EXTERNAL}}

pytestmark = pytest.mark.slow


@dataclass
class Benchmark:
    repo: Path  # a copy of the workflow
    workdir: Path
    config: Path  # threshold_cc + ext
    adding_external: str  # dry-run output right after ext was registered

    def snakemake(self, *args: str, config: Path | None = None) -> str:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "snakemake",
                "--snakefile",
                str(self.repo / "Snakefile"),
                "--directory",
                str(self.workdir),
                "--configfile",
                str(config or self.config),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            pytest.fail(
                f"snakemake {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
            )
        return proc.stdout + proc.stderr


def copy_workflow(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for part in ("workflow", "config", "src"):
        shutil.copytree(REPO / part, dest / part, symlinks=True, ignore=ignore)
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    return dest


def split_aggregates(counts: dict[str, int]) -> tuple[dict[str, int], set[str]]:
    """Per-method job counts, and the aggregate rules (one job over all methods: leaderboard,
    figures, all, ...), which any change to a method's results reruns."""
    aggregates = {rule for rule, n in counts.items() if rule not in PIPELINE_RULES and n == 1}
    return {rule: n for rule, n in counts.items() if rule not in aggregates}, aggregates


def outputs(dry_run: str) -> list[str]:
    """Every output file a dry run would write."""
    return [
        path.strip()
        for line in re.findall(r"^\s+output: (.+)$", dry_run, re.M)
        for path in line.split(",")
    ]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Benchmark:
    root = tmp_path_factory.mktemp("registry")
    workdir = root / "work"
    workdir.mkdir()
    tiny = workdir / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(TINY))
    with_external = workdir / "with_external.yaml"
    with_external.write_text(yaml.safe_dump(WITH_EXTERNAL))
    bench = Benchmark(copy_workflow(root / "repo"), workdir, with_external, "")
    bench.snakemake("--cores", "2", config=tiny)
    # Predictions made "elsewhere": the same files, in a folder outside results/.
    shutil.copytree(workdir / "results/tiny/threshold_cc/predictions", workdir / EXTERNAL["path"])
    bench.adding_external = bench.snakemake("-n")
    bench.snakemake("--cores", "2")
    return bench


def test_external_method_costs_only_its_evaluation(bench: Benchmark) -> None:
    per_method, aggregates = split_aggregates(job_counts(bench.adding_external))
    assert per_method == {"evaluate": 1}
    assert {"leaderboard", "all"} <= aggregates
    written = outputs(bench.adding_external)
    assert "results/tiny/ext/evaluation/summary.json" in written
    # Nothing of the data or of the other method is made again.
    redone = [
        path
        for path in written
        if path.startswith(("resources/", "results/tiny/threshold_cc/", "results/tiny/splits"))
    ]
    assert not redone


def test_external_method_is_on_the_leaderboard(bench: Benchmark) -> None:
    with open(bench.workdir / "results/tiny/leaderboard/leaderboard.csv") as handle:
        rows = {(r["method"], r["set"]): r for r in csv.DictReader(handle)}
    assert {method for method, _ in rows} == {"threshold_cc", "ext"}
    for kind in ("completely", "partly", "combined"):  # same predictions, same scores
        assert rows["ext", kind]["S"] == rows["threshold_cc", kind]["S"]
    assert "Nothing to be done" in bench.snakemake("-n")


def test_retrain_one_rule_reruns_it_and_downstream_only(bench: Benchmark) -> None:
    out = bench.snakemake("-n", "-R", "threshold_cc")
    per_method, aggregates = split_aggregates(job_counts(out))
    assert per_method == {"threshold_cc": 2, "evaluate": 1}
    assert {"leaderboard", "all"} <= aggregates
    assert "results/tiny/ext/evaluation/summary.json" not in outputs(out)


def test_one_method_target_stops_at_its_scores(bench: Benchmark) -> None:
    target = "results/tiny/threshold_cc/evaluation/summary.json"
    out = bench.snakemake("-n", "-R", "threshold_cc", "--", target)
    assert job_counts(out) == {"threshold_cc": 2, "evaluate": 1}


def test_until_evaluate_leaves_out_the_leaderboard(bench: Benchmark) -> None:
    counts = job_counts(bench.snakemake("-n", "--forceall", "--until", "evaluate"))
    assert split_aggregates(counts) == (
        {"synth_dataset": 1, "splits": 1, "threshold_cc": 2, "evaluate": 2},
        set(),
    )


def test_changed_method_parameter_reruns_that_method(bench: Benchmark, tmp_path: Path) -> None:
    changed = yaml.safe_load(bench.config.read_text())
    changed["methods"]["threshold_cc"]["threshold"] = 0.3
    config = tmp_path / "changed.yaml"
    config.write_text(yaml.safe_dump(changed))
    per_method, aggregates = split_aggregates(job_counts(bench.snakemake("-n", config=config)))
    assert per_method == {"threshold_cc": 2, "evaluate": 1}
    assert {"leaderboard", "all"} <= aggregates


def test_code_change_is_listed_and_touch_accepts_it(bench: Benchmark) -> None:
    script = bench.repo / "workflow/scripts/threshold_cc.py"
    script.write_text(script.read_text() + "# a comment: results stay valid\n")
    changed = bench.snakemake("--list-changes", "code").split()
    predictions = [p for p in changed if p.startswith("results/tiny/threshold_cc/predictions/")]
    assert len(predictions) == 2
    assert job_counts(bench.snakemake("-n"))["threshold_cc"] == 2
    bench.snakemake("--touch", "--cores", "1")
    assert "Nothing to be done" in bench.snakemake("-n")

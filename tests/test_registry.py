"""Method registry and reruns (docs/reruns.md): what a config or code change makes Snakemake run.

One tiny run of a copy of the workflow (so a test may edit a script or a package module),
then a second method,
registered as `kind: external` on a copy of the first method's predictions: the dry run in
between shows what adding a method costs. The rerun tests only read dry-run job lists. Last,
external methods published as a zip (`url` + checksum), served from 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from conftest import CORES, REPO, TINY, job_counts

from fisbe_bench.archive import extract_predictions
from fisbe_bench.errors import FisbeError

# xdist: one tiny run, then edits and dry runs on it in order (one worker runs all of them)
pytestmark = pytest.mark.xdist_group("registry")

EXTERNAL = {"kind": "external", "path": "elsewhere/ext_predictions"}
# The data and per-method rules of the tiny config; every other rule is an aggregate.
PIPELINE_RULES = {"synth_dataset", "splits", "threshold_cc", "evaluate"}
WITH_EXTERNAL = {**TINY, "methods": {**TINY["methods"], "ext": EXTERNAL}}


@dataclass
class Benchmark:
    repo: Path  # a copy of the workflow
    workdir: Path
    config: Path  # threshold_cc + ext
    adding_external: str  # dry-run output right after ext was registered

    def snakemake(self, *args: str, config: Path | None = None, check: bool = True) -> str:
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
        if check and proc.returncode != 0:
            pytest.fail(
                f"snakemake {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
            )
        return proc.stdout + proc.stderr


@dataclass
class Served:
    url: str
    sha256: str


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


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
    bench.snakemake(*CORES, config=tiny)
    # Predictions made "elsewhere": the same files, in a folder outside results/.
    shutil.copytree(workdir / "results/tiny/threshold_cc/predictions", workdir / EXTERNAL["path"])
    bench.adding_external = bench.snakemake("-n")
    bench.snakemake(*CORES)
    return bench


@pytest.mark.slow
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


@pytest.mark.slow
def test_external_method_is_on_the_leaderboard(bench: Benchmark) -> None:
    with open(bench.workdir / "results/tiny/leaderboard/leaderboard.csv") as handle:
        rows = {(r["method"], r["set"]): r for r in csv.DictReader(handle)}
    assert {method for method, _ in rows} == {"threshold_cc", "ext"}
    for kind in ("completely", "partly", "combined"):  # same predictions, same scores
        assert rows["ext", kind]["S"] == rows["threshold_cc", kind]["S"]
    assert "Nothing to be done" in bench.snakemake("-n")


@pytest.mark.slow
def test_retrain_one_rule_reruns_it_and_downstream_only(bench: Benchmark) -> None:
    out = bench.snakemake("-n", "-R", "threshold_cc")
    per_method, aggregates = split_aggregates(job_counts(out))
    assert per_method == {"threshold_cc": 2, "evaluate": 1}
    assert {"leaderboard", "all"} <= aggregates
    assert "results/tiny/ext/evaluation/summary.json" not in outputs(out)


@pytest.mark.slow
def test_one_method_target_stops_at_its_scores(bench: Benchmark) -> None:
    target = "results/tiny/threshold_cc/evaluation/summary.json"
    out = bench.snakemake("-n", "-R", "threshold_cc", "--", target)
    assert job_counts(out) == {"threshold_cc": 2, "evaluate": 1}


@pytest.mark.slow
def test_until_evaluate_leaves_out_the_leaderboard(bench: Benchmark) -> None:
    counts = job_counts(bench.snakemake("-n", "--forceall", "--until", "evaluate"))
    assert split_aggregates(counts) == (
        {"synth_dataset": 1, "splits": 1, "threshold_cc": 2, "evaluate": 2},
        set(),
    )


@pytest.mark.slow
def test_changed_method_parameter_reruns_that_method(bench: Benchmark, tmp_path: Path) -> None:
    changed = yaml.safe_load(bench.config.read_text())
    changed["methods"]["threshold_cc"]["threshold"] = 0.3
    config = tmp_path / "changed.yaml"
    config.write_text(yaml.safe_dump(changed))
    per_method, aggregates = split_aggregates(job_counts(bench.snakemake("-n", config=config)))
    assert per_method == {"threshold_cc": 2, "evaluate": 1}
    assert {"leaderboard", "all"} <= aggregates


@pytest.mark.slow
def test_code_change_is_listed_and_touch_accepts_it(bench: Benchmark) -> None:
    script = bench.repo / "workflow/scripts/threshold_cc.py"
    script.write_text(script.read_text() + "# a comment: results stay valid\n")
    changed = bench.snakemake("--list-changes", "code").split()
    predictions = [p for p in changed if p.startswith("results/tiny/threshold_cc/predictions/")]
    assert len(predictions) == 2
    assert job_counts(bench.snakemake("-n"))["threshold_cc"] == 2
    bench.snakemake("--touch", "--cores", "1")
    assert "Nothing to be done" in bench.snakemake("-n")


def statuses(summary: str) -> dict[str, str]:
    """Output file -> status ("ok", "params changed", ...) from ``snakemake --summary``."""
    rows = [line.split("\t") for line in summary.splitlines() if line.count("\t") == 5]
    return {row[0]: row[4] for row in rows if row[0] != "output_file"}


@contextlib.contextmanager
def edited(path: Path) -> Iterator[None]:
    """``path`` with a comment appended (new bytes, same behaviour), restored afterwards."""
    original = path.read_bytes()
    path.write_bytes(original + b"# edited by a test\n")
    try:
        yield
    finally:
        path.write_bytes(original)


@pytest.mark.slow
def test_unchanged_package_reschedules_nothing(bench: Benchmark) -> None:
    assert "Nothing to be done" in bench.snakemake("-n")
    assert "params changed" not in statuses(bench.snakemake("--summary")).values()


@pytest.mark.slow
def test_metrics_edit_reschedules_every_evaluation(bench: Benchmark) -> None:
    with edited(bench.repo / "src/fisbe_bench/metrics/match.py"):
        out = bench.snakemake("-n")
        status = statuses(bench.snakemake("--summary"))
    assert job_counts(out) == {"evaluate": 2, "figures": 1, "leaderboard": 1, "all": 1}
    assert "Params have changed since last execution" in out
    assert {path for path, why in status.items() if why == "params changed"} == {
        f"results/tiny/{method}/evaluation/{name}"
        for method in ("threshold_cc", "ext")
        for name in ("summary.json", "per_sample.csv", "per_threshold.csv")
    }
    assert "Nothing to be done" in bench.snakemake("-n")  # the same bytes again


@pytest.mark.slow
def test_method_edit_reschedules_that_method_only(bench: Benchmark) -> None:
    with edited(bench.repo / "src/fisbe_bench/methods/threshold_cc.py"):
        out = bench.snakemake("-n")
    assert job_counts(out) == {
        "threshold_cc": 2,
        "evaluate": 1,
        "figures": 1,
        "leaderboard": 1,
        "all": 1,
    }
    assert "results/tiny/ext/evaluation/summary.json" not in outputs(out)


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    ["methods/colour_clustering/pipeline.py", "methods/unet_affinity/instances.py", "viewer.py"],
)
def test_edit_of_code_no_job_runs_reschedules_nothing(bench: Benchmark, module: str) -> None:
    with edited(bench.repo / "src/fisbe_bench" / module):
        assert "Nothing to be done" in bench.snakemake("-n")


@pytest.mark.slow
def test_report_edit_redraws_only_the_leaderboard(bench: Benchmark) -> None:
    with edited(bench.repo / "src/fisbe_bench/reports/html.py"):
        assert job_counts(bench.snakemake("-n")) == {"leaderboard": 1, "all": 1}


@pytest.mark.slow
def test_touch_accepts_a_package_edit_that_keeps_results_valid(bench: Benchmark) -> None:
    with edited(bench.repo / "src/fisbe_bench/metrics/match.py"):
        bench.snakemake("--touch", "--cores", "1")
        assert "Nothing to be done" in bench.snakemake("-n")
    bench.snakemake("--touch", "--cores", "1")  # the original bytes: their fingerprint again
    assert "Nothing to be done" in bench.snakemake("-n")


@pytest.fixture(scope="module")
def served(bench: Benchmark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The first method's predictions as a zip (inside a wrapper folder), on 127.0.0.1."""
    root = tmp_path_factory.mktemp("served")
    archive = shutil.make_archive(
        str(root / "ext_url"),
        "zip",
        root_dir=bench.workdir / "results/tiny/threshold_cc",
        base_dir="predictions",
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(
            url=f"http://127.0.0.1:{server.server_address[1]}/{Path(archive).name}",
            sha256=hashlib.sha256(Path(archive).read_bytes()).hexdigest(),
        )
    finally:
        server.shutdown()
        thread.join()


def url_config(bench: Benchmark, folder: Path, name: str, entry: dict) -> Path:
    config = yaml.safe_load(bench.config.read_text())
    config["methods"][name] = {"kind": "external", "path": f"resources/external/{name}", **entry}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_external_method_from_a_url_is_downloaded_checked_and_scored(
    bench: Benchmark, served: Served, tmp_path: Path
) -> None:
    snakefile = (bench.repo / "Snakefile").read_text()
    assert 'include: "workflow/rules/external.smk"' in snakefile, "Snakefile must include it"
    config = url_config(bench, tmp_path, "ext_url", {"url": served.url, "sha256": served.sha256})
    per_method, aggregates = split_aggregates(job_counts(bench.snakemake("-n", config=config)))
    assert per_method == {"evaluate": 1}
    assert {"download_external_ext_url", "unpack_external_ext_url", "leaderboard"} <= aggregates
    summary = "results/tiny/{}/evaluation/summary.json"
    bench.snakemake(*CORES, "--", summary.format("ext_url"), config=config)
    scores = [
        json.loads((bench.workdir / summary.format(m)).read_text())
        for m in ("threshold_cc", "ext_url")
    ]
    assert scores[0]["combined"]["S"] == scores[1]["combined"]["S"]
    unpacked = bench.workdir / "resources/external/ext_url"
    names = sorted(p.name for p in unpacked.iterdir() if not p.name.startswith("."))
    assert names == ["synth_c002.zarr", "synth_p002.zarr"]


@pytest.mark.slow
def test_external_archive_with_a_wrong_checksum_is_refused(
    bench: Benchmark, served: Served, tmp_path: Path
) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    config = url_config(bench, tmp_path, "ext_bad", {"url": served.url, "sha256": wrong})
    target = "results/tiny/ext_bad/evaluation/summary.json"
    out = bench.snakemake("--cores", "1", "--", target, config=config, check=False)
    assert "sha256 mismatch" in out
    assert not (bench.workdir / "resources/external/ext_bad.zip").exists()
    assert not (bench.workdir / "resources/external/ext_bad").exists()


@pytest.mark.slow
def test_external_url_needs_a_checksum(bench: Benchmark, tmp_path: Path) -> None:
    config = url_config(bench, tmp_path, "ext_nosum", {"url": "https://example.org/p.zip"})
    out = bench.snakemake("-n", config=config, check=False)
    assert "'sha256' is a required property" in out and "instance['methods']['ext_nosum']" in out


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_unpack_finds_predictions_at_the_root_or_in_one_folder(tmp_path: Path) -> None:
    unpack = extract_predictions
    flat = make_zip(tmp_path / "flat.zip", {"a.tif": b"1", "b.zarr/.zgroup": b"{}"})
    wrapped = make_zip(tmp_path / "wrapped.zip", {"preds/a.h5": b"1", "preds/b.tiff": b"2"})
    assert sorted(p.name for p in unpack(flat, tmp_path / "flat").iterdir()) == ["a.tif", "b.zarr"]
    assert sorted(p.name for p in unpack(wrapped, tmp_path / "w").iterdir()) == ["a.h5", "b.tiff"]


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ({"../evil.tif": b"1"}, "'..' path component"),
        ({"/abs.tif": b"1"}, "absolute path"),
        ({"readme.txt": b"1"}, "no <sample>"),
    ],
)
def test_unpack_refuses_unsafe_or_empty_archives(
    tmp_path: Path, members: dict[str, bytes], problem: str
) -> None:
    archive = make_zip(tmp_path / "bad.zip", members)
    with pytest.raises(FisbeError, match=re.escape(problem)):
        extract_predictions(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.zip"]


@pytest.mark.slow
def test_external_url_folder_must_stay_under_resources_external(
    bench: Benchmark, tmp_path: Path
) -> None:
    entry = {"url": "https://example.org/p.zip", "sha256": "0" * 64, "path": "results"}
    config = yaml.safe_load(url_config(bench, tmp_path, "ext_far", entry).read_text())
    config["methods"]["ext_far"]["path"] = "results"
    (tmp_path / "far.yaml").write_text(yaml.safe_dump(config))
    out = bench.snakemake("-n", config=tmp_path / "far.yaml", check=False)
    assert "methods.ext_far.path: with a url it must lie under resources/external/" in out

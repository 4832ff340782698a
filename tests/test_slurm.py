"""The tiny workflow through `profiles/slurm` on a real one-node SLURM cluster started here.

The cluster (`tests/slurm_cluster.py`) runs slurmctld, slurmd and munged from a temporary
directory. While Snakemake runs, the test cancels the first running prediction job with
`scancel`, a genuine transient cluster failure: the profile's `retries` must resubmit it and the
run must still finish. Skipped where SLURM or munge is not installed (CI installs both).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SNAKEMAKE, TINY, job_counts, snakemake, write_config
from slurm_cluster import SlurmCluster, slurm_cluster, unavailable_reason

# xdist: one SLURM cluster on this machine (one worker runs all of them)
pytestmark = pytest.mark.xdist_group("slurm")

PROFILE = REPO / "profiles/slurm/config.yaml"
# What this machine cannot honour from the shipped profile: no conda channel is reachable, so
# the test venv (pinned equal to the conda envs) stands in for the envs.
NOT_HERE = ("software-deployment-method", "conda-frontend")
VICTIM_RULE = "threshold_cc"


def profile_partitions(profile: dict) -> list[str]:
    """Partitions the profile sends jobs to, the default first."""
    names = [profile["default-resources"]["slurm_partition"]]
    names += [
        r["slurm_partition"] for r in profile["set-resources"].values() if "slurm_partition" in r
    ]
    return names


def profile_here(name: str, folder: Path, mem_caps: dict[str, int] | None = None) -> Path:
    """A shipped profile less conda (and, for a small node, ``mem_mb`` of the named rules
    set to a cap, a fixed value: a retry then asks for no more)."""
    profile = yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())
    for key in NOT_HERE:
        profile.pop(key, None)
    for rule, cap in (mem_caps or {}).items():
        profile["set-resources"].setdefault(rule, {})["mem_mb"] = cap
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    # munged's socket path must stay short (108 bytes): a short directory under /tmp.
    root = Path(tempfile.mkdtemp(prefix="fisbe-slurm-"))
    try:
        with slurm_cluster(root, profile_partitions(yaml.safe_load(PROFILE.read_text()))) as c:
            yield c
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cancel_first_running(cluster: SlurmCluster, proc: subprocess.Popen, rule: str) -> str:
    """Wait for the first running job of ``rule`` and cancel it; its SLURM job id."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        for job in cluster.jobs():
            if job["state"] == "RUNNING" and job["comment"].startswith(f"rule_{rule}_"):
                cluster.run("scancel", job["id"])
                return job["id"]
        time.sleep(0.2)
    pytest.fail(f"no {rule} job ever ran on the cluster\n{cluster.logs()}")


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_runs_through_slurm_and_survives_a_cancelled_job(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    """The tiny workflow submitted job by job to a real SLURM cluster, one job cancelled and
    resubmitted. Over 60 s: every job waits for SLURM's scheduling cycle and its accounting."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = write_config(workdir, TINY)
    expected = job_counts(snakemake(workdir, "--configfile", str(config), "-n").stdout)
    # The rules ask for real FISBe sizes; here two jobs at a time fit in memory.
    rules = snakemake(workdir, "--configfile", str(config), "--list-rules").stdout.split()
    cap = cluster.memory_mb // cluster.cpus
    profile = profile_here("slurm", tmp_path / "profile", dict.fromkeys(rules, cap))
    log = (tmp_path / "snakemake.log").open("w")
    proc = subprocess.Popen(
        [
            *SNAKEMAKE,
            "--directory",
            str(workdir),
            "--configfile",
            str(config),
            "--profile",
            str(profile),
            "--slurm-status-command",
            "squeue",
            "--slurm-no-account",
            "--slurm-init-seconds-before-status-checks",
            "1",
            "--slurm-keep-successful-logs",
        ],
        env=cluster.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        victim = cancel_first_running(cluster, proc, VICTIM_RULE)
        returncode = proc.wait(timeout=1500)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    output = (tmp_path / "snakemake.log").read_text()
    assert returncode == 0, f"{output[-6000:]}\n{cluster.logs()}"

    jobs = cluster.jobs()
    by_id = {job["id"]: job for job in jobs}
    # The transient failure: SLURM cancelled the job, Snakemake resubmitted it, it completed.
    assert by_id[victim]["state"] == "CANCELLED"
    assert f"SLURM-job '{victim}' failed, SLURM status is: 'CANCELLED'" in output
    retried = [
        j for j in jobs if j["comment"] == by_id[victim]["comment"] and int(j["id"]) > int(victim)
    ]
    assert [j["state"] for j in retried] == ["COMPLETED"]

    # Every job but the target rule `all` went through sbatch, once (plus the retry).
    assert {job["name"] for job in jobs} == {jobs[0]["name"]}, "one Snakemake run ID"
    completed: dict[str, int] = {}
    for job in jobs:
        if job["state"] == "COMPLETED":
            rule = job["comment"].removeprefix("rule_").split("_wildcards_")[0]
            completed[rule] = completed.get(rule, 0) + 1
    expected.pop("all")
    assert completed == expected
    assert len(jobs) == sum(expected.values()) + 1
    slurm_logs = workdir / ".snakemake/slurm_logs"
    assert {p.name for p in slurm_logs.iterdir()} == {f"rule_{rule}" for rule in expected}

    # The results are the workflow's own: a leaderboard, and nothing left to do.
    assert (workdir / "results/tiny/leaderboard/leaderboard.csv").stat().st_size > 0
    again = snakemake(workdir, "--configfile", str(config), "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_cluster_helper_refuses_cleanly_without_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "slurm-wlm" in (unavailable_reason() or "")


@pytest.mark.parametrize("name", ["local", "slurm"])
def test_profile_drives_a_dry_run(name: str, tmp_path: Path) -> None:
    """Every key of the profile is a real option (a typo is a hard error at startup)."""
    config = write_config(tmp_path, TINY)
    profile = profile_here(name, tmp_path / "profile")
    proc = snakemake(tmp_path, "--configfile", str(config), "--profile", str(profile), "-n")
    assert f"Using profile {profile}" in proc.stdout + proc.stderr
    assert job_counts(proc.stdout)["threshold_cc"] == 2


def test_profile_sizes_only_rules_that_exist(tmp_path: Path) -> None:
    """A renamed rule would silently fall back to the defaults (CPU partition, no GPU)."""
    config = write_config(tmp_path, TINY)
    rules = set(snakemake(tmp_path, "--configfile", str(config), "--list-rules").stdout.split())
    sized = yaml.safe_load(PROFILE.read_text())["set-resources"]
    assert set(sized) <= rules, f"not rules of the workflow: {sorted(set(sized) - rules)}"

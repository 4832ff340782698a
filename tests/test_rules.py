"""Every rule, read through the Snakemake API: its resources grow with the attempt, the
profiles only choose where jobs run, and its `code` param is its script's fingerprint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, write_config
from snakemake.api import SnakemakeApi
from snakemake.iocontainers import Wildcards
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

from fisbe_bench.fingerprint import code_fingerprint
from fisbe_bench.training import training_threads

# Zenodo metadata and downloads: the server's bytes, checked against checksums, not computed.
FETCHING = ("zenodo_record", "download_")
# Modules a rule's script imports by name at run time, for a unet_affinity method.
DYNAMIC = {"oracle": ["fisbe_bench.methods.unet_affinity.oracle"]}
GPU_RULES = {
    "train_unet_affinity",
    "predict_unet_affinity",
    "train_unet_affinity_fraction",
    "predict_unet_affinity_fraction",
    "train_unet_affinity_seed",
    "predict_unet_affinity_seed",
    "train_patchperpix",
    "predict_patchperpix",
}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The workflow of the real FISBe config (every method kind, a label-efficiency sweep)
    plus an external method from a URL, so that every kind of rule is defined."""
    workdir = tmp_path_factory.mktemp("rules")
    config = yaml.safe_load((REPO / "config/fisbe.yaml").read_text())
    config["methods"]["ext"] = {
        "kind": "external",
        "url": "https://example.org/p.zip",
        "sha256": "0" * 64,
        "path": "resources/external/ext",
    }
    with SnakemakeApi(OutputSettings(quiet=None)) as api:
        yield api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[write_config(workdir, config)]),
            snakefile=REPO / "Snakefile",
            workdir=workdir,
        )._workflow


def job_rules(workflow: Any) -> list[Any]:
    """Rules whose jobs a cluster runs: neither local rules nor target-only rules."""
    return [
        rule for rule in workflow.rules if rule.name not in workflow._localrules and not rule.norun
    ]


def test_every_rule_kind_is_covered(workflow: Any) -> None:
    names = {rule.name for rule in job_rules(workflow)}
    assert {"synth_dataset", "extract_fisbe", "evaluate", "evaluate_fraction"} <= names
    assert {"unpack_external_ext", "tune_colour_clustering", "oracle", *GPU_RULES} <= names
    local = {rule.name for rule in workflow.rules} - names
    assert local == {
        "all",
        "zenodo_record",
        "download_fisbe_completely",
        "download_fisbe_partly",
        "download_fisbe_split_file",
        "download_external_ext",
        "label_subset",
        "oracle_table",
    }


def test_job_rules_size_memory_and_runtime_growing_with_the_attempt(workflow: Any) -> None:
    for rule in job_rules(workflow):
        for name in ("mem_mb", "runtime"):
            assert name in rule.resources, f"{rule.name} has no {name}"
            first, second, third = (
                rule.resources[name].evaluate(Wildcards(), attempt=attempt).value
                for attempt in (1, 2, 3)
            )
            assert isinstance(first, int) and first > 0, (rule.name, name, first)
            assert (second, third) == (2 * first, 3 * first), (rule.name, name)
    sizes = {rule.name: rule.resources for rule in job_rules(workflow)}
    assert sizes["evaluate"]["mem_mb"].evaluate(Wildcards(), attempt=1).value == 32000
    assert sizes["train_unet_affinity"]["runtime"].evaluate(Wildcards(), attempt=1).value == 2880


def test_gpu_rules_ask_for_a_gpu(workflow: Any) -> None:
    with_gpu = {rule.name for rule in job_rules(workflow) if "gpu" in rule.resources}
    assert with_gpu == GPU_RULES


def test_profiles_only_choose_partitions_and_gpus() -> None:
    slurm = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert slurm["default-resources"] == {"slurm_partition": "cpu"}
    assert slurm["set-resources"] == dict.fromkeys(GPU_RULES, {"slurm_partition": "gpu", "gpu": 1})
    assert slurm["retries"] >= 1  # a retry gets more memory and time
    local = yaml.safe_load((REPO / "profiles/local/config.yaml").read_text())
    assert "set-resources" not in local and "default-resources" not in local


def test_computing_rules_carry_their_scripts_code_fingerprint(workflow: Any) -> None:
    wildcards = Wildcards(fromdict={"dataset": "fisbe", "method": "unet_affinity"})
    for rule in workflow.rules:
        if rule.script is None:
            continue
        script = Path(rule.basedir.get_path_or_uri(secret_free=True), rule.script).resolve()
        params = dict(rule.params.items())
        if rule.name.startswith(FETCHING):
            assert "code" not in params, rule.name
            continue
        expected = code_fingerprint(REPO / "src", script, DYNAMIC.get(rule.name, []))
        assert params["code"](wildcards) == expected, rule.name


def test_training_jobs_ask_for_a_core_per_loader_worker(workflow: Any) -> None:
    """Training: one core for the network plus one per data-loader worker of the preset (the
    demo presets load in-process, so the demo trains both regimes side by side); prediction:
    one core, so that predictions of several samples overlap."""
    rules = {rule.name: rule for rule in workflow.rules}

    def cores(rule: str, method: str) -> int:
        wildcards = Wildcards(fromdict={"dataset": "fisbe", "method": method, "sample": "s"})
        return int(rules[rule].resources["_cores"].evaluate(wildcards, attempt=1).value)

    for method, train, predict in [
        ("unet_affinity", "train_unet_affinity", "predict_unet_affinity"),
        ("patchperpix", "train_patchperpix", "predict_patchperpix"),
    ]:
        preset = yaml.safe_load((REPO / workflow.config["methods"][method]["preset"]).read_text())
        assert cores(train, method) == 1 + preset["num_workers"] > 1
        assert cores(predict, method) == 1
    assert training_threads({"kind": "unet_affinity", "preset": "config/unet/demo.yaml"}, REPO) == 1
    assert training_threads({"kind": "colour_clustering"}, REPO) == 1

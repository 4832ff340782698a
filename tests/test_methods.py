"""The method interface: ``Params.from_config`` of every kind; B1 on a GPU rule."""

from __future__ import annotations

import pytest
import yaml
from conftest import REPO
from snakemake.utils import validate

from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import colour_clustering, patchperpix, threshold_cc, unet_affinity

KINDS = {
    "threshold_cc": threshold_cc,
    "colour_clustering": colour_clustering,
    "unet_affinity": unet_affinity,
    "patchperpix": patchperpix,
}


@pytest.mark.parametrize("config_file", ["config/config.yaml", "config/fisbe.yaml"])
def test_validated_config_entries_give_the_default_params(config_file: str) -> None:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    config.update(yaml.safe_load((REPO / config_file).read_text()))
    config["methods"]["ext"] = {"kind": "external", "path": "elsewhere"}
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"))
    for entry in config["methods"].values():
        if entry["kind"] != "external":
            module = KINDS[entry["kind"]]
            assert module.Params.from_config(entry) == module.Params()


def test_from_config_reads_params_keys_and_skips_workflow_keys() -> None:
    entry = {"kind": "threshold_cc", "threshold": 1, "otsu": True, "min_size": 5}
    assert threshold_cc.Params.from_config(entry) == threshold_cc.Params(1.0, True, 5)
    entry = {"kind": "colour_clustering", "grid": "g.yaml", "unmix": False, "min_size": 9}
    params = colour_clustering.Params.from_config(entry)
    assert params == colour_clustering.Params(unmix=False, min_size=9)
    entry = {"kind": "unet_affinity", "preset": "p.yaml", "merge_bias": 0.7}
    assert unet_affinity.Params.from_config(entry) == unet_affinity.Params(merge_bias=0.7)


@pytest.mark.parametrize(
    ("kind", "entry", "message"),
    [
        ("threshold_cc", {"treshold": 0.3}, "unknown config key 'treshold'"),
        ("threshold_cc", {"grid": "config/colour_grid.yaml"}, "unknown config key 'grid'"),
        ("colour_clustering", {"otsu": True}, "unknown config key 'otsu'"),
        ("unet_affinity", {"threshold": 0.3}, "unknown config key 'threshold'"),
        ("unet_affinity", {"kind": "threshold_cc"}, "kind 'threshold_cc'"),
        ("threshold_cc", {"otsu": "yes"}, "'otsu' must be a bool"),
    ],
)
def test_from_config_rejects_what_is_not_its_own(kind: str, entry: dict, message: str) -> None:
    with pytest.raises(FisbeError, match=message):
        KINDS[kind].Params.from_config(entry)


def test_gpu_rule_without_cuda_warns_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    from fisbe_bench.methods.unet_affinity.predict import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", expect_gpu=True).type == "cpu"
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["warning: CUDA is not available, unet_affinity falls back to CPU"]
    assert resolve_device("auto").type == "cpu"
    assert capsys.readouterr().err == ""


def test_loader_workers_fit_the_rule_threads() -> None:
    pytest.importorskip("torch")
    from fisbe_bench.methods.unet_affinity.train import loader_workers

    assert loader_workers(8) == 8  # no rule: the preset decides
    assert [loader_workers(8, threads) for threads in (1, 2, 9, 16)] == [0, 1, 8, 8]
    assert loader_workers(0, 4) == 0

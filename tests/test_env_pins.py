"""The test environment must equal the conda env pins (one source of truth)."""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
from env_pins import PIN, read_pins  # noqa: E402

PINS = read_pins(REPO / "workflow" / "envs")


@pytest.mark.parametrize("name", sorted(PINS))
def test_installed_version_equals_pin(name: str) -> None:
    installed = metadata.version(name).split("+")[0]  # torch's "+cpu" local tag
    assert installed == PINS[name], f"{name}: venv has {installed}, envs pin {PINS[name]}"


def test_every_env_pins_python_311_and_uses_conda_forge_only() -> None:
    for env in (REPO / "workflow" / "envs").glob("*.yaml"):
        text = env.read_text()
        assert "  - conda-forge\n  - nodefaults\n" in text, env.name
        assert "  - python=3.11\n" in text, env.name
        assert "pip:" not in text, f"{env.name}: pip sections are dropped by pin files"
    assert sys.version_info[:2] == (3, 11)


def test_loose_pin_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("channels:\n  - conda-forge\ndependencies:\n  - numpy>=2\n")
    with pytest.raises(SystemExit, match="not an exact pin"):
        read_pins(tmp_path)


def test_conflicting_pins_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("dependencies:\n  - numpy=2.0.0\n")
    (tmp_path / "b.yaml").write_text("dependencies:\n  - numpy=2.1.0\n")
    with pytest.raises(SystemExit, match="conflicts"):
        read_pins(tmp_path)


def test_pin_pattern_and_cli_output() -> None:
    assert PIN.match("  - pytorch=2.13.0").groups() == ("pytorch", "2.13.0")
    out = subprocess.run(
        [sys.executable, str(REPO / "tools" / "env_pins.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "torch==2.13.0" in out.splitlines()


def test_every_rule_env_exists() -> None:
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for line in rules.read_text().splitlines():
            if '"../envs/' in line:
                env = line.strip().strip('",').replace("../envs/", "")
                assert (REPO / "workflow" / "envs" / env).is_file(), f"{rules.name}: {env}"

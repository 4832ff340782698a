"""The test environment must equal the conda env pins (one source of truth)."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO
from packaging.requirements import Requirement

sys.path.insert(0, str(REPO / "tools"))
from env_pins import PIN, PYPI_NAME, SKIP, read_env, read_pins  # noqa: E402

ENVS = REPO / "workflow" / "envs"
PINS = read_pins(ENVS)
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("name", sorted(PINS))
def test_installed_version_equals_pin(name: str) -> None:
    installed = metadata.version(name).split("+")[0]  # torch's "+cpu" local tag
    assert installed == PINS[name], f"{name}: venv has {installed}, envs pin {PINS[name]}"


def test_every_env_pins_python_311_and_puts_conda_forge_first() -> None:
    for env in ENVS.glob("*.yaml"):
        text = env.read_text()
        channels = re.findall(r"^  - (\S+)$", text.split("dependencies:")[0], re.M)
        assert channels[0] == "conda-forge" and channels[-1] == "nodefaults", env.name
        assert set(channels) <= {"conda-forge", "bioconda", "nodefaults"}, env.name
        assert "  - python=3.11\n" in text, env.name
    assert sys.version_info[:2] == (3, 11)


def test_pip_section_pins_are_read_as_they_are() -> None:
    conda, pip = read_env(ENVS / "classical.yaml")
    assert pip == {"mwatershed": PINS["mwatershed"]}
    assert "pip" in conda and "mwatershed" not in conda
    assert read_env(ENVS / "torch.yaml")[0]["pytorch"] == PINS["torch"]


@pytest.mark.parametrize(
    ("deps", "problem"),
    [
        ("  - numpy>=2\n", "not an exact pin"),
        ("  - numpy\n", "not an exact pin"),
        ("  - numpy==2.0.0\n", "not an exact pin"),
        ("  - pip=26.0\n  - pip:\n      - mwatershed>=0.5\n", "not an exact pin"),
        ("  - pip=26.0\n  - pip:\n      - mwatershed=0.5.4\n", "not an exact pin"),
        ("  - pip=26.0\n  - pip:\n      - mwatershed\n", "not an exact pin"),
        ("  - numpy=2.0.0\n  - pip:\n      - mwatershed==0.5.4\n", "pip itself pinned"),
    ],
)
def test_loose_pins_and_unpinned_pip_are_rejected(tmp_path: Path, deps: str, problem: str) -> None:
    (tmp_path / "x.yaml").write_text(f"channels:\n  - conda-forge\ndependencies:\n{deps}")
    with pytest.raises(SystemExit, match=problem):
        read_pins(tmp_path)


def test_conflicting_pins_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("dependencies:\n  - numpy=2.0.0\n")
    (tmp_path / "b.yaml").write_text("dependencies:\n  - numpy=2.1.0\n")
    with pytest.raises(SystemExit, match="conflicts"):
        read_pins(tmp_path)


def test_pin_pattern_and_cli_output() -> None:
    assert PIN.match("  - pytorch=2.13.0").groups() == ("pytorch", "=", "2.13.0", None)
    assert PIN.match("  - pytorch=2.13.0=cuda*").group(4) == "cuda*"
    assert PIN.match("      - mwatershed==0.5.4").group(1, 3) == ("mwatershed", "0.5.4")
    out = subprocess.run(
        [sys.executable, str(REPO / "tools" / "env_pins.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"torch=={PINS['torch']}" in out.splitlines()
    assert f"mwatershed=={PINS['mwatershed']}" in out.splitlines()


def test_every_rule_env_exists() -> None:
    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for line in rules.read_text().splitlines():
            if '"../envs/' in line:
                env = line.strip().strip('",').replace("../envs/", "")
                assert (REPO / "workflow" / "envs" / env).is_file(), f"{rules.name}: {env}"


def requirements() -> list[Requirement]:
    """pyproject's base dependencies and every extra."""
    extras = PROJECT["optional-dependencies"].values()
    return [Requirement(r) for r in [*PROJECT["dependencies"], *(r for e in extras for r in e)]]


@pytest.mark.parametrize("req", requirements(), ids=str)
def test_every_pin_satisfies_its_pyproject_range(req: Requirement) -> None:
    assert req.name in PINS, f"{req.name} is a dependency but no env pins it"
    assert req.specifier.contains(PINS[req.name]), f"{req.name}=={PINS[req.name]} not in {req}"


def test_base_dependencies_cover_every_rule_env_but_torch() -> None:
    base = {Requirement(r).name for r in PROJECT["dependencies"]}
    torch_extra = {Requirement(r).name for r in PROJECT["optional-dependencies"]["torch"]}
    rule_envs = set()
    for env in ENVS.glob("*.yaml"):
        if env.name != "dev.yaml":
            conda, pip = read_env(env)
            rule_envs |= {PYPI_NAME.get(name, name) for name in [*conda, *pip]} - SKIP
    assert "torch" not in base and torch_extra == {"torch"}
    assert rule_envs - {"torch"} <= base, f"not a dependency: {rule_envs - {'torch'} - base}"

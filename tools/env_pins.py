#!/usr/bin/env python3
"""Turn the exact pins in workflow/envs/*.yaml into pip requirements.

The env files are the single source of truth for versions: CI installs the test
virtual environment from this output, and tests/test_env_pins.py checks that the
installed versions equal these pins. Conda pins read ``name=version`` (optionally
``=build``, e.g. ``pytorch=2.13.0=cuda*``) and are renamed to their PyPI names; pins in a
``pip:`` section read ``name==version`` and are taken as they are. An env with a ``pip:``
section must pin ``pip`` itself. Standard library only (runs before any install).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ENV_DIR = Path(__file__).resolve().parents[1] / "workflow" / "envs"
# conda-forge name -> PyPI name, where they differ
PYPI_NAME = {"pytorch": "torch", "napari-base": "napari"}
SKIP = {"python", "pip"}
# "- name=version[=build]" (conda) or "- name==version" (pip section)
PIN = re.compile(
    r"^\s*-\s*([A-Za-z0-9_.\-]+)\s*(==?)\s*([0-9][^\s=#]*)(?:=([^\s=#]+))?\s*(?:#.*)?$"
)
PIP_SECTION = re.compile(r"^(\s*)-\s*pip:\s*(?:#.*)?$")


def read_env(env: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(conda pins, pip-section pins) of one env file, each name -> version, names as written."""
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    in_deps = False
    pip_indent: int | None = None
    for line in env.read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and line and not line.startswith((" ", "-")):
            in_deps = False
        if not in_deps or not line.strip().startswith("-"):
            continue
        indent = len(line) - len(line.lstrip())
        if pip_indent is not None and indent <= pip_indent:
            pip_indent = None
        if section := PIP_SECTION.match(line):
            pip_indent = len(section.group(1))
            continue
        match = PIN.match(line)
        in_pip = pip_indent is not None
        if not match or (match.group(2) == "==") != in_pip or (in_pip and match.group(4)):
            form = "name==version in a pip: section" if in_pip else "name=version[=build]"
            raise SystemExit(f"{env}: not an exact pin ({form}): {line.strip()!r}")
        (pip if in_pip else conda)[match.group(1)] = match.group(3)
    if pip and "pip" not in conda:
        raise SystemExit(f"{env}: a pip: section needs pip itself pinned (pip=X.Y)")
    return conda, pip


def read_pins(env_dir: Path = ENV_DIR) -> dict[str, str]:
    """Map PyPI name -> version over all env files; conflicting pins are an error."""
    pins: dict[str, str] = {}
    for env in sorted(env_dir.glob("*.yaml")):
        conda, pip = read_env(env)
        named = [(PYPI_NAME.get(name, name), version) for name, version in conda.items()]
        for name, version in [*named, *pip.items()]:
            if name in SKIP:
                continue
            if pins.setdefault(name, version) != version:
                raise SystemExit(f"{env}: {name}={version} conflicts with {pins[name]}")
    return pins


def main() -> None:
    """Print ``name==version`` lines for pip."""
    for name, version in sorted(read_pins().items()):
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()

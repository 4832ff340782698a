#!/usr/bin/env python3
"""Turn the exact conda pins in workflow/envs/*.yaml into pip requirements.

The env files are the single source of truth for versions: CI installs the test
virtual environment from this output, and tests/test_env_pins.py checks that the
installed versions equal these pins. Standard library only (runs before any install).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ENV_DIR = Path(__file__).resolve().parents[1] / "workflow" / "envs"
# conda-forge name -> PyPI name, where they differ
PYPI_NAME = {"pytorch": "torch"}
SKIP = {"python", "pip"}
PIN = re.compile(r"^\s*-\s*([A-Za-z0-9_.\-]+)\s*=\s*([0-9][^\s=#]*)\s*(?:#.*)?$")


def read_pins(env_dir: Path = ENV_DIR) -> dict[str, str]:
    """Map PyPI name -> version over all env files; conflicting pins are an error."""
    pins: dict[str, str] = {}
    for env in sorted(env_dir.glob("*.yaml")):
        in_deps = False
        for line in env.read_text().splitlines():
            if line.startswith("dependencies:"):
                in_deps = True
                continue
            if in_deps and line and not line.startswith((" ", "-")):
                in_deps = False
            match = PIN.match(line) if in_deps else None
            if in_deps and line.strip().startswith("-") and not match:
                raise SystemExit(f"{env}: not an exact pin: {line.strip()!r}")
            if not match or match.group(1) in SKIP:
                continue
            name = PYPI_NAME.get(match.group(1), match.group(1))
            if pins.setdefault(name, match.group(2)) != match.group(2):
                raise SystemExit(f"{env}: {name}={match.group(2)} conflicts with {pins[name]}")
    return pins


def main() -> None:
    """Print ``name==version`` lines for pip."""
    for name, version in sorted(read_pins().items()):
        sys.stdout.write(f"{name}=={version}\n")


if __name__ == "__main__":
    main()

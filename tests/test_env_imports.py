"""Each rule's conda env holds every third-party package its script can import.

Inside a conda job the host's site-packages are appended to ``sys.path``, so a package
missing from an env would silently leak in from the host; this static check catches it.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "src" / "fisbe_bench"
sys.path.insert(0, str(REPO / "tools"))
from env_pins import PIN  # noqa: E402

# import name -> conda-forge package name, where they differ
CONDA_NAME = {
    "cc3d": "connected-components-3d",
    "skimage": "scikit-image",
    "torch": "pytorch",
    "yaml": "pyyaml",
    "tomli_w": "tomli-w",
    "sklearn": "scikit-learn",
}
STDLIB = set(sys.stdlib_module_names)


def rule_envs() -> list[tuple[str, str]]:
    """(script, env file) for every rule in workflow/rules."""
    pairs = []
    for rules in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=\S)|\n\s+rule:", rules.read_text()):
            env = re.search(r'"\.\./envs/([\w.]+)"', block)
            script = re.search(r'"\.\./scripts/([\w.]+)"', block)
            if env and script:
                pairs.append((script.group(1), env.group(1)))
    return pairs


def imports(path: Path) -> set[str]:
    """Every imported dotted module name in a file, lazy imports inside functions included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    for candidate in (
        PACKAGE.joinpath(*parts).with_suffix(".py"),
        PACKAGE.joinpath(*parts, "__init__.py"),
    ):
        if parts and candidate.is_file():
            return candidate
    return PACKAGE / "__init__.py" if not parts else None


def third_party_imports(script: Path) -> set[str]:
    """Top-level third-party packages reachable from a script through fisbe_bench."""
    seen: set[Path] = set()
    todo = [script]
    found = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports(path):
            top = name.split(".")[0]
            if top == "fisbe_bench":
                target = module_file(name)
                if target is not None:
                    todo.append(target)
            elif top not in STDLIB and top != "snakemake":
                found.add(top)
    return found


def env_packages(env: str) -> set[str]:
    text = (REPO / "workflow" / "envs" / env).read_text()
    return {m.group(1) for line in text.splitlines() if (m := PIN.match(line))}


PAIRS = rule_envs()


def test_rules_were_found() -> None:
    assert len(PAIRS) >= 8
    assert ("evaluate.py", "metrics.yaml") in PAIRS


@pytest.mark.parametrize(("script", "env"), PAIRS)
def test_env_holds_every_import(script: str, env: str) -> None:
    needed = {
        CONDA_NAME.get(top, top)
        for top in third_party_imports(REPO / "workflow" / "scripts" / script)
    }
    missing = needed - env_packages(env)
    assert not missing, f"{script} imports {sorted(missing)} but workflow/envs/{env} lacks them"

"""Code fingerprints: the static import closure of a workflow script, and its hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from fisbe_bench.fingerprint import code_fingerprint, import_closure, imported_names

SCRIPTS = REPO / "workflow/scripts"
SRC = REPO / "src"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A small ``fisbe_bench`` under ``tmp_path/src`` and a script ``tmp_path/run.py``."""
    write(
        tmp_path / "src/fisbe_bench",
        {
            "__init__.py": "",
            "errors.py": "",
            "unused.py": "",
            "late.py": "",
            "tried.py": "",
            "handled.py": "",
            "methods/__init__.py": "from fisbe_bench.errors import FisbeError\n",
            "methods/a/__init__.py": "from .params import Params\n",
            "methods/a/params.py": "from ... import errors\n",
            "methods/a/run.py": (
                "from . import params\n"
                "from .params import Params\n"
                "def go():\n"
                "    import fisbe_bench.late as late\n"
            ),
            "methods/b.py": "",
            "metrics/__init__.py": "from fisbe_bench.metrics.core import score\n",
            "metrics/core.py": "import numpy\n",
        },
    )
    (tmp_path / "run.py").write_text(
        "import json\n"
        "from fisbe_bench.methods.a.run import go\n"
        "from . import unused  # relative: not the package's\n"
        "if True:\n"
        "    from fisbe_bench import metrics, __version__\n"
        "class C:\n"
        "    def m(self):\n"
        "        with open(__file__):\n"
        "            from fisbe_bench import tried\n"
        "try:\n"
        "    pass\n"
        "except ImportError:\n"
        "    import fisbe_bench.handled\n"
    )
    return tmp_path


def test_closure_follows_imports_anywhere_and_includes_parent_packages(package: Path) -> None:
    closure = import_closure(package / "src", package / "run.py")
    assert list(closure) == [
        "fisbe_bench",
        "fisbe_bench.errors",
        "fisbe_bench.handled",  # in an except block
        "fisbe_bench.late",  # imported inside a function
        "fisbe_bench.methods",
        "fisbe_bench.methods.a",  # the package of run, its __init__ imports params
        "fisbe_bench.methods.a.params",
        "fisbe_bench.methods.a.run",
        "fisbe_bench.metrics",  # `from fisbe_bench import metrics`: a subpackage
        "fisbe_bench.metrics.core",
        "fisbe_bench.tried",  # in a with block of a method
    ]
    assert closure["fisbe_bench.methods.a"] == package / "src/fisbe_bench/methods/a/__init__.py"
    assert closure["fisbe_bench.late"] == package / "src/fisbe_bench/late.py"


def test_relative_imports_resolve_against_the_package(package: Path) -> None:
    a = package / "src/fisbe_bench/methods/a"
    assert imported_names(a / "run.py", "fisbe_bench.methods.a") >= {
        "fisbe_bench.methods.a",
        "fisbe_bench.methods.a.params",
        "fisbe_bench.methods.a.params.Params",
        "fisbe_bench.late",
    }
    assert imported_names(a / "params.py", "fisbe_bench.methods.a") == {
        "fisbe_bench",
        "fisbe_bench.errors",
    }
    # An __init__ is its own package; outside the package relative imports are skipped.
    assert imported_names(a / "__init__.py", "fisbe_bench.methods.a") == {
        "fisbe_bench.methods.a.params",
        "fisbe_bench.methods.a.params.Params",
    }
    assert "fisbe_bench.unused" not in imported_names(package / "run.py", None)


def test_modules_imported_by_name_are_given_by_the_caller(package: Path) -> None:
    src, script = package / "src", package / "run.py"
    plain = import_closure(src, script)
    assert "fisbe_bench.methods.b" not in plain
    named = import_closure(src, script, ["fisbe_bench.methods.b"])
    assert set(named) == {*plain, "fisbe_bench.methods.b"}
    assert code_fingerprint(src, script, ["fisbe_bench.methods.b"]) != code_fingerprint(src, script)


def test_fingerprint_changes_with_a_module_of_the_closure_only(package: Path) -> None:
    src, script = package / "src", package / "run.py"
    before = code_fingerprint(src, script)
    assert code_fingerprint(src, script) == before
    assert len(before) == 64
    outside = src / "fisbe_bench/methods/b.py"
    outside.write_text(outside.read_text() + "# another method\n")
    assert code_fingerprint(src, script) == before
    inside = src / "fisbe_bench/metrics/core.py"
    original = inside.read_text()
    inside.write_text(original + "# a comment\n")
    assert code_fingerprint(src, script) != before
    inside.write_text(original)
    assert code_fingerprint(src, script) == before


def test_fingerprint_covers_module_names_not_only_bytes(package: Path) -> None:
    src = package / "src"
    (package / "x.py").write_text("from fisbe_bench import errors\n")
    (package / "y.py").write_text("from fisbe_bench import late\n")
    assert code_fingerprint(src, package / "x.py") != code_fingerprint(src, package / "y.py")


def method_kinds(script: Path) -> set[str]:
    """The method kinds whose modules the script's closure holds."""
    return {
        name.split(".")[2]
        for name in import_closure(SRC, script)
        if name.startswith("fisbe_bench.methods.")
    }


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.py")), ids=lambda p: p.stem)
def test_each_script_closure_holds_at_most_its_own_method(script: Path) -> None:
    """Package __init__s must not pull every method into every fingerprint."""
    kinds = method_kinds(script)
    own = {k for k in ("threshold_cc", "colour_clustering", "unet_affinity") if k in script.stem}
    if "patchperpix" in script.stem:  # B3 is built on B1: a B1 change reruns B3 too
        own = {"patchperpix", "unet_affinity"}
    assert kinds == own, kinds


def test_real_closures_are_as_narrow_as_their_imports() -> None:
    evaluate = import_closure(SRC, SCRIPTS / "evaluate.py")
    assert "fisbe_bench.metrics.match" in evaluate and "fisbe_bench.volumes" in evaluate
    assert "fisbe_bench.methods" not in evaluate and "fisbe_bench.reports" not in evaluate
    threshold = import_closure(SRC, SCRIPTS / "threshold_cc.py")
    assert "fisbe_bench.methods" in threshold  # methods/__init__.py: stdlib only, shared
    assert "fisbe_bench.metrics" not in threshold
    decode = import_closure(SRC, SCRIPTS / "unet_affinity_instances.py")
    assert "fisbe_bench.methods.unet_affinity.train" not in decode
    assert "fisbe_bench.methods.unet_affinity.model" not in decode  # no torch
    # Tuning scores parameter sets and training keeps its best checkpoint by the FISBe score:
    # the metrics are their code too.
    # The oracle imports its kind's module by name; the workflow names it (oracle.smk).
    oracle = import_closure(
        SRC, SCRIPTS / "oracle.py", ["fisbe_bench.methods.unet_affinity.oracle"]
    )
    assert "fisbe_bench.methods.unet_affinity.instances" in oracle
    for script in ("colour_clustering_tune.py", "unet_affinity_tune.py", "unet_affinity_train.py"):
        assert "fisbe_bench.metrics.match" in import_closure(SRC, SCRIPTS / script)

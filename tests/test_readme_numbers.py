"""Every figure the README quotes in "Results on the synthetic default" and "Performance" comes
from a results file: each numeric token there must occur as a token in some
``benchmarks/RESULTS-*.md``, and each command the Performance table quotes must be written in
one (the benchmark scripts write their command, machine and numbers there themselves). And no
quoted figure is stale: the code fingerprints its section recorded equal HEAD's."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import results_file  # noqa: E402

SECTIONS = ("Results on the synthetic default", "Performance")
NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)*(?![A-Za-z0-9_])")
"""A number standing alone: ``0.46``, ``5`` of ``5 min``, ``176`` of ``72×176×176``, ``48`` of
``48³``; not the digits inside names such as ``R14A02``, ``bf16`` or ``x86_64``."""


def section(markdown: str, title: str) -> str:
    """The text under the ``## <title>...`` heading, up to the next heading of level 2."""
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"README has no section '## {title}'"
    return match[1]


def tokens(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def missing_numbers(readme: str, results: list[str]) -> dict[str, str]:
    """README numbers of the checked sections found in no results text: token -> its line."""
    known = set().union(*(tokens(text) for text in results))
    missing: dict[str, str] = {}
    for title in SECTIONS:
        for line in section(readme, title).splitlines():
            for token in sorted(tokens(line) - known):
                missing.setdefault(token, line.strip())
    return missing


def table_commands(readme: str) -> list[str]:
    """The commands of the Performance table (its last column, each in backticks)."""
    rows = [line for line in section(readme, "Performance").splitlines() if line.startswith("| ")]
    return [cmd for row in rows[1:] for cmd in re.findall(r"`([^`]+)`", row.split(" | ")[-1])]


def quoted_commands(readme: str) -> list[str]:
    """The commands whose figures the README quotes: the Performance table's and those of the
    Results section (``python benchmarks/...``), spelt as the results files record them
    (``python``, where the README may say ``python3``)."""
    results = section(readme, "Results on the synthetic default")
    demo = re.findall(r"`(python3? benchmarks/[^`]+)`", results)
    quoted = [re.sub(r"^python3 ", "python ", c) for c in [*demo, *table_commands(readme)]]
    return list(dict.fromkeys(quoted))


def results_texts() -> list[str]:
    return [path.read_text() for path in sorted((REPO / "benchmarks").glob("RESULTS-*.md"))]


def test_every_readme_number_is_in_a_results_file() -> None:
    missing = missing_numbers((REPO / "README.md").read_text(), results_texts())
    assert not missing, "README numbers in no benchmarks/RESULTS-*.md:\n" + "\n".join(
        f"  {token}: {line}" for token, line in missing.items()
    )


def test_every_performance_command_is_in_a_results_file() -> None:
    commands = table_commands((REPO / "README.md").read_text())
    assert len(commands) >= 8
    texts = "\n".join(results_texts())
    assert [c for c in commands if c not in texts] == []


def test_the_check_sees_both_sections() -> None:
    readme = (REPO / "README.md").read_text()
    for title in SECTIONS:
        assert len(tokens(section(readme, title))) >= 10, title


def test_a_number_in_no_results_file_fails() -> None:
    readme = (
        "## Results on the synthetic default\n| B2 | 0.46 [0.42, 0.51] |\n"
        "## Performance\n| what | figure | command |\n|---|---|---|\n"
        "| `make demo` | 5 min 30 s, R14A02, bf16 | `python x.py` |\n"
        "Prose: 0.73 / 0.44.\n## Configuration\nnot checked: 9.99\n"
    )
    results = ["S 0.46 [0.42, 0.51], 5 min 30 s wall, 0.73", "0.44"]
    assert missing_numbers(readme, results) == {}
    assert missing_numbers(readme, results[:1]) == {"0.44": "Prose: 0.73 / 0.44."}
    assert missing_numbers(readme.replace("0.51", "0.52"), results) == {
        "0.52": "| B2 | 0.46 [0.42, 0.52] |"
    }
    assert table_commands(readme) == ["python x.py"]


def test_number_tokens() -> None:
    text = "72×176×176, 2 × 48³, R14A02 bf16 x86_64, 5 min 30 s; 0.42, v2.13.0 (3)."
    assert tokens(text) == {"72", "176", "2", "48", "5", "30", "0.42", "3"}


def test_each_benchmark_has_its_results_file() -> None:
    paths = sorted(Path(REPO / "benchmarks").glob("RESULTS-*.md"))
    assert {p.stem for p in paths} >= {
        "RESULTS-demo",
        "RESULTS-ci",
        "RESULTS-metrics",
        "RESULTS-synth",
        "RESULTS-zenodo",
        "RESULTS-dryrun",
        "RESULTS-colour",
        "RESULTS-unet",
        "RESULTS-official",
    }


def sections_of(command: str) -> list[results_file.Section]:
    """The results sections ``command`` wrote."""
    return [
        found
        for path in sorted((REPO / "benchmarks").glob("RESULTS-*.md"))
        for found in results_file.read_sections(path)
        if found.command == command
    ]


BENCH_CI = "python benchmarks/bench_ci.py"
"""The one benchmark that runs this test: while it runs (``FISBE_BENCH_CI`` set), its own
section describes the commit before, so only its section is exempt, and only then."""


def test_quoted_figures_were_measured_on_todays_code() -> None:
    """A README figure comes from a section whose recorded code fingerprints equal HEAD's:
    edit a method, the metrics or the workflow without rerunning its benchmark and this fails."""
    commands = quoted_commands((REPO / "README.md").read_text())
    assert "python benchmarks/bench_demo.py --cores 2" in commands
    assert BENCH_CI in commands
    if os.environ.get("FISBE_BENCH_CI"):
        commands = [c for c in commands if c != BENCH_CI]
    stale = {}
    for command in commands:
        sections = sections_of(command)
        assert sections, f"no results section was written by `{command}`"
        for found in sections:
            if keys := results_file.stale_keys(found):
                stale[f"{found.path.name}: {command} (commit {found.commit})"] = keys
    assert not stale, "README figures measured on other code; rerun:\n" + "\n".join(
        f"  {where}: {', '.join(keys)}" for where, keys in stale.items()
    )


@pytest.mark.parametrize(
    ("key", "edit"),
    [
        ("benchmarks/bench_x.py", "src/fisbe_bench/metrics/match.py"),
        (
            "benchmarks/bench_x.py[fisbe_bench.methods.threshold_cc]",
            "src/fisbe_bench/methods/threshold_cc.py",
        ),
        ("tree:workflow", "config/unet/demo.yaml"),
        ("tree:tests", "tests/conftest.py"),
    ],
)  # fmt: skip
def test_an_edit_makes_a_section_stale(tmp_path: Path, key: str, edit: str) -> None:
    """A section's fingerprints follow the code they name: equal on a copy, different after an
    edit of one file they cover, unchanged by an edit of a file they do not cover."""
    for part in ("src", "workflow", "config", "tests", "tools", ".ci"):
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "data")
        shutil.copytree(REPO / part, tmp_path / part, symlinks=True, ignore=ignore)
    for name in ("Snakefile", "Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, tmp_path / name)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks/bench_x.py").write_text("from fisbe_bench.metrics import evaluate\n")
    (tmp_path / "README.md").write_text("not fingerprinted\n")
    found = results_file.Section(
        tmp_path / "RESULTS-x.md", "python benchmarks/bench_x.py", "abc1234",
        {key: results_file.fingerprint(key, tmp_path)},
    )  # fmt: skip
    assert results_file.stale_keys(found, tmp_path) == []
    (tmp_path / "README.md").write_text("edited\n")
    assert results_file.stale_keys(found, tmp_path) == []
    path = tmp_path / edit
    path.write_bytes(path.read_bytes() + b"\n# edited\n")
    assert results_file.stale_keys(found, tmp_path) == [key]
    assert results_file.stale_keys(results_file.Section(found.path, "c", "x", {}), tmp_path)

"""Every figure the README quotes in "Results on the synthetic default" and "Performance" comes
from a results file: each numeric token there must occur as a token in some
``benchmarks/RESULTS-*.md``, and each command the Performance table quotes must be written in
one (the benchmark scripts write their command, machine and numbers there themselves)."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO

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

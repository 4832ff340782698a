"""Writing ``benchmarks/RESULTS-<name>.md``: the one helper every benchmark script shares.

A script calls :func:`add_out_option` on its parser, :func:`started` before measuring and
:func:`write_section` at the end. The section it writes holds the date, the machine (cores, CPU
model, RAM, load average before and after), the exact command, the raw numbers (JSON) and the
script's table. It sits between two marker comments keyed by script and mode, so a rerun
replaces only its own section; hand-written notes elsewhere in the file are kept.

Each section also records the code it measured (``- code: {...}``): the fingerprint of the
package modules the benchmark script imports (:func:`fisbe_bench.fingerprint.code_fingerprint`,
the one the workflow's rules use) and, for a benchmark that runs the workflow or the test suite
as a child process, of those whole trees. ``tests/test_readme_numbers.py`` recomputes them for
the sections the README quotes and fails when one differs: the figure is stale.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from argparse import ArgumentParser
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
SRC = REPO / "src"
sys.path.insert(0, str(SRC))
from fisbe_bench.fingerprint import code_fingerprint  # noqa: E402  (standard library only)

TREES = {
    "workflow": ("Snakefile", "workflow", "config", "src"),
    "tests": ("tests", "Makefile", ".ci", "pyproject.toml", "tools"),
}
"""What a benchmark that runs the workflow (``tree:workflow``) or the test suite as well
(``tree:tests``) in a child process depends on: every file under these paths."""
CODE_KEY = re.compile(r"^(?P<path>[^\[\]]+\.py)(?:\[(?P<modules>[^\]]*)\])?$")


def results_path(name: str) -> Path:
    """``benchmarks/RESULTS-<name>.md``."""
    return BENCHMARKS / f"RESULTS-{name}.md"


def add_out_option(parser: ArgumentParser, name: str) -> None:
    """``--out PATH``, by default ``benchmarks/RESULTS-<name>.md``."""
    parser.add_argument(
        "--out",
        type=Path,
        default=results_path(name),
        help=f"results file to write (default: benchmarks/RESULTS-{name}.md)",
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _load() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def peak_rss_bytes(pid: int | str = "self") -> int | None:
    """Peak resident memory of process ``pid`` (Linux's VmHWM, that process image's own peak;
    ``ru_maxrss`` of a child also counts what it inherits from its parent); None elsewhere."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def commit() -> str:
    """This checkout's commit (``git describe --always --dirty``)."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def tree_fingerprint(name: str, root: Path = REPO) -> str:
    """sha256 over the files of :data:`TREES` ``[name]`` under ``root`` (path and bytes, in path
    order; caches, build metadata and symbolic links left out)."""
    digest = hashlib.sha256()
    files = []
    for part in TREES[name]:
        base = root / part
        candidates = [base] if base.is_file() else base.rglob("*")
        files += [
            path
            for path in candidates
            if path.is_file()
            and not path.is_symlink()
            and not any(p.is_symlink() for p in path.relative_to(root).parents if p != Path("."))
            and "__pycache__" not in path.parts
            and not any(p.endswith(".egg-info") for p in path.parts)
        ]
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def fingerprint(key: str, root: Path = REPO) -> str:
    """The fingerprint a section records under ``key``: ``tree:<name>`` (:func:`tree_fingerprint`)
    or ``<script.py>[module,...]``, the package modules that script imports, plus those it
    imports by name at run time (:func:`fisbe_bench.fingerprint.code_fingerprint`)."""
    if key.startswith("tree:"):
        return tree_fingerprint(key.removeprefix("tree:"), root)
    match = CODE_KEY.match(key)
    if match is None:
        raise ValueError(f"not a fingerprint key: {key!r}")
    modules = [m for m in (match["modules"] or "").split(",") if m]
    return code_fingerprint(root / "src", root / match["path"], modules)


def code_keys(trees: Iterable[str] = (), modules: Iterable[str] = ()) -> list[str]:
    """The fingerprint keys of the running benchmark: its script (with ``modules`` it imports by
    name; none unless a script of ``benchmarks/`` runs) and the named :data:`TREES`."""
    script = Path(sys.argv[0]).resolve()
    keys = [f"tree:{name}" for name in trees]
    if script.suffix != ".py" or script.parent != BENCHMARKS:
        return keys
    names = sorted(modules)
    shown = script.relative_to(REPO).as_posix()
    return [f"{shown}[{','.join(names)}]" if names else shown, *keys]


def command_line(argv: list[str] | None = None) -> str:
    """The command as typed from the repository root: ``python benchmarks/<script> args``."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    return shlex.join(["python", str(shown), *argv[1:]])


@dataclass
class Started:
    """When and under which load a measurement started (see :func:`started`)."""

    date: str
    load: str
    wall: float = field(default_factory=time.perf_counter)


def started() -> Started:
    """Call before measuring: the date and the load average at the start."""
    now = datetime.datetime.now(datetime.UTC)
    return Started(now.strftime("%Y-%m-%d %H:%M UTC"), _load())


def default_key(argv: list[str] | None = None) -> str:
    """The arguments of the command without ``--out``: one section per distinct command."""
    args = list(sys.argv if argv is None else argv)[1:]
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--out":
            skip = True
        elif not arg.startswith("--out="):
            kept.append(arg)
    return shlex.join(kept)


def markers(script: str, key: str) -> tuple[str, str]:
    tag = f"{script} {key}".strip()
    return f"<!-- begin: generated by {tag} -->", f"<!-- end: generated by {tag} -->"


def render_section(
    start: Started,
    command: str,
    raw: Any,
    table: str,
    *,
    heading: str,
    notes: str = "",
    code: dict[str, str] | None = None,
) -> str:
    """The Markdown of one generated section (without its markers)."""
    lines = [
        f"### {heading}",
        "",
        f"- date: {start.date} (took {time.perf_counter() - start.wall:.0f} s wall)",
        f"- machine: {os.cpu_count()} cores, {_cpu_model()}, {_ram_gib():.1f} GiB RAM, "
        f"{platform.machine()}, Python {platform.python_version()}",
        f"- load average (1 / 5 / 15 min): {start.load} at the start, {_load()} at the end",
        f"- commit: {commit()}",
        f"- code: {json.dumps(code or {}, sort_keys=True)}",
        "- command (from the repository root, venv active):",
        "",
        "```",
        command,
        "```",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    lines += [
        "Raw numbers:",
        "",
        "```json",
        raw_json(raw),
        "```",
        "",
        table.strip(),
    ]
    return "\n".join(lines) + "\n"


def raw_json(raw: Any) -> str:
    """JSON with one line per top-level key (a list of records: one line per record)."""
    if not isinstance(raw, dict):
        return json.dumps(raw, default=str)
    items = []
    for key, value in raw.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            records = ",\n".join("  " + json.dumps(v, default=str) for v in value)
            items.append(f" {json.dumps(key)}: [\n{records}\n ]")
        else:
            items.append(f" {json.dumps(key)}: {json.dumps(value, default=str)}")
    return "{\n" + ",\n".join(items) + "\n}"


def replace_section(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with the part between ``begin`` and ``end`` set to ``body`` (appended if new)."""
    block = f"{begin}\n{body}{end}\n"
    if begin in text and end in text.split(begin, 1)[1]:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        return head + block + ("\n" + tail if tail else "")
    return text.rstrip("\n") + "\n\n" + block if text.strip() else block


def write_section(
    out: Path,
    *,
    title: str,
    start: Started,
    raw: Any,
    table: str,
    heading: str | None = None,
    notes: str = "",
    command: str | None = None,
    script: str | None = None,
    key: str | None = None,
    trees: Iterable[str] = (),
    modules: Iterable[str] = (),
    root: Path = REPO,
) -> None:
    """Write (or replace) this command's section of ``out``; create the file with ``title``.

    A section is keyed by script and ``key`` (default: the command's arguments without
    ``--out``), so rerunning a command replaces its own section and nothing else. The section
    records the fingerprints of :func:`code_keys` ``(trees, modules)`` of the code in ``root``
    (this checkout unless the benchmark measured another one).
    """
    script = script or Path(sys.argv[0]).name
    key = default_key() if key is None else key
    begin, end = markers(script, key)
    body = render_section(
        start,
        command or command_line(),
        raw,
        table,
        heading=heading or f"`{script} {key}`".replace(" `", "`"),
        notes=notes,
        code={name: fingerprint(name, root) for name in code_keys(trees, modules)},
    )
    out = Path(out)
    text = out.read_text() if out.exists() else f"# {title}\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(replace_section(text, begin, end, body))
    print(f"wrote {out}", file=sys.stderr)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table from a header and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@dataclass
class Section:
    """One generated section of a results file, as :func:`read_sections` parses it."""

    path: Path
    command: str
    commit: str
    code: dict[str, str]


SECTION = re.compile(r"<!-- begin: generated by (?P<tag>.*?) -->\n(?P<body>.*?)<!-- end: ", re.S)


def read_sections(path: Path) -> list[Section]:
    """The generated sections of one results file (``code`` is empty where none was recorded)."""
    sections = []
    for match in SECTION.finditer(path.read_text()):
        body = match["body"]
        command = re.search(r"^- command[^\n]*\n\n```\n(.*?)\n```", body, re.M | re.S)
        recorded = re.search(r"^- commit: (\S+)", body, re.M)
        code = re.search(r"^- code: (\{.*\})$", body, re.M)
        sections.append(
            Section(
                path=path,
                command=command[1] if command else "",
                commit=recorded[1] if recorded else "",
                code=json.loads(code[1]) if code else {},
            )
        )
    return sections


def stale_keys(section: Section, root: Path = REPO) -> list[str]:
    """The fingerprint keys of ``section`` whose code differs from ``root``'s now (every key
    when the section recorded none: it cannot be shown fresh)."""
    if not section.code:
        return ["(no code fingerprints recorded)"]
    return [key for key, value in section.code.items() if fingerprint(key, root) != value]

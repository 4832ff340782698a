"""`make test` as CI runs it: `CI=true bash .ci/run` in a fresh clone, timed.

    python3 benchmarks/bench_ci.py [--rev HEAD] [--keep] [--out F]

Clones this repository (``git clone --no-local``, then checks out ``--rev``) into a new
temporary directory with no ``../shared`` beside it, and runs ``CI=true bash .ci/run``
there: system packages when root, the virtual environment set-up, lint incl. mypy, the
real-FISBe dry run and every test. Its output goes to ``ci.log`` in the clone. Writes to
``--out`` (``benchmarks/RESULTS-ci.md``) the total wall time (set-up included) and, from
pytest's summary line, the number of tests and pytest's own duration. Needs only the
standard library (run it with any Python 3.11). It sets ``FISBE_BENCH_CI``, under which the
README staleness test exempts this benchmark's own section (it can only describe an earlier
commit while it is being measured); every other section must be fresh.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import results_file

BUDGET = "90 min"
SUMMARY = re.compile(r"^=+ (?P<counts>.*?) in (?P<seconds>[\d.]+)s(?: \([\d:]+\))? =+$", re.M)


def minutes(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s"


def parse_summary(log: str) -> dict[str, Any]:
    """Counts (passed, skipped, ...) and seconds of the last pytest summary line in ``log``."""
    found = list(SUMMARY.finditer(log))
    if not found:
        return {}
    last = found[-1]
    counts = {word: int(number) for number, word in re.findall(r"(\d+) (\w+)", last["counts"])}
    return {"counts": counts, "seconds": float(last["seconds"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD", help="commit to test (default: HEAD)")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    results_file.add_out_option(parser, "ci")
    args = parser.parse_args()
    parent = Path(tempfile.mkdtemp(prefix="fisbe-ci-"))
    clone = parent / "fisbe-bench"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-local", str(results_file.REPO), str(clone)], check=True
    )
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", args.rev], check=True)
    commit = subprocess.run(
        ["git", "-C", str(clone), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    log = clone / "ci.log"
    start = results_file.started()
    with open(log, "w") as handle:
        done = subprocess.run(
            ["bash", ".ci/run"],
            cwd=clone,
            env={**os.environ, "CI": "true", "FISBE_BENCH_CI": "1"},
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        )
    wall = time.perf_counter() - start.wall
    summary = parse_summary(log.read_text(errors="replace"))
    counts: dict[str, int] = summary.get("counts", {})
    tests = sum(n for word, n in counts.items() if not word.startswith("warning"))
    pytest_s = summary.get("seconds")
    rows: list[list[Any]] = [
        ["exit status of `.ci/run`", done.returncode],
        ["tests (pytest summary)", ", ".join(f"{n} {w}" for w, n in counts.items()) or "n/a"],
        ["pytest's own duration", minutes(float(pytest_s)) if pytest_s else "n/a"],
        ["whole `CI=true bash .ci/run`, set-up included", f"**{minutes(wall)}**"],
        ["CI budget", BUDGET],
    ]
    table = results_file.markdown_table(["fresh clone, CI=true", "value"], rows)
    print(table, end="")
    results_file.write_section(
        args.out,
        title="`make test` in CI: wall time from a fresh clone",
        start=start,
        raw={
            "commit": commit,
            "returncode": done.returncode,
            "wall_s": round(wall, 1),
            "pytest": summary,
            "tests": tests,
        },
        table=table,
        notes=f"Clone of commit {commit} in a new directory without `../shared`; "
        "`CI=true bash .ci/run` (apt packages when root, `make test`: set-up, lint, dry run, "
        "all tests).",
        trees=["workflow", "tests"],
        root=clone,
    )
    if args.keep or done.returncode:
        print(f"kept {clone} (log: {log})", file=sys.stderr)
    else:
        shutil.rmtree(parent, ignore_errors=True)
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()

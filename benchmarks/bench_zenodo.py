"""The real FISBe config end to end against the local Zenodo stand-in: wall seconds per run.

    python benchmarks/bench_zenodo.py [--repeat 1] [--out F]

Runs ``pytest -m slow -s tests/test_zenodo.py -k end_to_end`` ``--repeat`` times (one archive
with a top folder and one without; the workflow started elsewhere with ``-d``, the report in
the working directory) and collects the wall time the test prints (workflow + report, 101 tiny
16×24×24 samples: record, 3 downloads, extraction, splits, 23 × B0, evaluation, figures,
leaderboard, report). Writes the table to ``--out``
(``benchmarks/RESULTS-zenodo.md``).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time

import results_file

PYTEST = ["-m", "pytest", "-m", "slow", "-s", "tests/test_zenodo.py", "-k", "end_to_end", "-q"]
LINE = re.compile(r"stand-in run \((?P<variant>[^)]*)\): (?P<seconds>[\d.]+) s wall")
VARIANTS = {"both archive layouts, -d": "one archive with a top folder, one without; `-d`"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="pytest runs")
    results_file.add_out_option(parser, "zenodo")
    args = parser.parse_args()
    start = results_file.started()
    seconds: dict[str, list[float]] = {}
    pytest_wall = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *PYTEST],
            cwd=results_file.REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        pytest_wall.append(round(time.perf_counter() - began, 1))
        if done.returncode:
            sys.exit(f"pytest failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
        for match in LINE.finditer(done.stdout):
            seconds.setdefault(match["variant"], []).append(float(match["seconds"]))
    if not seconds:
        sys.exit("the end-to-end tests printed no wall time (were they deselected?)")
    rows = [
        [
            VARIANTS.get(variant, variant),
            len(values),
            f"{min(values):.0f}" if len(values) == 1 else f"{min(values):.0f}-{max(values):.0f}",
        ]
        for variant, values in seconds.items()
    ]
    table = results_file.markdown_table(["variant", "runs", "wall s (workflow + report)"], rows)
    print(table, end="")
    results_file.write_section(
        args.out,
        title="Real FISBe config end to end against the Zenodo stand-in",
        start=start,
        raw={"seconds": seconds, "pytest_wall_s": pytest_wall},
        table=table,
        notes="Each variant's wall time as `tests/test_zenodo.py` prints it "
        "(`stand-in run (...): X s wall`); `pytest -m slow -s tests/test_zenodo.py -k end_to_end`.",
        trees=["workflow"],
    )


if __name__ == "__main__":
    main()

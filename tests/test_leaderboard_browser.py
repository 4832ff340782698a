"""The leaderboard page in headless Chromium: it renders, logs nothing, and sorts on click.

Chromium is driven with its command-line flags only (``--screenshot``, ``--dump-dom``). The
page, opened as ``leaderboard.html#selftest=<table>:<column>``, clicks that header twice and
writes the column after each click into ``#selftest``; script errors land in ``#js-errors``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import write_evaluation

from fisbe_bench.reports.figures import write_figures
from fisbe_bench.reports.leaderboard import write_leaderboard

# xdist: one leaderboard page, one Chromium (one worker runs all of them)
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("leaderboard_browser")]

CHROMIUM = next(
    (
        shutil.which(name)
        for name in ("chromium", "chromium-browser", "google-chrome")
        if shutil.which(name)
    ),
    None,
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
]
CONSOLE = re.compile(r":CONSOLE[:(]")


def chromium(url: str, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` with its own profile folder; fails on a bad exit."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *flags, url]
    env = {**os.environ, "HOME": str(profile)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A leaderboard page for three methods, with the summary figures embedded."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium not installed (apt-get install chromium)")
    root = tmp_path_factory.mktemp("browser")
    evaluations = {
        name: write_evaluation(root / name / "evaluation", skill, seed)
        for name, skill, seed in (("beta", 0.4, 1), ("alpha", 0.8, 2), ("gamma", 0.6, 3))
    }
    write_figures("demo", evaluations, root / "figures")
    written = write_leaderboard(
        "demo", evaluations, root / "board", figures_dir=root / "figures", bootstrap=200
    )
    return written["html"]


def test_page_renders_without_console_output(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "leaderboard.png"
    result = chromium(
        page.as_uri(), tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,1600"
    )
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [line for line in result.stderr.splitlines() if CONSOLE.search(line)]
    keep = os.environ.get("FISBE_SCREENSHOT_DIR")
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)


@pytest.mark.parametrize(
    ("table", "column", "numeric"),
    [("leaderboard-completely", 3, True), ("leaderboard-combined", 1, False)],
)
def test_clicking_a_header_sorts(
    page: Path, tmp_path: Path, table: str, column: int, numeric: bool
) -> None:
    result = chromium(f"{page.as_uri()}#selftest={table}:{column}", tmp_path / "p", "--dump-dom")
    assert not [line for line in result.stderr.splitlines() if CONSOLE.search(line)]
    errors = re.search(
        r'<pre id="js-errors"[^>]*data-count="(\d+)"[^>]*>(.*?)</pre>', result.stdout
    )
    assert errors and errors.group(1) == "0", errors and errors.group(2)
    found = re.search(r'<pre id="selftest"[^>]*data-done="1"[^>]*>(.*?)</pre>', result.stdout, re.S)
    assert found, "page self-test did not run"
    outcome = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    key = (lambda v: float(v)) if numeric else (lambda v: v.lower())
    before = outcome["before"]
    first, second = outcome["clicks"]
    assert len(before) == 3
    assert first["sort"] == "ascending" and second["sort"] == "descending"
    assert first["values"] == sorted(before, key=key)
    assert second["values"] == sorted(before, key=key, reverse=True)
    if numeric:  # the page starts ranked by S (descending): the first click must reorder
        assert first["values"] != before

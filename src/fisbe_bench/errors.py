"""User-facing errors: one line that names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class FisbeError(Exception):
    """An input problem reported to the user as a single line (no traceback)."""

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)

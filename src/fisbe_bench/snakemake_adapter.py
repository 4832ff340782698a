"""Glue for ``workflow/scripts``: run a package function as a Snakemake job step."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fisbe_bench.errors import FisbeError


def run_step(snakemake: Any, step: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Call ``step(**kwargs)`` with stdout/stderr going to the rule's log file.

    A :class:`FisbeError` (bad input) ends the job with one line naming the file and the
    problem, in the log and on the terminal, instead of a traceback.
    """
    log_path = snakemake.log[0] if len(snakemake.log) else None
    with contextlib.ExitStack() as stack:
        if log_path:
            handle = stack.enter_context(open(log_path, "a", buffering=1))
            stack.enter_context(contextlib.redirect_stdout(handle))
            stack.enter_context(contextlib.redirect_stderr(handle))
        try:
            return step(**kwargs)
        except FisbeError as err:
            print(f"error: {err}", file=sys.stderr)
            message = f"{snakemake.rule}: error: {err}"
    sys.exit(message)


def evaluation_dirs(snakemake: Any) -> dict[str, Path]:
    """Method -> evaluation folder, from ``params.methods`` and ``input.summaries``."""
    return {
        method: Path(summary).parent
        for method, summary in zip(snakemake.params.methods, snakemake.input.summaries, strict=True)
    }

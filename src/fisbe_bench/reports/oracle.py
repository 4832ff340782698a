"""The oracle table: each learned method's decoding ceiling (``fisbe-bench oracle``) beside
what the trained method reaches, per labelled set."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from fisbe_bench.atomic import write_text
from fisbe_bench.errors import FisbeError
from fisbe_bench.reports.evaluations import SETS

COLUMNS = ["method", "set", "oracle_S", "oracle_avF1", "oracle_C", "S", "share_of_ceiling"]


def _summary(path: str | Path) -> dict:
    try:
        return dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError) as err:
        raise FisbeError(f"cannot read summary: {err}", path) from err


def oracle_table(
    oracles: Mapping[str, str | Path], evaluations: Mapping[str, str | Path]
) -> pd.DataFrame:
    """One row per method and set: the oracle's S, avF1 and C, the trained method's S and
    its share of the ceiling (S / oracle S). ``oracles``/``evaluations``: method -> the
    ``summary.json`` of its oracle / of its evaluation."""
    rows = []
    for method, path in oracles.items():
        ceiling, reached = _summary(path), _summary(evaluations[method])
        for set_name in SETS:
            if set_name not in ceiling:
                continue
            top = ceiling[set_name]
            score = reached.get(set_name, {}).get("S")
            share = score / top["S"] if score is not None and top["S"] else None
            rows.append(
                {
                    "method": method,
                    "set": set_name,
                    "oracle_S": top["S"],
                    "oracle_avF1": top["avF1"],
                    "oracle_C": top["C"],
                    "S": score,
                    "share_of_ceiling": share,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def write_oracle_table(
    oracles: Mapping[str, str | Path], evaluations: Mapping[str, str | Path], out: str | Path
) -> None:
    """Write :func:`oracle_table` as CSV, atomically."""
    write_text(out, oracle_table(oracles, evaluations).to_csv(index=False, float_format="%.4f"))

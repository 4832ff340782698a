"""B3 tuning: B1's grid search of the decoding (:mod:`fisbe_bench.methods.unet_affinity.tuning`)
on the consensus outputs of a split, under this kind's name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fisbe_bench.methods.patchperpix.config import METHOD, Params
from fisbe_bench.methods.unet_affinity import tuning as b1


def tune_to_file(
    samples_table: str | Path,
    probabilities: Mapping[str, str | Path],
    split: str,
    grid_path: str | Path,
    out: str | Path,
    base: Params | None = None,
) -> Params:
    """See :func:`fisbe_bench.methods.unet_affinity.tuning.tune_to_file`."""
    best = b1.tune_to_file(
        samples_table, probabilities, split, grid_path, out, base or Params(), METHOD
    )
    return Params(**vars(best))


def read_params(path: str | Path) -> Params:
    """Decoding parameters from a ``params.json`` written by :func:`tune_to_file`."""
    return Params(**vars(b1.read_params(path, METHOD)))

"""B1 tuning: the decoding parameters, grid-searched on the network outputs of a split
(usually val, both labelled sets) with the FISBe metrics, like B2's tuning.

The checkpoint is chosen during training (``best.pt``: best validation S); this step
chooses foreground/overlap thresholds, fragment threshold, merge bias, overlap threshold
and minimum size for it. Candidates sharing the thresholds that define the foreground
share one read of the affinities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import zarr

from fisbe_bench import contract, tuning
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.unet_affinity.config import AFFINITY_KEY, METHOD, NUMINST_KEY, Params
from fisbe_bench.methods.unet_affinity.instances import read_graph, segment_graph
from fisbe_bench.sample_io import instance_stack
from fisbe_bench.tuning import TuneSample

FRONT_END = ("foreground_threshold", "overlap_threshold")


def _score_sample(sample: TuneSample, candidates: Sequence[Params]) -> list[Any]:
    """Metrics of every candidate on one sample (network outputs read once per front end)."""
    from fisbe_bench.metrics import evaluate_sample

    probs = Path(sample.raw_path)
    try:
        numinst = zarr.open_array(str(probs / NUMINST_KEY), mode="r")
        affinities = zarr.open_array(str(probs / AFFINITY_KEY), mode="r")
        offsets = cast(
            list[tuple[int, int, int]],
            [tuple(int(v) for v in o) for o in cast(list[Any], affinities.attrs["offsets"])],
        )
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError("not a prediction zarr of unet-affinity predict", probs) from err
    gt = zarr.open_array(str(Path(sample.gt_path) / contract.GT_KEY), mode="r")[...]
    results: list[Any] = [None] * len(candidates)
    for indices in tuning.front_end_groups(candidates, FRONT_END):
        graph = read_graph(numinst, affinities, candidates[indices[0]])
        for index in indices:
            labels, extra = segment_graph(*graph, offsets, candidates[index])
            results[index] = evaluate_sample(
                gt, instance_stack(labels, extra), partly=sample.partly
            )
    return results


def tune_to_file(
    samples_table: str | Path,
    probabilities: Mapping[str, str | Path],
    split: str,
    grid_path: str | Path,
    out: str | Path,
    base: Params | None = None,
    method: str = METHOD,
) -> Params:
    """Tune on the samples of ``split`` (their network outputs ``probabilities``: sample
    name -> zarr), starting from ``base``; write the choice and the table to ``out``.
    ``method``: the kind named in errors and in the file (B3 decodes like B1)."""
    base = base or Params()
    grid = tuning.read_grid(grid_path, base, method)
    candidates = tuning.parameter_grid(grid, base, method)
    samples = []
    for sample in tuning.tuning_samples(samples_table, split):
        name = Path(sample.gt_path).name.removesuffix(".zarr")
        if name not in probabilities:
            raise FisbeError(f"no network outputs given for {split} sample {name}")
        samples.append(TuneSample(str(probabilities[name]), sample.gt_path, sample.partly))
    per_sample = [_score_sample(sample, candidates) for sample in samples]
    best, table = tuning.score_table(candidates, list(grid), per_sample, samples)
    names = [Path(s.gt_path).name.removesuffix(".zarr") for s in samples]
    tuning.write_params(
        out,
        method,
        candidates[best],
        table,
        S=table[best]["S"],
        samples=names,
        split=split,
        grid=str(grid_path),
    )
    return candidates[best]


def read_params(path: str | Path, method: str = METHOD) -> Params:
    """Decoding parameters from a ``params.json`` written by :func:`tune_to_file`."""
    return tuning.read_params(path, Params, method)

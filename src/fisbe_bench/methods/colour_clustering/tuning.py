"""B2 tuning: grid search on a split scored with the FISBe metrics (see
:mod:`fisbe_bench.tuning` for the grid, the score table and the parameter file)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

from fisbe_bench import contract, tuning
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods.colour_clustering.input import read_input
from fisbe_bench.methods.colour_clustering.params import METHOD, Params
from fisbe_bench.methods.colour_clustering.pipeline import finish, front_end
from fisbe_bench.methods.colour_clustering.supervoxels import supervoxels
from fisbe_bench.sample_io import instance_stack
from fisbe_bench.tuning import TuneSample

FRONT_END = ("sigma", "threshold", "relative", "background_window", "seed_spacing")


def parameter_grid(grid: Mapping[str, Sequence[Any]], base: Params | None = None) -> list[Params]:
    """All combinations of ``grid`` (name -> list of values) on top of ``base``, in grid order."""
    return tuning.parameter_grid(grid, base or Params(), METHOD)


def _score_sample(sample: TuneSample, candidates: list[Params]) -> list[Any]:
    """Metrics of every candidate on one sample (front end shared between candidates)."""
    import zarr

    from fisbe_bench.metrics import evaluate_sample

    gt = zarr.open_array(str(Path(sample.gt_path) / contract.GT_KEY), mode="r")[...]
    results: list[Any] = [None] * len(candidates)
    for indices in tuning.front_end_groups(candidates, FRONT_END):
        first = candidates[indices[0]]
        # re-read (cheaper than holding a pristine copy), freed after the front end
        mask, colour = front_end(read_input(sample.raw_path), first)
        sv = supervoxels(colour, mask, first.seed_spacing)
        del mask, colour
        for index in indices:
            labels, extra = finish(sv, candidates[index])
            results[index] = evaluate_sample(
                gt, instance_stack(labels, extra), partly=sample.partly
            )
    return results


def tune(
    samples: Sequence[TuneSample | tuple[str, str, bool]],
    grid: Mapping[str, Sequence[Any]],
    jobs: int = 1,
    base: Params | None = None,
    out: str | Path | None = None,
    notes: Mapping[str, Any] | None = None,
) -> tuple[Params, list[dict[str, Any]]]:
    """Grid search on (validation) samples; returns the best parameters and the score table.

    Each candidate is scored with the FISBe metrics: S, avF1 and C aggregated per labelled
    set (completely, partly) and averaged over the sets present, like the leaderboard's
    combined row. The highest S wins; ties go to the earlier candidate in grid order.
    With ``out``, the choice, its S, the samples, ``notes`` and the table are written there
    as JSON (:func:`write_params`), the file that prediction reads.
    """
    samples = cast(
        list[TuneSample], [TuneSample(str(s[0]), str(s[1]), bool(s[2])) for s in samples]
    )
    if not samples:
        raise FisbeError("no tuning samples")
    candidates = parameter_grid(grid, base)
    if jobs > 1 and len(samples) > 1:
        with ProcessPoolExecutor(min(jobs, len(samples))) as pool:
            per_sample = list(pool.map(_score_sample, samples, [candidates] * len(samples)))
    else:
        per_sample = [_score_sample(sample, candidates) for sample in samples]
    best, table = tuning.score_table(candidates, list(grid), per_sample, samples)
    if out is not None:
        names = [Path(s.raw_path).name.removesuffix(".zarr") for s in samples]
        info = {"S": table[best]["S"], "samples": names, **(notes or {})}
        write_params(out, candidates[best], table, **info)
    return candidates[best], table


def write_params(
    path: str | Path, params: Params, table: Iterable[Mapping[str, Any]] = (), **info: Any
) -> None:
    """Write chosen parameters (plus the tuning table and notes) as JSON, atomically."""
    tuning.write_params(path, METHOD, params, table, **info)


def read_params(path: str | Path) -> Params:
    """Parameters from a JSON file written by :func:`write_params` (or a plain mapping)."""
    return tuning.read_params(path, Params, METHOD)


def tune_to_file(
    samples_table: str | Path,
    split: str,
    grid_path: str | Path,
    out: str | Path,
    jobs: int = 1,
    base: Params | None = None,
) -> Params:
    """Tune on one split of a sample table, starting from ``base``; write the choice to ``out``."""
    grid = tuning.read_grid(grid_path, base or Params(), METHOD)
    samples = tuning.tuning_samples(samples_table, split)
    notes = {"split": split, "grid": str(grid_path)}
    best, _ = tune(samples, grid, jobs=jobs, base=base, out=out, notes=notes)
    return best

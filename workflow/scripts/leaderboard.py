"""Snakemake adapter: rank all methods of a dataset into the leaderboard files."""

from pathlib import Path

from fisbe_bench.reports.leaderboard import write_leaderboard
from fisbe_bench.snakemake_adapter import evaluation_dirs, run_step

run_step(
    snakemake,  # noqa: F821
    write_leaderboard,
    dataset=snakemake.wildcards.dataset,  # noqa: F821
    evaluations=evaluation_dirs(snakemake),  # noqa: F821
    out_dir=Path(snakemake.output.csv).parent,  # noqa: F821
    figures_dir=Path(snakemake.input.figures).parent,  # noqa: F821
    bootstrap=snakemake.params.bootstrap,  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
    training=snakemake.params.training,  # noqa: F821
    seed_runs=snakemake.params.seed_runs,  # noqa: F821
)

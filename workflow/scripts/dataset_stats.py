"""Snakemake adapter: GT geometry statistics of one dataset."""

from fisbe_bench.dataset_stats import write_dataset_stats
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    write_dataset_stats,
    data=snakemake.params.data_root,  # noqa: F821
    out=snakemake.output[0],  # noqa: F821
)

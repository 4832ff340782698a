"""Snakemake adapter: the split file with a fraction of the training images (label efficiency)."""

from fisbe_bench.snakemake_adapter import run_step
from fisbe_bench.splits import write_training_subset

run_step(
    snakemake,  # noqa: F821
    write_training_subset,
    split_file=snakemake.input.split_file,  # noqa: F821
    fraction=float(snakemake.wildcards.fraction),  # noqa: F821
    out=snakemake.output[0],  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
)

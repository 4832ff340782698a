"""Snakemake adapter: unpack an external method's prediction archive into its folder."""

from fisbe_bench.archive import extract_predictions
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    extract_predictions,
    zip_path=snakemake.input[0],  # noqa: F821
    dest_dir=snakemake.output[0],  # noqa: F821
)

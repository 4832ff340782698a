"""Snakemake adapter: safe extraction of one FISBe archive."""

from fisbe_bench.archive import extract
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    extract,
    zip_path=snakemake.input.archive,  # noqa: F821
    dest_dir=snakemake.output[0],  # noqa: F821
    expect_set=snakemake.wildcards.set,  # noqa: F821
)

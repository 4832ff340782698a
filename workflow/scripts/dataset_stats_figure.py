"""Snakemake adapter: the Data figure (GT geometry beside the real FISBe reference)."""

from fisbe_bench.reports.data_figure import write_dataset_figure
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    write_dataset_figure,
    stats=snakemake.input[0],  # noqa: F821
    out=snakemake.output[0],  # noqa: F821
    dataset=snakemake.wildcards.dataset,  # noqa: F821
)

"""Snakemake adapter: table and figure of a learned method's label-efficiency sweep."""

from fisbe_bench.reports.label_efficiency import write_label_efficiency
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    write_label_efficiency,
    method=snakemake.wildcards.method,  # noqa: F821
    fractions=snakemake.params.fractions,  # noqa: F821
    summaries=snakemake.input.summaries,  # noqa: F821
    split_files=snakemake.input.split_files,  # noqa: F821
    train_sets=snakemake.params.train_sets,  # noqa: F821
    csv_out=snakemake.output.csv,  # noqa: F821
)

"""Snakemake adapter: draw the benchmark figures of one dataset."""

from pathlib import Path

from fisbe_bench.reports.figures import write_figures
from fisbe_bench.snakemake_adapter import evaluation_dirs, run_step

run_step(
    snakemake,  # noqa: F821
    write_figures,
    dataset=snakemake.wildcards.dataset,  # noqa: F821
    evaluations=evaluation_dirs(snakemake),  # noqa: F821
    out_dir=Path(snakemake.output.f1).parent,  # noqa: F821
    splits=snakemake.input.table,  # noqa: F821
    split=snakemake.params.split,  # noqa: F821
)

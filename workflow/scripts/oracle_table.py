"""Snakemake adapter: the oracle table (decoding ceilings beside the trained methods)."""

from fisbe_bench.reports.oracle import write_oracle_table
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    write_oracle_table,
    oracles=dict(zip(snakemake.params.methods, snakemake.input.oracles, strict=True)),  # noqa: F821
    evaluations=dict(
        zip(snakemake.params.methods, snakemake.input.evaluations, strict=True)  # noqa: F821
    ),
    out=snakemake.output[0],  # noqa: F821
)

"""Snakemake adapter: read and keep a Zenodo record's metadata, checked against the config."""

from fisbe_bench.snakemake_adapter import run_step
from fisbe_bench.zenodo import fetch_record

run_step(
    snakemake,  # noqa: F821
    fetch_record,
    api=snakemake.params.api,  # noqa: F821
    record=snakemake.params.record,  # noqa: F821
    dest=snakemake.output[0],  # noqa: F821
    names=snakemake.params.names,  # noqa: F821
    pins=snakemake.params.pins,  # noqa: F821
)

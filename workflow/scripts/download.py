"""Snakemake adapter: download one file of a Zenodo record, checked against the record."""

from pathlib import Path

from fisbe_bench.snakemake_adapter import run_step
from fisbe_bench.zenodo import fetch_file

run_step(
    snakemake,  # noqa: F821
    fetch_file,
    record_json=snakemake.input.record,  # noqa: F821
    name=snakemake.params.name,  # noqa: F821
    downloads=Path(snakemake.output[0]).parent,  # noqa: F821
    pins=snakemake.params.pins,  # noqa: F821
)

"""Snakemake adapter: resumable, checksum-verified download of one Zenodo file."""

from fisbe_bench.download import download
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    download,
    url=snakemake.params.url,  # noqa: F821
    dest=snakemake.output[0],  # noqa: F821
    checksum=snakemake.params.md5,  # noqa: F821
    algorithm="md5",
    allow_unknown_checksum=snakemake.params.allow_unknown,  # noqa: F821
)

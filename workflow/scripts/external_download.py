"""Snakemake adapter: resumable, checksum-verified download of an external method's archive."""

from fisbe_bench.download import download
from fisbe_bench.snakemake_adapter import run_step

if __name__ == "__main__":
    run_step(
        snakemake,  # noqa: F821
        download,
        url=snakemake.params.url,  # noqa: F821
        dest=snakemake.output[0],  # noqa: F821
        checksum=snakemake.params.checksum,  # noqa: F821
        algorithm=snakemake.params.algorithm,  # noqa: F821
    )

"""Snakemake adapter: B2 colour clustering on one sample, with the tuned parameters."""

from fisbe_bench.methods.colour_clustering.pipeline import predict
from fisbe_bench.methods.colour_clustering.tuning import read_params
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    predict,
    raw_path=snakemake.params.raw,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    params=read_params(snakemake.input.params),  # noqa: F821
)

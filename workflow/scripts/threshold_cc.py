"""Snakemake adapter: B0 threshold + connected components on one sample."""

from fisbe_bench.methods.threshold_cc import ThresholdParams, predict
from fisbe_bench.snakemake_adapter import run_step

method = snakemake.params.method  # noqa: F821
params = ThresholdParams(method["threshold"], method["otsu"], method["min_size"])
run_step(
    snakemake,  # noqa: F821
    predict,
    raw_path=snakemake.params.raw,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    params=params,
)

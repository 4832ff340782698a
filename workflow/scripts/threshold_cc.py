"""Snakemake adapter: B0 threshold + connected components on one sample."""

from fisbe_bench.methods.threshold_cc import Params, predict
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    predict,
    raw_path=snakemake.params.raw,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    params=Params.from_config(snakemake.params.method),  # noqa: F821
)

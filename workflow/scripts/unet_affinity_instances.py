"""Snakemake adapter: B1 instances (mutex watershed + overlaps) for one sample."""

from fisbe_bench.methods.unet_affinity.config import Params
from fisbe_bench.methods.unet_affinity.instances import decode
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    decode,
    probs_path=snakemake.input.probabilities,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    params=Params.from_config(snakemake.params.method),  # noqa: F821
)

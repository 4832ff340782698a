"""Snakemake adapter: B3 instances (B1's decoding of the consensus affinities) for one
sample, with the decoding parameters tuned on val."""

from fisbe_bench.methods.patchperpix.instances import decode
from fisbe_bench.methods.patchperpix.tuning import read_params
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    decode,
    probs_path=snakemake.input.probabilities,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    params=read_params(snakemake.input.params),  # noqa: F821
)

"""Snakemake adapter: B1 instances (mutex watershed + overlaps) for one sample."""

from fisbe_bench.instances import InstanceParams, instances_from_probs
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    instances_from_probs,
    probs_path=snakemake.input.probabilities,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    params=InstanceParams(min_size=snakemake.params.method["min_size"]),  # noqa: F821
)

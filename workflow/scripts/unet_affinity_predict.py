"""Snakemake adapter: tiled B1 U-Net inference on one sample."""

from fisbe_bench.inference import predict_checkpoint
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    predict_checkpoint,
    checkpoint=snakemake.input.model,  # noqa: F821
    raw_path=snakemake.params.raw,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
)

"""Snakemake adapter: tiled B3 inference (numinst + consensus affinities) on one sample."""

from fisbe_bench.methods.patchperpix.predict import predict
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    predict,
    checkpoint=snakemake.input.model,  # noqa: F821
    raw_path=snakemake.params.raw,  # noqa: F821
    out_path=snakemake.output[0],  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    expect_gpu=bool(snakemake.resources.get("gpu", 0)),  # noqa: F821
    tta=snakemake.params.tta,  # noqa: F821
)

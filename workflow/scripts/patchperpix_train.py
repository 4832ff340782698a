"""Snakemake adapter: train (or resume) the B3 PatchPerPix-style U-Net of one dataset."""

from fisbe_bench.methods.patchperpix.train import train_to_outputs
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    train_to_outputs,
    preset=snakemake.input.preset,  # noqa: F821
    data_root=snakemake.params.data_root,  # noqa: F821
    split_file=snakemake.input.split_file,  # noqa: F821
    workdir=snakemake.params.workdir,  # noqa: F821
    model_out=snakemake.output.model,  # noqa: F821
    curve_out=snakemake.output.curve,  # noqa: F821
    threads=snakemake.threads,  # noqa: F821
    expect_gpu=bool(snakemake.resources.get("gpu", 0)),  # noqa: F821
    seed=snakemake.params.seed,  # noqa: F821
)

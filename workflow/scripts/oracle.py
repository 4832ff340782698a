"""Snakemake adapter: a learned method's decoding of ideal network outputs, scored."""

from fisbe_bench.oracle import evaluate_oracle
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    evaluate_oracle,
    kind=snakemake.params.method["kind"],  # noqa: F821
    gt_dir=snakemake.params.gt_root,  # noqa: F821
    out_dir=snakemake.output.summary.rsplit("/", 1)[0],  # noqa: F821
    preset=snakemake.input.preset,  # noqa: F821
    params=snakemake.params.method,  # noqa: F821
    split_file=snakemake.input.split_file,  # noqa: F821
    split=snakemake.params.split,  # noqa: F821
    overwrite=True,  # the workflow's own folder; files not written by evaluate are kept
    progress=False,
)

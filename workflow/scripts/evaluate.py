"""Snakemake adapter: score one method's predictions on the evaluation split."""

from fisbe_bench.metrics import evaluate_directories
from fisbe_bench.snakemake_adapter import run_step

if __name__ == "__main__":  # worker processes re-import this file
    run_step(
        snakemake,  # noqa: F821
        evaluate_directories,
        gt_dir=snakemake.params.gt_root,  # noqa: F821
        pred_dir=snakemake.params.pred_dir,  # noqa: F821
        out_dir=snakemake.output.summary.rsplit("/", 1)[0],  # noqa: F821
        pred_key=snakemake.params.pred_key,  # noqa: F821
        split_file=snakemake.input.split_file,  # noqa: F821
        split=snakemake.params.split,  # noqa: F821
        jobs=snakemake.threads,  # noqa: F821
        overwrite=True,  # the workflow's own folder; files not written by evaluate are kept
    )

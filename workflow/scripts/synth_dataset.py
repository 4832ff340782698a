"""Snakemake adapter: generate a synthetic FISBe-like dataset."""

from pathlib import Path

from fisbe_bench.snakemake_adapter import run_step
from fisbe_bench.synth import write_dataset

if __name__ == "__main__":  # worker processes re-import this file
    spec = snakemake.params.spec  # noqa: F821
    out = Path(snakemake.output.split_file).parent  # noqa: F821
    run_step(
        snakemake,  # noqa: F821
        write_dataset,
        out=out,
        n_completely=spec["n_completely"],
        n_partly=spec["n_partly"],
        shape=tuple(spec["shape"]),
        seed=spec["seed"],
        jobs=snakemake.threads,  # noqa: F821
    )
    for set_dir in (snakemake.output.completely, snakemake.output.partly):  # noqa: F821
        Path(set_dir).mkdir(parents=True, exist_ok=True)

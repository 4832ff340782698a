"""Snakemake adapter: tune B3's decoding on the validation split's consensus outputs."""

from pathlib import Path

from fisbe_bench.methods.patchperpix.config import Params
from fisbe_bench.methods.patchperpix.tuning import tune_to_file
from fisbe_bench.snakemake_adapter import run_step

run_step(
    snakemake,  # noqa: F821
    tune_to_file,
    samples_table=snakemake.input.table,  # noqa: F821
    probabilities={
        Path(path).name.removesuffix(".zarr"): path
        for path in snakemake.input.probabilities  # noqa: F821
    },
    split=snakemake.params.split,  # noqa: F821
    grid_path=snakemake.input.grid,  # noqa: F821
    out=snakemake.output[0],  # noqa: F821
    base=Params.from_config(snakemake.params.method),  # noqa: F821
)

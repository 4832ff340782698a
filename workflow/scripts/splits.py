"""Snakemake adapter: the official split file as a per-sample table."""

import pandas as pd

from fisbe_bench.snakemake_adapter import run_step
from fisbe_bench.splits import write_split_table

run_step(
    snakemake,  # noqa: F821
    write_split_table,
    split_file=snakemake.input.split_file,  # noqa: F821
    data_root=snakemake.params.data_root,  # noqa: F821
    out=snakemake.output[0],  # noqa: F821
    expected=pd.DataFrame(snakemake.params.expected),  # noqa: F821
)

"""The FISBe data contract, defined once (standard library only).

A sample is a zarr v2 group ``<name>.zarr``; datasets mirror the FISBe archive,
``<root>/<set>/<split>/<sample>.zarr``. Every module that reads or writes samples, every
method and the Snakefile (at DAG-build time, where only Snakemake is installed) import
these names from here.
"""

from __future__ import annotations

from typing import Any

RAW_KEY = "volumes/raw"
"""(3, Z, Y, X) uint16 holding 12-bit values."""
GT_KEY = "volumes/gt_instances"
"""(N, Z, Y, X) uint8, channel i holds i+1 (neurons overlap); attribute ``dim_neurons``."""
PRED_KEY = "volumes/instances"
"""What methods write: (N, Z, Y, X) in the ground truth's own channel-stack layout."""
DIM_NEURONS_ATTR = "dim_neurons"

MIN_SIZE = 800
"""Instances of at most this many voxels (over all channels) are removed before scoring."""

SETS = ("completely", "partly")
"""The labelled sets: every neuron labelled, or only some (unlabelled voxels are no evidence)."""
SPLITS = ("train", "val", "test")

RAW_CLIP = 1500.0
"""Raw intensities are normalised as clip(0, RAW_CLIP) / RAW_CLIP (all FISBe baselines)."""


def normalise_raw(raw: Any) -> Any:
    """``volumes/raw`` values as float32 in [0, 1]: clip(0, 1500) / 1500.

    Accepts a NumPy array (any dtype); returns a new float32 array.
    """
    return raw.astype("float32").clip(0.0, RAW_CLIP) / RAW_CLIP

"""Parameters of B2 colour clustering (``Params``) and its method name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fisbe_bench import contract
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import params_from_config, typed_params

METHOD = "colour_clustering"
WORKFLOW_KEYS = frozenset({"kind", "grid"})


@dataclass(frozen=True)
class Params:
    """Parameters of B2. Intensities are on the clip(0, 1500)/1500 scale.

    Colour distances are Euclidean distances between unit-length colour vectors (0 for
    the same hue, sqrt(2) for orthogonal channels); spatial distances are in voxels.
    """

    sigma: float = 1.0  # Gaussian denoising per channel
    threshold: float = 0.12  # foreground: background-subtracted brightest channel above this
    relative: float = 0.3  # ... and above this share of its maximum within 7 voxels
    background_window: int = 80  # local background: median within this many voxels (0: global)
    seed_spacing: int = 6  # supervoxel seeds: EDT ridge cut by a lattice of this pitch
    colour_distance: float = 0.3  # supervoxel affinity turns repulsive beyond this distance
    near_radius: float = 10.0  # supervoxels with centroids this close are linked
    near_attraction: float = 0.5  # weight of attractive links between non-touching supervoxels
    merge_gap: float = 20.0  # clean-up: clusters with supervoxels this close ...
    merge_distance: float = 0.2  # ... and mean colours this close are merged
    min_size: int = contract.MIN_SIZE  # instances of at most this many voxels are removed
    unmix: bool = True  # overlap step: add crossing voxels to every instance with a share
    unmix_share: float = 0.35  # share of a voxel's colour an instance needs to claim it

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str | Path | None = None) -> Params:
        """Parameters from a mapping; unknown names raise :class:`FisbeError`."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise FisbeError(
                f"unknown colour-clustering parameter(s): {', '.join(unknown)}", source
            )
        return typed_params(cls, values, source)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Params:
        """Parameters from a ``methods.<name>`` entry of kind ``colour_clustering``: the base
        that tuning starts from (``grid`` names the tuning grid)."""
        return params_from_config(cls, config, METHOD, WORKFLOW_KEYS)

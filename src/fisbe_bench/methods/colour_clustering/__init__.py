"""B2: colour clustering of MCFO neurons (CPU, no training), after Duan et al.

Pipeline: Gaussian denoise -> foreground (brightest channel minus a local median background,
above a threshold and above a share of its local maximum) -> supervoxels (watershed on -EDT
from centre-line seeds cut by a lattice) -> mean chromaticity per supervoxel -> signed
supervoxel graph (adjacent or near supervoxels, attractive when their colours agree,
repulsive when they differ) partitioned by mutex watershed (``mwatershed.cluster_edges``) ->
clean-up (a second mutex watershed over close clusters of agreeing colour) -> instances of
<= ``min_size`` voxels removed -> overlap step (``unmix``): the colour of voxels at crossings
is unmixed by non-negative least squares over the nearby instance colours, and a voxel is
added to every instance with a large share.

Input is the raw (3, Z, Y, X) volume normalised by clip(0, 1500)/1500 (``sample_io.read_raw``)
or a (Z, Y, X, 3) uint8 colour image (``read_colour_image``).

Modules, in pipeline order: ``params`` (``Params``), ``input``, ``foreground`` (front end),
``supervoxels``, ``graph`` (clustering), ``overlaps``, ``pipeline`` (``segment``,
``predict``), ``tuning`` (``tune`` and the parameter file) and ``cli``.
"""

from fisbe_bench.methods.colour_clustering.input import (
    colour_image_to_raw,
    read_colour_image,
    read_input,
)
from fisbe_bench.methods.colour_clustering.params import METHOD, WORKFLOW_KEYS, Params
from fisbe_bench.methods.colour_clustering.pipeline import predict, segment
from fisbe_bench.methods.colour_clustering.tuning import (
    parameter_grid,
    read_params,
    tune,
    write_params,
)
from fisbe_bench.sample_io import instance_stack

__all__ = [
    "METHOD",
    "WORKFLOW_KEYS",
    "Params",
    "colour_image_to_raw",
    "instance_stack",
    "parameter_grid",
    "predict",
    "read_colour_image",
    "read_input",
    "read_params",
    "segment",
    "tune",
    "write_params",
]

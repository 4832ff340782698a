"""Geometry statistics of a FISBe-layout dataset's ground truth, per neuron and per image.

Per neuron (one GT channel): voxels, skeleton voxels (Lee skeleton,
``fisbe_bench.thinning.thin``, as scikit-image's ``skeletonize``), median
diameter (2·EDT−1 sampled on the skeleton), 26-connected pieces, relative extent (longest
bounding-box side over the longest volume side) and whether the neuron is listed in
``dim_neurons``. Per image: labelled neurons, foreground share of the voxels and overlap
share of the foreground (voxels in two or more channels).

One CSV holds both levels: a ``level`` column says ``neuron`` or ``image``; columns of the
other level are empty.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import cc3d
import edt
import numpy as np
import pandas as pd
import zarr

from fisbe_bench.atomic import write_text
from fisbe_bench.contract import DIM_NEURONS_ATTR, GT_KEY, SETS, SPLITS
from fisbe_bench.errors import FisbeError
from fisbe_bench.thinning import thin

NEURON_COLUMNS = [
    "voxels",
    "skeleton_voxels",
    "median_diameter",
    "pieces",
    "relative_extent",
    "dim",
]
IMAGE_COLUMNS = ["neurons", "foreground_share", "overlap_share"]
COLUMNS = ["level", "sample", "set", "split", "neuron", *NEURON_COLUMNS, *IMAGE_COLUMNS]


def find_samples(data: str | Path) -> list[tuple[str, str, Path]]:
    """(set, split, path) of every sample: ``<data>/<set>/<split>/*.zarr``, else ``<data>/*.zarr``.

    A flat folder gives empty set and split names.
    """
    root = Path(data)
    if not root.is_dir():
        raise FisbeError("not a folder", root)
    found = [
        (set_name, split, path)
        for set_name in SETS
        for split in SPLITS
        for path in sorted((root / set_name / split).glob("*.zarr"))
    ]
    if not found:
        found = [("", "", path) for path in sorted(root.glob("*.zarr"))]
    if not found:
        raise FisbeError("no <set>/<split>/<sample>.zarr nor <sample>.zarr inside", root)
    return found


def neuron_stats(mask: np.ndarray) -> dict[str, float]:
    """Geometry of one neuron given as a boolean (Z, Y, X) mask with at least one voxel."""
    coords = [np.flatnonzero(mask.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1))]
    box = tuple(slice(c[0], c[-1] + 1) for c in coords)
    crop = np.pad(mask[box], 1)
    skeleton = np.zeros(crop.shape, dtype=bool)
    skeleton[tuple(thin(np.nonzero(crop)))] = True
    diameters = 2.0 * edt.edt(crop, black_border=True)[skeleton] - 1.0
    pieces = cc3d.connected_components(crop, connectivity=26, return_N=True)[1]
    extent = max(c[-1] - c[0] + 1 for c in coords)
    return {
        "voxels": int(crop.sum()),
        "skeleton_voxels": int(skeleton.sum()),
        "median_diameter": float(np.median(diameters)) if diameters.size else float("nan"),
        "pieces": int(pieces),
        "relative_extent": extent / max(mask.shape),
    }


def sample_stats(path: Path, key: str = GT_KEY) -> tuple[list[dict], dict]:
    """Per-neuron rows and the image row of one sample's ground truth ``key``."""
    try:
        gt = zarr.open_array(str(path / key), mode="r")
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise FisbeError(f"cannot read {key} ({err.__class__.__name__})", path) from err
    if gt.ndim != 4:
        raise FisbeError(f"{key} must be (N, Z, Y, X), got shape {gt.shape}", path)
    dim = set(cast(list[int], gt.attrs.get(DIM_NEURONS_ATTR, [])))
    count = np.zeros(gt.shape[1:], dtype=np.uint8)
    neurons = []
    for i in range(gt.shape[0]):
        mask = cast(np.ndarray, gt[i]) > 0
        if not mask.any():
            continue
        count += mask
        neurons.append({"neuron": i + 1, **neuron_stats(mask), "dim": (i + 1) in dim})
    foreground = int(np.count_nonzero(count))
    image = {
        "neurons": len(neurons),
        "foreground_share": foreground / count.size,
        "overlap_share": int(np.count_nonzero(count > 1)) / max(foreground, 1),
    }
    return neurons, image


def iter_rows(data: str | Path, key: str = GT_KEY) -> Iterator[dict]:
    """CSV rows (neuron rows of a sample, then its image row) for every sample in ``data``."""
    for set_name, split, path in find_samples(data):
        sample = {"sample": path.name.removesuffix(".zarr"), "set": set_name, "split": split}
        neurons, image = sample_stats(path, key)
        for row in neurons:
            yield {"level": "neuron", **sample, **row}
        yield {"level": "image", **sample, **image}


def dataset_stats(data: str | Path, key: str = GT_KEY) -> pd.DataFrame:
    """The statistics table of every sample in ``data`` (columns ``COLUMNS``)."""
    return pd.DataFrame(list(iter_rows(data, key)), columns=COLUMNS)


def write_dataset_stats(data: str | Path, out: str | Path, key: str = GT_KEY) -> Path:
    """Compute the statistics of ``data`` and write them atomically as CSV to ``out``."""
    buffer = io.StringIO()
    dataset_stats(data, key).to_csv(buffer, index=False, float_format="%.6g")
    return write_text(out, buffer.getvalue())


def summarise(table: pd.DataFrame) -> dict[str, float]:
    """Headline numbers of a statistics table (medians and shares over neurons/images)."""
    neurons = table[table["level"] == "neuron"]
    images = table[table["level"] == "image"]
    complete = images[images["set"] != "partly"]
    return {
        "neurons_per_image_min": float(complete["neurons"].min()),
        "neurons_per_image_median": float(complete["neurons"].median()),
        "foreground_share_median": float(images["foreground_share"].median()),
        "overlap_share_median": float(images["overlap_share"].median()),
        "thin_share": float((neurons["median_diameter"] <= 1.5).mean()),
        "pieces_median": float(neurons["pieces"].median()),
        "relative_extent_median": float(neurons["relative_extent"].median()),
        "skeleton_voxels_median": float(neurons["skeleton_voxels"].median()),
        "voxels_per_skeleton_median": float(
            (neurons["voxels"] / neurons["skeleton_voxels"].clip(lower=1)).median()
        ),
    }


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``fisbe-bench dataset-stats``."""
    parser.add_argument("--data", required=True, type=Path, help="dataset or folder of .zarr")
    parser.add_argument("--key", default=GT_KEY, help="instance array inside each sample")
    parser.add_argument("--out", required=True, type=Path, help="CSV file to write")


def run(args: argparse.Namespace) -> int:
    """Run ``fisbe-bench dataset-stats``."""
    write_dataset_stats(args.data, args.out, args.key)
    table = pd.read_csv(args.out)
    for name, value in summarise(table).items():
        print(f"{name}: {value:.4g}")
    return 0

"""B0: threshold the brightest channel, 26-connected components, drop small pieces.

A lower bound for the benchmark and an end-to-end check of the chain: it knows nothing
of colour, so touching or crossing neurons merge and dim ones fall apart.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cc3d
import numpy as np
import zarr
from skimage.filters import threshold_otsu

from fisbe_bench import contract, sample_io
from fisbe_bench.atomic import atomic_directory
from fisbe_bench.contract import RAW_CLIP, RAW_KEY
from fisbe_bench.errors import FisbeError
from fisbe_bench.methods import params_from_config

METHOD = "threshold_cc"
WORKFLOW_KEYS = frozenset({"kind"})


@dataclass(frozen=True)
class Params:
    """Parameters of B0; ``threshold`` is on the clip(0, 1500)/1500 scale."""

    threshold: float = 0.2
    otsu: bool = False
    min_size: int = contract.MIN_SIZE

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Params:
        """Parameters from a ``methods.<name>`` entry of kind ``threshold_cc``."""
        return params_from_config(cls, config, METHOD, WORKFLOW_KEYS)


def max_channel(raw_path: str | Path, key: str = RAW_KEY) -> np.ndarray:
    """Voxel-wise maximum over the colour channels, read one channel at a time (uint16).

    Every problem with the input (missing, corrupt, wrong shape or dtype, NaN) is a
    :class:`FisbeError` naming ``raw_path``.
    """
    try:
        raw = zarr.open_array(str(Path(raw_path) / key), mode="r")
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(f"no array {key!r}", raw_path) from err
    except (OSError, RuntimeError, TypeError, ValueError) as err:  # broken metadata
        raise FisbeError(f"cannot open {key!r}: {err}", raw_path) from err
    if raw.ndim != 4:
        raise FisbeError(f"{key} must be (C, Z, Y, X), got shape {raw.shape}", raw_path)
    if raw.dtype.kind not in "uif":
        raise FisbeError(f"{key} has dtype {raw.dtype}; expected intensities", raw_path)
    try:
        result = np.asarray(raw[0])
        for channel in range(1, raw.shape[0]):
            np.maximum(result, raw[channel], out=result)
    except (OSError, RuntimeError, TypeError, ValueError) as err:  # corrupt chunk
        raise FisbeError(f"cannot read {key!r}: {err}", raw_path) from err
    if result.dtype.kind == "f" and not np.isfinite(result).all():
        raise FisbeError(f"{key} contains NaN or infinite values", raw_path)
    return result


def segment(brightest: np.ndarray, params: Params) -> np.ndarray:
    """Label image (uint32, ids 1..N sequential) of the foreground's large 26-components."""
    if params.otsu:
        cut = threshold_otsu(brightest[:: max(1, brightest.shape[0] // 32)])
    else:
        cut = params.threshold * RAW_CLIP
    labels = cc3d.connected_components(brightest > cut, connectivity=26)
    labels = cc3d.dust(labels, threshold=params.min_size + 1, connectivity=26)
    labels, _ = cc3d.connected_components(labels > 0, connectivity=26, return_N=True)
    return labels


def predict(raw_path: str | Path, out_path: str | Path, params: Params) -> int:
    """Segment one sample and write ``volumes/instances`` atomically; returns #instances."""
    labels = segment(max_channel(raw_path), params)
    with atomic_directory(out_path) as tmp:
        return sample_io.write_instances(tmp, labels, attrs={"method": METHOD, **asdict(params)})


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """CLI: ``fisbe-bench threshold-cc predict --raw S.zarr --out P.zarr``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="{predict}")
    predict = sub.add_parser("predict", help="segment one sample")
    predict.add_argument("--raw", required=True, type=Path, help="sample zarr with volumes/raw")
    predict.add_argument("--out", required=True, type=Path, help="prediction zarr to write")
    predict.add_argument("--threshold", type=float, default=Params.threshold)
    predict.add_argument("--otsu", action="store_true", help="Otsu threshold instead")
    predict.add_argument("--min-size", type=int, default=contract.MIN_SIZE)


def run(args: argparse.Namespace) -> int:
    """Run B0 on one sample."""
    params = Params(threshold=args.threshold, otsu=args.otsu, min_size=args.min_size)
    n = predict(args.raw, args.out, params)
    print(json.dumps({"sample": args.raw.name, "instances": n}))
    return 0

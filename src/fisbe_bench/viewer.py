"""``fisbe-bench view``: a sample, its ground truth and predictions in napari, in 3-D.

Layers, bottom to top: the raw channels as three additive images (red, green, blue; contrast
0..1 after the contract's normalisation), ``gt`` (the GT channel stack collapsed by a maximum,
so each voxel shows one neuron id), ``gt overlap`` (how many neurons cover a voxel, where two
or more do) and one Labels layer per prediction folder, collapsed the same way. napari is the
optional ``viewer`` extra and is imported only here.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fisbe_bench.atomic import write_bytes
from fisbe_bench.contract import GT_KEY, PRED_KEY, RAW_KEY, normalise_raw
from fisbe_bench.errors import FisbeError
from fisbe_bench.volumes import (
    HDF_SUFFIXES,
    TIFF_SUFFIXES,
    ZARR_SUFFIX,
    Volume,
    label_values,
    open_volume,
)

if TYPE_CHECKING:
    import napari

RAW_COLOURS = ("red", "green", "blue")
PRED_SUFFIXES = (ZARR_SUFFIX, *HDF_SUFFIXES, *TIFF_SUFFIXES)
INSTALL_HINT = "napari is not installed; run: pip install 'fisbe-bench[viewer]'"


def collapse(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """``(max over channels, number of nonzero channels)`` of a ``(C, Z, Y, X)`` stack.

    Read block by block, so memory stays at two label images; ids are validated as in
    scoring (integer-valued floats become uint64, negative ids and NaN are errors).
    """
    top = np.zeros(volume.spatial_shape, label_values(np.zeros(0, volume.dtype), None).dtype)
    count = np.zeros(volume.spatial_shape, dtype=np.uint8)
    for (_, z0, y0, x0), block in volume.blocks():
        z, y, x = block.shape[1:]
        window = (slice(z0, z0 + z), slice(y0, y0 + y), slice(x0, x0 + x))
        np.maximum(top[window], label_values(block.max(axis=0), volume.where), out=top[window])
        count[window] += np.count_nonzero(block, axis=0).astype(np.uint8)
    return top, count


def prediction_file(folder: Path, sample: str) -> Path:
    """``folder/<sample>.zarr`` (or ``.hdf``, ``.tif``...): the first that exists."""
    for suffix in PRED_SUFFIXES:
        candidate = folder / f"{sample}{suffix}"
        if candidate.exists():
            return candidate
    raise FisbeError(
        f"no prediction for sample {sample!r} (also looked for {', '.join(PRED_SUFFIXES[1:])})",
        folder / f"{sample}{ZARR_SUFFIX}",
    )


def layer_name(folder: Path) -> str:
    """The folder's name; for the workflow's ``<method>/predictions`` the method's name."""
    folder = folder.resolve()
    return folder.parent.name if folder.name == "predictions" else folder.name


def build_viewer(sample: Path, preds: Sequence[Path], show: bool = True) -> napari.Viewer:
    """A 3-D napari viewer holding ``sample``'s raw and GT and one layer per prediction folder."""
    try:
        import napari
    except ImportError as err:
        raise FisbeError(INSTALL_HINT) from err
    sample = Path(sample)
    name = sample.name.removesuffix(ZARR_SUFFIX)
    raw = open_volume(sample, RAW_KEY)
    if raw.shape[0] != len(RAW_COLOURS):
        raise FisbeError(f"{RAW_KEY} has {raw.shape[0]} channels, expected 3", sample)
    raw_data = raw.read()
    gt, gt_count = collapse(open_volume(sample, GT_KEY))
    predictions = []
    for folder in map(Path, preds):
        path = prediction_file(folder, name)
        data = collapse(open_volume(path, PRED_KEY))[0]
        if data.shape != gt.shape:
            raise FisbeError(f"shape {data.shape} differs from the sample's {gt.shape}", path)
        predictions.append((layer_name(folder), data))

    viewer = napari.Viewer(title=f"fisbe-bench: {name}", ndisplay=3, show=show)
    for channel, colour in enumerate(RAW_COLOURS):
        viewer.add_image(
            normalise_raw(raw_data[channel]),
            name=f"raw {colour}",
            colormap=colour,
            blending="additive",
            contrast_limits=(0.0, 1.0),
        )
    viewer.add_labels(gt, name="gt")
    viewer.add_labels(np.where(gt_count >= 2, gt_count, 0), name="gt overlap")
    for layer, data in predictions:
        viewer.add_labels(data, name=layer)
    return viewer


def save_screenshot(viewer: napari.Viewer, path: Path) -> None:
    """The canvas as a PNG file, written atomically."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(viewer.screenshot(canvas_only=True)).save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``fisbe-bench view``."""
    parser.add_argument("sample", type=Path, help="sample .zarr (raw and ground truth)")
    parser.add_argument(
        "--pred",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="folder holding <sample>.zarr|.hdf|.tif predictions (repeatable)",
    )
    parser.add_argument(
        "--screenshot", type=Path, metavar="FILE", help="save the 3-D view as PNG and exit"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``fisbe-bench view``: open the viewer, or save a screenshot and close it.

    A screenshot needs a shown window (a hidden one's canvas is never drawn), so with
    ``--screenshot`` the window opens briefly.
    """
    viewer = build_viewer(args.sample, args.pred)
    if args.screenshot is None:
        import napari  # importable: build_viewer checked

        napari.run()
    else:
        save_screenshot(viewer, args.screenshot)
        viewer.close()
    return 0

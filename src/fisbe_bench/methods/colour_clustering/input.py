"""B2 input: the raw sample normalised like ``sample_io.read_raw``, or a colour image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fisbe_bench import contract
from fisbe_bench.errors import FisbeError

COLOUR_KEY = "volumes/gmm_image"  # the denoised colour image of Duan et al.'s predictions
_HDF5 = {".hdf", ".h5", ".hdf5"}


def read_colour_image(path: str | Path, key: str = COLOUR_KEY) -> np.ndarray:
    """Read a (Z, Y, X, 3) uint8 colour image (HDF5 or zarr) as (3, Z, Y, X) float32 in [0, 1]."""
    path = Path(path)
    try:
        if path.suffix in _HDF5:
            import h5py

            with h5py.File(path, "r") as handle:
                image = handle[key][...]
        else:
            import zarr

            image = zarr.open_array(str(path / key), mode="r")[...]
    except (OSError, KeyError, FileNotFoundError) as err:
        raise FisbeError(f"cannot read colour image {key!r}: {err}", path) from err
    return colour_image_to_raw(image, source=path)


def colour_image_to_raw(image: np.ndarray, source: str | Path | None = None) -> np.ndarray:
    """A (Z, Y, X, 3) uint8 colour image as a (3, Z, Y, X) float32 volume in [0, 1]."""
    if image.ndim != 4 or image.shape[-1] != 3:
        raise FisbeError(f"colour image must be (Z, Y, X, 3), got shape {image.shape}", source)
    scale = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
    out = np.empty((3, *image.shape[:3]), np.float32)
    for channel in range(3):
        np.divide(image[..., channel], scale, out=out[channel], dtype=np.float32)
    return out


def read_input(path: str | Path, key: str = contract.RAW_KEY) -> np.ndarray:
    """(3, Z, Y, X) float32 input: ``volumes/raw`` as ``sample_io.read_raw`` gives it, or colour.

    A sample zarr is read as ``volumes/raw`` (``key``); an HDF5 file or another ``key`` is read
    as a (Z, Y, X, 3) colour image (``volumes/gmm_image`` by default for HDF5).
    """
    path = Path(path)
    if path.suffix in _HDF5 or key != contract.RAW_KEY:
        return read_colour_image(path, COLOUR_KEY if key == contract.RAW_KEY else key)
    import zarr

    try:
        stored = zarr.open_array(str(path / key), mode="r")
    except (FileNotFoundError, KeyError) as err:
        raise FisbeError(f"no array {key!r}", path) from err
    if stored.ndim != 4 or stored.shape[0] != 3:
        raise FisbeError(f"{key} must be (3, Z, Y, X), got shape {stored.shape}", path)
    raw = np.empty(stored.shape, np.float32)  # sample_io.read_raw's values, one channel at a time
    for channel, volume in enumerate(raw):
        volume[...] = stored[channel]  # contract.normalise_raw in place
        np.clip(volume, 0.0, contract.RAW_CLIP, out=volume)
        volume /= contract.RAW_CLIP
    return raw

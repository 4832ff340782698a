"""B2 front end: denoising, background subtraction and the foreground mask."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_BACKGROUND_STRIDE = 8  # background levels are medians over every 8th voxel per axis
_SLAB = 32  # z-planes per slab of the local-maximum filter


def denoise_and_foreground(
    raw: np.ndarray,
    sigma: float,
    threshold: float,
    relative: float = 0.0,
    background_window: int = 0,
    window: int = 7,
) -> np.ndarray:
    """Denoise ``raw`` in place and subtract each channel's background level.

    The background is the channel's median, or with ``background_window`` > 0 a local one:
    the median within that many voxels, computed on every ``_BACKGROUND_STRIDE``-th voxel
    and repeated back to full size (uneven illumination, autofluorescence). ``raw`` then holds the
    background-subtracted colour, clipped at 0. Returns the foreground mask: brightest
    channel above ``threshold`` and above ``relative`` times its maximum within a
    ``window``-voxel cube (which keeps blurred halos of bright neurons out).
    """
    step = _BACKGROUND_STRIDE
    for volume in raw:
        if sigma > 0:
            ndimage.gaussian_filter(volume, sigma, output=volume, mode="nearest")
        coarse = volume[::step, ::step, ::step]
        if background_window > 0:
            size = max(1, round(background_window / step))
            coarse = ndimage.median_filter(coarse, size=size, mode="nearest")
            for axis in range(3):  # back to full size, one constant per stride^3 block
                coarse = coarse.repeat(step, axis=axis)
            volume -= coarse[: volume.shape[0], : volume.shape[1], : volume.shape[2]]
        else:
            volume -= np.median(coarse)
        del coarse  # a full-size volume: not alive beside the mask below
        np.maximum(volume, 0.0, out=volume)
    brightest = raw.max(axis=0)
    mask = brightest > threshold
    if relative > 0:
        halo = window // 2
        for z0 in range(0, len(mask), _SLAB):  # slabs with a halo: the same maxima, less memory
            lo, hi = max(z0 - halo, 0), min(z0 + _SLAB + halo, len(mask))
            high = ndimage.maximum_filter(brightest[lo:hi], size=window)
            high = high[z0 - lo : z0 - lo + _SLAB]
            high *= relative
            mask[z0 : z0 + _SLAB] &= brightest[z0 : z0 + _SLAB] >= high
    return mask

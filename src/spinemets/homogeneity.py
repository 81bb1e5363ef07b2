"""Local homogeneity of a CT: the one rule the segmentation (contrast-blood pools) and the
phantomless calibration (reference-tissue sampling) share.

A voxel is "homogeneous" when the standard deviation of HU in a small cube around it (about 5 mm)
is at most ``NOISE_FACTOR`` times the image's noise floor (and never below ``MIN_SD_LIMIT_HU``).
The noise floor is the lower decile of that local SD over soft tissue and fat (-200..200 HU)
inside the body. All values in HU; arrays ``[z, y, x]``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: homogeneous = local SD <= NOISE_FACTOR x noise floor, and the limit is at least MIN_SD_LIMIT_HU
NOISE_FACTOR = 3.0
MIN_SD_LIMIT_HU = 15.0
#: noise floor when the image holds no soft tissue/fat to measure it on
DEFAULT_NOISE_HU = 20.0


def local_mean_sd(hu: np.ndarray, size) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and SD (HU, float32) in a box of ``size`` voxels (int or one per axis)."""
    h = hu.astype(np.float32, copy=False)
    mean = ndimage.uniform_filter(h, size=size)
    sq = ndimage.uniform_filter(h * h, size=size)
    return mean, np.sqrt(np.maximum(sq - mean * mean, 0.0))


def noise_floor_hu(sd: np.ndarray, hu: np.ndarray, body: np.ndarray | None = None) -> float:
    """Image noise (HU): lower decile of the local SD over soft tissue and fat (-200..200 HU),
    inside ``body`` when given."""
    inner = (hu > -200) & (hu < 200)
    if body is not None:
        inner &= body
    return float(np.percentile(sd[inner], 10)) if inner.any() else DEFAULT_NOISE_HU


def sd_limit_hu(noise_hu: float) -> float:
    """Largest local SD (HU) a homogeneous voxel may have, for an image of this noise floor."""
    return max(NOISE_FACTOR * noise_hu, MIN_SD_LIMIT_HU)


__all__ = ["local_mean_sd", "noise_floor_hu", "sd_limit_hu"]

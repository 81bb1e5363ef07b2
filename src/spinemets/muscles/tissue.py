"""Tissue windows of the classic muscle backend and the tissue masks of a mid-vertebral plane.

HU windows (muscle -29..150 HU, fat -190..-30 HU, bone > 200 HU), the body (patient) outline and
the bottoms of fascial fat planes too thin to reach the fat window. Arrays are the 2-D plane
([row, col], ``px`` mm per pixel); lengths mm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .morphology import disk
from .valley import fat_valleys, image_noise_hu


MUSCLE_HU = (-29.0, 150.0)
FAT_HU = (-190.0, -30.0)
BONE_HU = 200.0
#: a pixel this far into the fat window is fat however thin the plane it belongs to (HU, about
#: half-way from the muscle window's lower limit to fat at -90..-100 HU)
FAT_PLANE_HU = -60.0


def body_outline(hu: np.ndarray, px: float) -> np.ndarray:
    """Body (patient) outline: tissue > -400 HU, opened 2 mm, component at the image centre."""
    tissue = ndi.binary_opening(hu > -400, structure=disk(2.0 / px))
    lab, n = ndi.label(tissue)
    c = (hu.shape[0] // 2, hu.shape[1] // 2)
    if n == 0:
        return np.zeros_like(tissue)
    keep = lab[c] if lab[c] else int(np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    return ndi.binary_fill_holes(lab == keep)


def thin_fat_planes(h_sharp: np.ndarray, hs: np.ndarray, fat: np.ndarray, muscle: np.ndarray, px: float,
                     where: np.ndarray) -> np.ndarray:
    """Bottoms of the thin fat planes in ``where`` (``valley.fat_valleys`` on the 0.5 mm-smoothed
    image ``h_sharp``): pure fat = median of the opened fat mask ``fat`` (1 mm-smoothed HU ``hs``),
    noise measured on ``h_sharp`` over the muscle window."""
    if not where.any():
        return np.zeros_like(where)
    fat_hu = float(np.median(hs[fat])) if fat.sum() >= 20 else -100.0
    noise = image_noise_hu(h_sharp, ndi.binary_erosion(muscle, structure=disk(1.0 / px)))
    return fat_valleys(h_sharp, px, fat_hu, noise, where=where)

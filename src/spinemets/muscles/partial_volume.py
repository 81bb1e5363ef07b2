"""Partial-volume (fractional) cross-sectional area of muscle groups in a plane image.

A muscle sheet 2-6 mm thick has as many border pixels as interior ones: counting a border pixel
as 0 or 1 by a HU threshold gains or loses a large share of its area. Here every pixel on a
group's border with fat counts by its CT number as the fraction of muscle in a two-material
mixture,

    f = clip((HU - HU_fat) / (HU_muscle - HU_fat), 0, 1),

where ``HU_fat`` is the median of pure fat in the plane (fat-window pixels whose 3x3
neighbourhood is all fat) and ``HU_muscle`` the median of the group's own interior muscle-window
pixels (the pooled interior of all groups when the group is too thin to have an interior).
Counted fractionally are the group's outline pixels that touch unlabelled tissue and the
unlabelled pixels below the muscle window (fat/muscle mixtures) within ``band_mm`` of the
outline, each given to the nearest group; interior pixels and pixels bordering another group
count 1. Borders with bone are not weighted (a muscle/bone mixture has no fixed HU). All areas
in mm^2; HU of the linearly interpolated plane image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels

from .classic import FAT_HU, MUSCLE_HU

_CROSS = ndi.generate_binary_structure(2, 1)
#: fewest interior pixels for a group's own muscle reference
_MIN_INTERIOR = 10


def pure_fat_hu(hu: np.ndarray, region: np.ndarray | None = None) -> float | None:
    """Median HU of fat-window pixels whose 3x3 neighbourhood is all in the fat window."""
    fat = (hu >= FAT_HU[0]) & (hu <= FAT_HU[1])
    if region is not None:
        fat &= region
    core = ndi.binary_erosion(fat, structure=np.ones((3, 3), bool))
    vals = hu[core] if core.sum() >= 20 else hu[fat]
    return float(np.median(vals)) if len(vals) else None


def partial_volume_areas(outlines: dict[int, np.ndarray], hu: np.ndarray, px: float,
                         band_mm: float = 1.5) -> dict[int, float]:
    """Fractional CSA (mm^2) of each group ``{label id: outline mask}`` of one plane image."""
    if not outlines:
        return {}
    lab = np.zeros(hu.shape, np.int32)
    for i, m in outlines.items():
        lab[m & (lab == 0)] = i
    fat_ref = pure_fat_hu(hu)
    muscle_win = (hu >= MUSCLE_HU[0]) & (hu <= MUSCLE_HU[1])
    interior = {i: ndi.binary_erosion(lab == i, structure=_CROSS) & muscle_win for i in outlines}
    pooled = np.concatenate([hu[m] for m in interior.values()]) if interior else np.array([])
    if fat_ref is None or len(pooled) < _MIN_INTERIOR:  # no reference: plain pixel count
        return {i: float((lab == i).sum()) * px * px for i in outlines}
    pooled_ref = float(np.median(pooled))
    free = lab == 0
    near_free = ndi.binary_dilation(free, structure=_CROSS)
    grown = expand_labels(lab, distance=band_mm / px)
    mixture = free & (hu < MUSCLE_HU[0]) & (hu >= FAT_HU[0])
    out: dict[int, float] = {}
    for i in outlines:
        own = lab == i
        ref = float(np.median(hu[interior[i]])) if interior[i].sum() >= _MIN_INTERIOR else pooled_ref
        if ref - fat_ref < 30.0:  # muscle as fatty as fat: no contrast to weigh by
            out[i] = float(own.sum()) * px * px
            continue
        frac = np.clip((hu - fat_ref) / (ref - fat_ref), 0.0, 1.0)
        edge = own & near_free
        band = (grown == i) & mixture
        n = float((own & ~edge).sum()) + float(frac[edge].sum()) + float(frac[band].sum())
        out[i] = n * px * px
    return out

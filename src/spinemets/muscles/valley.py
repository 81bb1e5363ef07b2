"""Thin fat planes seen as HU valleys, whatever their lowest CT number.

A fat plane thinner than about two pixels never reads as fat: partial volume with the tissue on
either side (and the resampling onto the plane) lifts its middle into the muscle window, so a HU
threshold lets a muscle region run across it into the organ beyond (the lean subject's psoas and
the liver, the psoas and the quadratus lumborum). What remains of the plane is a valley of the HU
profile across it: its lowest pixel lies below the tissue on both sides. Treated as a two-material
mixture, that pixel holds the fat fraction

    f = (HU_flank - HU) / (HU_flank - HU_fat),

``HU_flank`` the lower of the brightest values within ``VALLEY_HALF_SPAN_MM`` on each side, and
``HU_fat`` the plane's pure fat. A pixel is a fat-plane pixel when, along one of four directions
(rows, columns, both diagonals), ``f`` reaches ``MIN_FAT_FRACTION``, the dip exceeds
``NOISE_FACTOR`` times the image noise, and both flanks lie in the muscle window or above (a
valley between two soft tissues, not the edge of a fat region, which the threshold already finds).
All lengths mm; arrays are the 2-D plane image ``[row, col]``.
"""

from __future__ import annotations

import numpy as np

#: half-width of the profile on each side of a valley pixel where the flanking tissue is sought
#: (mm): half of a thin plane (up to ~3 mm) plus the ~1.5 mm partial-volume blur of its borders
VALLEY_HALF_SPAN_MM = 3.0
#: a valley pixel holds at least this share of fat (a plane a third of a pixel thick, the least a
#: 1 mm pixel shows above noise on a routine CT)
MIN_FAT_FRACTION = 1.0 / 3.0
#: the dip must exceed this many times the image noise (HU SD of the smoothed plane image)
NOISE_FACTOR = 3.0
#: lower limit of the muscle window (HU): both flanks must be soft tissue
SOFT_TISSUE_MIN_HU = -29.0

_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _shifted(a: np.ndarray, dr: int, dc: int, fill: float) -> np.ndarray:
    """``a`` moved by (dr, dc) pixels: out[r, c] = a[r + dr, c + dc], ``fill`` outside."""
    out = np.full_like(a, fill)
    n_r, n_c = a.shape
    rs, re = max(-dr, 0), n_r - max(dr, 0)
    cs, ce = max(-dc, 0), n_c - max(dc, 0)
    if rs < re and cs < ce:
        out[rs:re, cs:ce] = a[rs + dr:re + dr, cs + dc:ce + dc]
    return out


def image_noise_hu(h: np.ndarray, where: np.ndarray) -> float:
    """Noise SD (HU) of ``h`` within ``where``: the median absolute difference between
    horizontally neighbouring pixels, scaled to a Gaussian SD of one pixel (1.4826 / sqrt(2));
    smooth tissue gradients add little to a one-pixel difference."""
    d = np.abs(np.diff(h, axis=1))
    w = where[:, 1:] & where[:, :-1]
    if w.sum() < 20:
        return 0.0
    return float(np.median(d[w])) * 1.4826 / np.sqrt(2.0)


def fat_valleys(h: np.ndarray, px: float, fat_hu: float, noise_hu: float,
                where: np.ndarray | None = None) -> np.ndarray:
    """Pixels of ``h`` (HU, lightly smoothed) at the bottom of a thin fat plane between two soft
    tissues (see the module docstring), within ``where`` when given. ``fat_hu``: pure fat of the
    plane (HU); ``noise_hu``: the image noise (HU SD of ``h``)."""
    h = h.astype(np.float32, copy=False)
    out = np.zeros(h.shape, bool)
    for dr, dc in _DIRECTIONS:
        step = px * float(np.hypot(dr, dc))
        k_max = max(int(round(VALLEY_HALF_SPAN_MM / step)), 1)
        plus = np.full_like(h, -np.inf)
        minus = np.full_like(h, -np.inf)
        for k in range(1, k_max + 1):
            plus = np.maximum(plus, _shifted(h, k * dr, k * dc, -np.inf))
            minus = np.maximum(minus, _shifted(h, -k * dr, -k * dc, -np.inf))
        flank = np.minimum(plus, minus)
        dip = flank - h
        with np.errstate(invalid="ignore"):
            frac = dip / np.maximum(flank - fat_hu, 1.0)
        out |= (flank >= SOFT_TISSUE_MIN_HU) & (frac >= MIN_FAT_FRACTION) & (dip >= NOISE_FACTOR * noise_hu)
    if where is not None:
        out &= where
    return out

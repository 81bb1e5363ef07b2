"""Calibration-rod detection and sampling (synchronous K2HPO4 phantom under the patient).

Detection: on the axial average image (mean over slices) a Hough transform for circles of
radius 4-15 mm on Canny edges finds candidate rods; a candidate is kept when it lies posterior
to (under) the vertebrae by at least 40 mm (the phantom lies under the patient's back, below the
table line), its inner disk (60 % of the radius) is homogeneous in plane (SD < 10 HU on the average image), differs by >= 15 HU from the
ring around it (1.3-1.8 radii) and over the slices (SD of the
per-slice means < 10 HU) and its HU lies in [-200, 1500]; the largest such circles win, and
overlapping circles count once. Rods are sampled as the mean HU of the
inner disk over the slices where the rod is present. Rod densities come from the user
(``rods.json``); when positions are not given, detected rods are matched to densities by rank
(higher density, higher HU); when fewer rods are detected than described (a rod with the HU of
its surroundings cannot be seen) the ordered subset of densities with the best linear fit is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..image import CTImage


@dataclass
class Rod:
    center_lps_mm: tuple[float, float]
    radius_mm: float
    hu_mean: float
    hu_sd_between_slices: float
    n_voxels: int


def _disk_mask(ct: CTImage, cx_lps: float, cy_lps: float, r_mm: float) -> np.ndarray:
    g = ct.geometry
    ny, nx = g.shape_zyx[1:]
    jj, ii = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    idx = np.stack([np.zeros(jj.shape), jj, ii], axis=-1).astype(float)
    lps = g.index_zyx_to_lps(idx)
    return np.hypot(lps[..., 0] - cx_lps, lps[..., 1] - cy_lps) <= r_mm


def sample_rod(ct: CTImage, center_lps_mm: tuple[float, float], radius_mm: float) -> Rod:
    """Mean HU in the inner 60 % disk of a rod over the slices where the rod is present.

    Slices whose disk mean deviates from the median of all slices by more than
    max(4 robust SD, 10 HU) are left out (the rod can be hidden by other material at the ends of
    the scan)."""
    disk = _disk_mask(ct, center_lps_mm[0], center_lps_mm[1], 0.6 * radius_mm)
    if not disk.any():
        return Rod((float(center_lps_mm[0]), float(center_lps_mm[1])), float(radius_mm), float("nan"),
                   float("inf"), 0)
    per_slice = ct.array[:, disk].astype(float).mean(axis=1)
    med = float(np.median(per_slice))
    mad = 1.4826 * float(np.median(np.abs(per_slice - med)))
    keep = np.abs(per_slice - med) <= max(4.0 * mad, 10.0)
    vals = per_slice[keep]
    return Rod((float(center_lps_mm[0]), float(center_lps_mm[1])), float(radius_mm),
               float(vals.mean()), float(vals.std()), int(disk.sum() * keep.sum()))


def detect_rods(ct: CTImage, vertebrae_mask: np.ndarray, max_rods: int = 8) -> list[Rod]:
    """Find calibration rods under the patient (see module docstring). Sorted by HU."""
    from skimage.feature import canny
    from skimage.transform import hough_circle, hough_circle_peaks

    g = ct.geometry
    sx, sy = g.spacing_mm[0], g.spacing_mm[1]
    avg = np.median(ct.array.astype(np.float32), axis=0)
    edges = canny(np.clip(avg, -300, 1600), sigma=1.0, low_threshold=8, high_threshold=20)
    radii_px = np.arange(max(2, int(4 / sx)), int(np.ceil(15 / sx)) + 1)
    acc = hough_circle(edges, radii_px)
    _, cx, cy, rr = hough_circle_peaks(acc, radii_px, total_num_peaks=300, min_xdistance=1,
                                       min_ydistance=1)
    vpts = g.index_zyx_to_lps(np.argwhere(vertebrae_mask).astype(float))
    y_spine_post = float(vpts[:, 1].max()) if len(vpts) else -np.inf
    cands: list[Rod] = []
    for x_i, y_j, r in zip(cx, cy, rr):
        c = g.index_zyx_to_lps(np.array([0.0, float(y_j), float(x_i)]))
        if c[1] < y_spine_post + 40.0:
            continue
        inner = _disk_mask(ct, c[0], c[1], 0.6 * float(r) * sx)
        if inner.sum() < 5 or float(avg[inner].std()) > 10.0:  # in-plane homogeneity
            continue
        ring = _disk_mask(ct, c[0], c[1], 1.8 * float(r) * sx) & ~_disk_mask(ct, c[0], c[1], 1.3 * float(r) * sx)
        if abs(float(avg[inner].mean()) - float(np.median(avg[ring]))) < 15.0:  # no edge contrast
            continue
        rod = sample_rod(ct, (c[0], c[1]), float(r) * sx)
        if not (-200 <= rod.hu_mean <= 1500) or rod.hu_sd_between_slices > 10.0:
            continue
        cands.append(rod)
    # largest homogeneous circles first; overlapping candidates are the same rod
    rods: list[Rod] = []
    for rod in sorted(cands, key=lambda r: (-r.radius_mm, r.hu_sd_between_slices)):
        if any(np.hypot(rod.center_lps_mm[0] - o.center_lps_mm[0],
                        rod.center_lps_mm[1] - o.center_lps_mm[1]) < rod.radius_mm + o.radius_mm
               for o in rods):
            continue
        rods.append(rod)
        if len(rods) >= max_rods:
            break
    return sorted(rods, key=lambda r: r.hu_mean)


def rods_from_spec(ct: CTImage, vertebrae_mask: np.ndarray, spec: dict[str, Any]) -> tuple[list[Rod], list[float]]:
    """Rods and densities from a rods.json spec.

    ``{"rods": [{"density_mg_cm3": 100, "center_lps_mm": [x, y], "radius_mm": 6}, ...]}`` samples
    the given positions; without ``center_lps_mm`` the rods are detected and matched by rank.
    """
    items = spec.get("rods", spec if isinstance(spec, list) else [])
    dens = [float(r["density_mg_cm3"]) for r in items]
    if items and all("center_lps_mm" in r for r in items):
        rods = [sample_rod(ct, tuple(r["center_lps_mm"][:2]), float(r.get("radius_mm", 5.0)))
                for r in items]
        return rods, dens
    found = detect_rods(ct, vertebrae_mask, max_rods=max(len(dens), 2) + 2)
    dens = sorted(dens)
    if len(found) > len(dens):  # keep the most homogeneous candidates
        found = sorted(sorted(found, key=lambda r: r.hu_sd_between_slices)[:len(dens)], key=lambda r: r.hu_mean)
    if len(found) == len(dens):
        return found, dens
    if len(found) < 3:
        return found, []
    # fewer rods found than described (a rod can match its surroundings): choose the ordered
    # subset of densities that fits the detected rods best (highest R2)
    from itertools import combinations

    hu = np.array([r.hu_mean for r in found])
    best = max(combinations(dens, len(found)), key=lambda c: np.corrcoef(hu, c)[0, 1])
    return found, list(best)

"""Calibration-rod detection and sampling (synchronous K2HPO4 phantom under the patient).

Detection: on the axial average image (mean over slices) a Hough transform for circles of
radius 4-15 mm on Canny edges finds candidate rods; a candidate is kept when it lies posterior
to (under) the vertebrae by at least 40 mm (the phantom lies under the patient's back, below the
table line), its inner disk (60 % of the radius) is homogeneous over all slices (SD of the
per-slice means < 10 HU) and its HU lies in [-200, 1500]. Rods are sampled as the mean HU of the
inner disk over all slices. Rod densities come from the user (``rods.json``); when positions
are not given, detected rods are matched to densities by rank (higher density, higher HU).
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


def sample_rod(ct: CTImage, center_lps_mm: tuple[float, float], radius_mm: float,
               slices: slice | None = None) -> Rod:
    """Mean HU in the inner 60 % disk of a rod along all (or the given) slices."""
    disk = _disk_mask(ct, center_lps_mm[0], center_lps_mm[1], 0.6 * radius_mm)
    arr = ct.array[slices or slice(None)].astype(float)
    per_slice = arr[:, disk].mean(axis=1) if disk.any() else np.array([np.nan])
    return Rod((float(center_lps_mm[0]), float(center_lps_mm[1])), float(radius_mm),
               float(np.mean(per_slice)), float(np.std(per_slice)), int(disk.sum() * arr.shape[0]))


def detect_rods(ct: CTImage, vertebrae_mask: np.ndarray, max_rods: int = 8) -> list[Rod]:
    """Find calibration rods under the patient (see module docstring). Sorted by HU."""
    from skimage.feature import canny, peak_local_max  # noqa: F401
    from skimage.transform import hough_circle, hough_circle_peaks

    g = ct.geometry
    sx, sy = g.spacing_mm[0], g.spacing_mm[1]
    avg = ct.array.astype(np.float32).mean(axis=0)
    edges = canny(np.clip(avg, -300, 1600), sigma=1.0, low_threshold=20, high_threshold=60)
    radii_px = np.arange(max(2, int(4 / sx)), int(np.ceil(15 / sx)) + 1)
    acc = hough_circle(edges, radii_px)
    _, cx, cy, rr = hough_circle_peaks(acc, radii_px, total_num_peaks=4 * max_rods,
                                       min_xdistance=int(8 / sx), min_ydistance=int(8 / sy))
    vpts = g.index_zyx_to_lps(np.argwhere(vertebrae_mask).astype(float))
    y_spine_post = float(vpts[:, 1].max()) if len(vpts) else -np.inf
    rods: list[Rod] = []
    for x_i, y_j, r in zip(cx, cy, rr):
        c = g.index_zyx_to_lps(np.array([0.0, float(y_j), float(x_i)]))
        if c[1] < y_spine_post + 40.0:
            continue
        rod = sample_rod(ct, (c[0], c[1]), float(r) * sx)
        if not (-200 <= rod.hu_mean <= 1500) or rod.hu_sd_between_slices > 10.0:
            continue
        if any(np.hypot(rod.center_lps_mm[0] - o.center_lps_mm[0],
                        rod.center_lps_mm[1] - o.center_lps_mm[1]) < 8.0 for o in rods):
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
    if len(found) < len(dens):
        return found, []
    # keep the len(dens) most homogeneous rods, then match by rank
    found = sorted(sorted(found, key=lambda r: r.hu_sd_between_slices)[:len(dens)], key=lambda r: r.hu_mean)
    return found, sorted(dens)

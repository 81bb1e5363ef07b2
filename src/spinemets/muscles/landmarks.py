"""Bony landmarks of one vertebra in its mid-vertebral plane (plane coordinates, mm).

The whole vertebra (and its body) is projected along the spine axis onto the plane, so processes
that lie above or below the mid-height (transverse processes at pedicle height, the caudally
sloping spinous process) still anchor the muscle compartments. x is towards the patient's left,
y towards posterior, origin at the body centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..image import LabelMap
from .frames import VertebraFrame
from .plane import Plane


@dataclass(frozen=True)
class Landmarks:
    body_half_width_mm: float  # half the left-right extent of the body
    body_anterior_mm: float  # y of the body's anterior edge (negative)
    body_posterior_mm: float  # y of the body's posterior edge
    body_radius_mm: float  # radius of a disc with the body's mid-height cross-sectional area
    spinous_tip_mm: float  # y of the spinous process tip (most posterior midline point)
    spinous_half_width_mm: float
    lamina_mm: float  # y of the posterior surface of the laminae (half-way to the TP tip)
    tp_tip_left: tuple[float, float]  # (x, y) of the left transverse-process tip
    tp_tip_right: tuple[float, float]


def _shadow(points_xy: np.ndarray, plane: Plane) -> np.ndarray:
    img = np.zeros(plane.shape, bool)
    r, c = plane.to_pixel(points_xy[:, 0], points_xy[:, 1])
    r = np.clip(np.round(r).astype(int), 0, plane.shape[0] - 1)
    c = np.clip(np.round(c).astype(int), 0, plane.shape[1] - 1)
    img[r, c] = True
    return img


def vertebra_landmarks(frame: VertebraFrame, plane: Plane, vertebrae: LabelMap,
                       vertebra_id: int, body_points_lps: np.ndarray | None = None) -> Landmarks:
    """Landmarks from the projection of the vertebra's voxels onto the plane."""
    if len(frame.points_lps):
        pts = frame.points_lps
    else:
        pts = vertebrae.geometry.index_zyx_to_lps(np.argwhere(vertebrae.array == vertebra_id))
    xy = plane.project_lps(pts)
    x, y = xy[:, 0], xy[:, 1]
    if body_points_lps is not None and len(body_points_lps):
        bxy = plane.project_lps(body_points_lps)
    else:  # body = the part anterior to the vertebra's posterior-element centroid band
        bxy = xy[y < np.percentile(y, 40)]
    bx, by = bxy[:, 0], bxy[:, 1]
    band = np.abs(by) < max(3.0, 0.25 * np.ptp(by))
    half_w = float(np.percentile(np.abs(bx[band]) if band.any() else np.abs(bx), 98))
    y_ant = float(np.percentile(by, 1))
    y_post = float(np.percentile(by, 99))
    if frame.body_radius_mm > 0:  # body volume / height: independent of the CT grid
        r_b = float(frame.body_radius_mm)
    else:
        area = _shadow(bxy, plane).sum() * plane.pixel_mm ** 2
        r_b = float(np.sqrt(area / np.pi))
    post = y > y_post
    mid = post & (np.abs(x) < max(0.25 * half_w, 2 * plane.pixel_mm))
    y_sp = float(y[mid].max()) if mid.any() else y_post + 1.5 * r_b
    sp_half = float(np.percentile(np.abs(x[mid]), 90)) if mid.sum() > 5 else 0.15 * half_w
    tips = {}
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        s = post & (sgn * x > 0) if (post & (sgn * x > 0)).any() else (sgn * x > 0)
        if not s.any():
            tips[side] = (sgn * 2.0 * half_w, y_post)
            continue
        i = np.argmax(sgn * x[s])
        # average the outermost 2 mm of the process to be robust to single voxels
        far = s & (sgn * x >= sgn * x[s][i] - 2.0)
        tips[side] = (float(x[s][i]), float(np.mean(y[far])))
    lam_band = post & (np.abs(x) > sp_half) & (np.abs(x) < 0.6 * max(abs(tips["left"][0]), abs(tips["right"][0])))
    lam = float(np.percentile(y[lam_band], 90)) if lam_band.sum() > 5 else y_post + 0.5 * r_b
    return Landmarks(half_w, y_ant, y_post, r_b, y_sp, sp_half, lam, tips["left"], tips["right"])


def spinal_canal(frame: VertebraFrame, plane: Plane) -> np.ndarray:
    """Spinal canal in the plane: the hole of the vertebra's projected ring (body + arch), closed
    by 2 mm to bridge small gaps of the projection. Its CSF and cord lie in the muscle HU window,
    so the canal must be kept out of the muscle masks."""
    from scipy import ndimage as ndi

    shadow = _shadow(plane.project_lps(frame.points_lps), plane)
    r = max(int(round(2.0 / plane.pixel_mm)), 1)
    closed = ndi.binary_closing(shadow, structure=np.ones((2 * r + 1, 2 * r + 1), bool), iterations=1)
    return ndi.binary_fill_holes(closed) & ~closed

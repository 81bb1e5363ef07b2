"""Vertebral body heights (anterior, middle, posterior) and a Genant-style grade.

Height convention (the one of TotalSegmentator's spine report, ``measure_verte_height.py`` of
wasserth/TotalSegmentator, re-implemented here from its description):

* the body mask is sampled in the vertebra's own frame (``frame.py``) at ``SHAPE_STEP_MM``; a
  sample is "body" where the linearly interpolated mask is >= 0.5 (the boundary lies half way
  between an inside and an outside voxel centre);
* the body centre is the centroid of the body eroded by ``CENTRE_EROSION_MM`` (3 mm, a cube:
  robust against spikes and end-plate partial volume); the cranio-caudal axis joins the centres
  of the neighbouring levels (``assess``);
* measurement planes are para-sagittal (constant left-right coordinate), ``PLANE_STEP_MM`` (5 mm)
  apart, symmetric about the middle of the eroded body's lateral extent and within its central
  half (``PLANE_BAND_FRACTION`` = 25 % of that extent dropped at each side);
* in each plane the antero-posterior (AP) line runs through the centre perpendicular to the
  axis; its ends are where the line leaves the body (contiguous run through the centre). The
  heights are read at 15 % (posterior), 50 % (middle) and 85 % (anterior) of that AP length from
  the posterior end, each as the length of the contiguous run of body along the axis through
  that point (end plate to end plate);
* of the planes where all three heights exist, the one with the largest spread
  ``max(H) - min(H)`` is reported (a deformity-sensitive choice: the plane that shows the
  largest wedge or biconcavity; a tie goes to the plane nearest the middle, then to the patient's
  left); its lateral offset (mm, + = left) is ``plane_offset_mm``;
* end points (end plates, anterior/posterior walls) are found by stepping from the starting
  point in half-voxel steps of the CT along the line and keeping the last step inside the body
  (``half_voxel_mm``), so heights come in multiples of half a voxel and read on average about
  half a voxel shorter than the interpolated boundary-to-boundary length (1.5 mm at 3 mm voxels,
  0.25-0.5 mm at 0.5-1 mm voxels).

Ratios: wedge = Ha/Hp; biconcavity = Hm/max(Ha, Hp); crush = Hp / mean posterior height of the
neighbouring levels (when given). Genant-style semiquantitative grade from the largest height
reduction ``1 - ratio``: < 20 % grade 0, 20-25 % grade 1 (mild), 25-40 % grade 2 (moderate),
>= 40 % grade 3 (severe) (Genant 1993, J Bone Miner Res 8:1137).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SHAPE_STEP_MM = 0.5
POSITIONS = {"posterior": 0.15, "middle": 0.50, "anterior": 0.85}
CENTRE_EROSION_MM = 3.0
PLANE_STEP_MM = 5.0
PLANE_BAND_FRACTION = 0.25
CONVENTION = ("TotalSegmentator spine-report convention: para-sagittal planes every 5 mm in the "
              "central half of the body's width (body eroded by 3 mm); AP line through the eroded "
              "body's centroid perpendicular to the neighbour-centroid axis; heights along that axis "
              "at 15/50/85 % of the AP length from the posterior end; end points = last in-body "
              "sample at half-voxel steps; plane with the largest height spread reported "
              "(ties: nearest the middle). heights_boundary_mm: same plane and points, "
              "interpolated boundary to boundary")


@dataclass
class ShapeResult:
    height_anterior_mm: float | None
    height_middle_mm: float | None
    height_posterior_mm: float | None
    width_mm: float | None
    depth_mm: float | None
    csa_mid_mm2: float | None
    plane_offset_mm: float | None = None
    #: the same three heights with interpolated end points (boundary to boundary), mm
    boundary_heights_mm: dict[str, float] | None = None

    @property
    def wedge_ratio(self) -> float | None:
        if self.height_anterior_mm and self.height_posterior_mm:
            return self.height_anterior_mm / self.height_posterior_mm
        return None

    @property
    def biconcavity_ratio(self) -> float | None:
        if self.height_middle_mm and self.height_anterior_mm and self.height_posterior_mm:
            return self.height_middle_mm / max(self.height_anterior_mm, self.height_posterior_mm)
        return None


def eroded_centre_index(local_mask: np.ndarray, step_mm: float) -> np.ndarray | None:
    """Centroid (grid index, float) of ``local_mask`` eroded by ``CENTRE_EROSION_MM`` (cube);
    the centroid of the mask itself when the erosion leaves nothing; None for an empty mask."""
    if not local_mask.any():
        return None
    k = 2 * int(round(CENTRE_EROSION_MM / step_mm)) + 1
    er = ndimage.minimum_filter(local_mask.astype(np.uint8), size=k, mode="constant", cval=0) > 0
    src = er if er.any() else local_mask
    return np.argwhere(src).mean(axis=0)


def _walk(line: np.ndarray, start: float, step: float) -> int:
    """Number of whole steps of ``step`` samples (> 0 or < 0) from ``start`` that stay inside
    ``line`` (nearest sample), stopping at the first step outside."""
    n = 0
    while True:
        i = int(round(start + (n + 1) * step))
        if not (0 <= i < line.size) or not line[i]:
            return n
        n += 1


def _plane_heights(plane: np.ndarray, s_c: float, a_c: float, step_mm: float,
                   end_step_mm: tuple[float, float]
                   ) -> tuple[dict[str, float], float, dict[str, float]] | None:
    """(heights, AP length, boundary heights) in mm in one para-sagittal plane [s, a]; None
    unless all three heights exist.

    End points are the last body samples reached from the starting point in steps of
    ``end_step_mm`` (along the axis, along the AP line); the boundary heights count every grid
    sample of the same run (interpolated boundary to boundary)."""
    hs, ha = (e / step_mm for e in end_step_mm)
    row = plane[int(round(s_c))]
    if not (0 <= int(round(a_c)) < row.size) or not row[int(round(a_c))]:
        return None
    a0 = a_c - _walk(row, a_c, -ha) * ha  # posterior end (sample units)
    a1 = a_c + _walk(row, a_c, ha) * ha  # anterior end
    out, fine = {}, {}
    for name, frac in POSITIONS.items():
        col = plane[:, int(round(a0 + frac * (a1 - a0)))]
        if not col[int(round(s_c))]:
            return None
        n = _walk(col, s_c, hs) + _walk(col, s_c, -hs)
        if n == 0:
            return None
        out[name] = round(n * hs * step_mm, 3)
        fine[name] = (_walk(col, s_c, 1.0) + _walk(col, s_c, -1.0) + 1) * step_mm
    return out, round((a1 - a0) * step_mm, 3), fine


def measure_shape(local_mask: np.ndarray, step_mm: float,
                  centre_index: np.ndarray | None = None,
                  end_step_mm: tuple[float, float] | None = None) -> ShapeResult:
    """Heights of a body mask on a local grid [s, a, l] with isotropic ``step_mm`` (module doc).

    ``centre_index``: the body centre as a (float) grid index; default the centroid of the mask
    eroded by 3 mm. ``end_step_mm``: (axis, AP) steps of the end-point search, half a CT voxel
    along each direction (``half_voxel_mm``); default ``step_mm``."""
    if not local_mask.any():
        return ShapeResult(None, None, None, None, None, None)
    centre = eroded_centre_index(local_mask, step_mm) if centre_index is None else centre_index
    s_c = float(np.clip(centre[0], 0, local_mask.shape[0] - 1))
    a_c = float(np.clip(centre[1], 0, local_mask.shape[1] - 1))
    steps = (step_mm, step_mm) if end_step_mm is None else end_step_mm
    l_all = np.nonzero(local_mask.any(axis=(0, 1)))[0]
    width = (l_all[-1] - l_all[0] + 1) * step_mm
    k = 2 * int(round(CENTRE_EROSION_MM / step_mm)) + 1
    er = ndimage.minimum_filter(local_mask.astype(np.uint8), size=k, mode="constant", cval=0) > 0
    l_er = np.nonzero(er.any(axis=(0, 1)))[0] if er.any() else l_all
    lo, hi = float(l_er[0]), float(l_er[-1])
    mid, half = 0.5 * (lo + hi), (0.5 - PLANE_BAND_FRACTION) * (hi - lo)
    n_side = int(np.floor(half * step_mm / PLANE_STEP_MM + 1e-9))
    # nearest the middle first, so that a tie in spread goes to the more central plane
    offsets = [j * PLANE_STEP_MM for k in range(n_side + 1) for j in ((k, -k) if k else (0,))]
    best: tuple[float, dict[str, float], float, float, dict[str, float]] | None = None
    for off in offsets:
        li = int(round(mid + off / step_mm))
        res = _plane_heights(local_mask[:, :, li], s_c, a_c, step_mm, steps)
        if res is None:
            continue
        h, depth, fine = res
        spread = max(h.values()) - min(h.values())
        if best is None or spread > best[0] + 1e-6:
            best = (spread, h, depth, off, fine)
    csa = float(local_mask[int(round(s_c))].sum()) * step_mm ** 2
    if best is None:
        return ShapeResult(None, None, None, width, None, csa)
    _, h, depth, off, fine = best
    return ShapeResult(h["anterior"], h["middle"], h["posterior"], width, depth, csa, off, fine)


def genant_grade(shape: ShapeResult, neighbour_posterior_mm: float | None = None) -> tuple[int | None, float | None]:
    """(grade 0-3, largest height reduction fraction) from the body's own height ratios."""
    ha, hm, hp = shape.height_anterior_mm, shape.height_middle_mm, shape.height_posterior_mm
    if not (ha and hm and hp):
        return None, None
    reductions = [1 - min(ha, hp) / max(ha, hp), 1 - hm / max(ha, hp)]
    if neighbour_posterior_mm:
        reductions.append(1 - max(ha, hm, hp) / neighbour_posterior_mm)
    r = max(0.0, max(reductions))
    grade = 0 if r < 0.20 else 1 if r < 0.25 else 2 if r < 0.40 else 3
    return grade, r

"""The paraspinal compartment of a mid-vertebral plane: its bony floor, the trimming of organ
wings from the erector spinae, and its split into erector spinae and transversospinalis.

Steps 3 and 5 of the method in ``classic.py``. Arrays are the 2-D plane ([row, col], ``px`` mm
per pixel); lengths mm.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from .landmarks import Landmarks
from .morphology import disk, largest
from .shape import mask_box


#: lateral extent of transversospinalis as a fraction of the spinous-process-to-transverse-process-tip
#: span (multifidus and the rotatores lie against the laminae, medial to longissimus)
TS_MAX_REL_SPAN = 0.75
#: erector spinae core: opening with this fraction of its largest inscribed radius; pixels farther
#: than WING_CORNER_FRACTION of that radius from the core are protrusions (a right-angle corner
#: of a compact muscle lies within sqrt(2) - 1 = 0.41 of it)
WING_CORE_FRACTION = 0.5
WING_CORNER_FRACTION = 0.45
#: a muscle piece this close to the laminae lies on them (a fat plane of up to ~3 mm, plus the
#: 1 mm partial-volume rim of the bone; mm)
LAMINA_CONTACT_MM = 4.0


def _rib_angle_x(rib_bone: np.ndarray, sx: np.ndarray, y: np.ndarray, x_min: float, x_max: float,
                 y_min: float) -> float | None:
    """Distance of one side's rib angle from the midline (mm): the most posterior rib pixel of
    the plane between ``x_min`` and ``x_max`` from the midline (``sx``: lateral mm towards that
    side) and behind ``y_min``; the rib runs backwards from the transverse process to its angle and
    forwards beyond it. None without ribs there."""
    r = rib_bone & (sx > x_min) & (sx < x_max) & (y > y_min)
    if not r.any():
        return None
    return float(sx[r][np.argmax(y[r])])


def compartment_floor_near(vert: np.ndarray, rib_bone: np.ndarray, x: np.ndarray, y: np.ndarray,
                            lm: Landmarks, xtp: float, reach_mm: float, px: float) -> np.ndarray:
    """Pixels within ``LAMINA_CONTACT_MM`` of the bony floor of the paraspinal compartment lateral
    to the laminae: the transverse processes (vertebra lateral to the spinous process, behind the
    body) and the ribs' posterior surfaces medial to the rib angles, limited laterally to the rib
    angle (the transverse-process tip where no rib is in the plane). Only bone in front of the
    spinous process tip counts as rib: the rib angles lie anterior to it (the back muscles fill the
    groove between the spinous processes and the rib angles); bone behind it is no rib (the
    scapula, the patient table pressed into the body outline). All lengths mm."""
    out = np.zeros(vert.shape, bool)
    rib_bone = rib_bone & (y < lm.spinous_tip_mm)
    for s in (1, -1):
        sx = s * x
        angle = _rib_angle_x(rib_bone, sx, y, 0.8 * xtp, reach_mm, lm.body_posterior_mm)
        lim = max(angle if angle is not None else xtp, xtp)
        floor = (vert | rib_bone) & (sx > lm.spinous_half_width_mm + 2.0) & (sx <= lim) & \
            (y > lm.body_posterior_mm)
        if floor.any():
            out |= ndi.binary_dilation(floor, structure=disk(LAMINA_CONTACT_MM / px)) & (sx > 0) & (sx <= lim)
    return out


def trim_wings(m: np.ndarray, px: float, other: np.ndarray, medial: np.ndarray | None = None) -> np.ndarray:
    """The erector spinae ``m`` without wings of iso-dense organ tissue grown onto it.

    Below the lung bases the kidney, the liver/spleen and the diaphragm with the chest wall touch
    the paraspinal mass without a visible fat plane and with muscle-like CT numbers; the watershed
    then adds a lateral wing to the erector spinae. The muscle itself is a compact mass wrapped
    in the thoracolumbar fascia: its core is the opening of ``m`` with a disc of half the largest
    inscribed radius (mm), and a 90-degree corner lies within 0.41 of that radius of the core
    (sqrt(2) - 1). Pixels farther from the core form protrusions; a protrusion is dropped only
    when it reaches ``other`` (muscle-window tissue that is neither this paraspinal region, a
    wall sheet nor bone: the organ it belongs to), within 1.5 mm, and lies wholly outside
    ``medial`` (medial to the transverse-process tip and behind its level): the organs reach the
    paraspinal mass only beyond the tips, in front of and lateral to the thoracolumbar fascia's
    middle layer; behind the processes a protrusion is the muscle's own medial belly (the opening
    splits a waisted erector spinae into two cores and keeps one)."""
    if not m.any():
        return m
    box = mask_box(m, margin=2)
    sub = m[box]
    r = WING_CORE_FRACTION * float(ndi.distance_transform_edt(sub).max()) * px
    if r < 2.0 * px:
        return m
    core = ndi.binary_opening(sub, structure=disk(r / px))
    if not core.any():
        return m
    core = largest(core)
    wing = sub & (ndi.distance_transform_edt(~core) * px > WING_CORNER_FRACTION * r)
    pieces, n = ndi.label(wing)
    if n == 0:
        return m
    hit = np.unique(pieces[ndi.binary_dilation(other[box], structure=disk(1.5 / px)) & wing])
    if medial is not None:
        hit = np.setdiff1d(hit, np.unique(pieces[medial[box] & wing]))
    out = np.zeros_like(m)
    out[box] = sub & ~np.isin(pieces, hit[hit > 0])
    return out


def split_paraspinal(ps: np.ndarray, hs: np.ndarray, sx: np.ndarray, lm: Landmarks,
                      xt: float) -> tuple[np.ndarray, np.ndarray]:
    """(transversospinalis, erector spinae) of one side's paraspinal region.

    Where a fat plane separates the region into pieces, the most medial piece is
    transversospinalis and the rest erector spinae. Otherwise a
    watershed on the negated HU between markers in the medial 35 % and the lateral 30 % of that
    span follows the faint fat plane between multifidus and longissimus.
    """
    span = max(xt - lm.spinous_half_width_mm, 1.0)
    rel = (sx - lm.spinous_half_width_mm) / span
    lab, n = ndi.label(ps)
    if n >= 2:
        sizes = np.bincount(lab.ravel())[1:]
        big = [i + 1 for i in range(n) if sizes[i] >= 0.05 * sizes.max()]
        if len(big) >= 2:
            # the most medial piece (against spinous process and laminae) is transversospinalis
            med = min(big, key=lambda i: float(np.mean(rel[lab == i])))
            ts = lab == med
            # transversospinalis fills the medial part of the span only; a medial piece reaching
            # far laterally holds the erector spinae too (no fat plane between them): watershed
            if float(np.percentile(rel[ts], 90)) <= TS_MAX_REL_SPAN:
                return ts, ps & ~ts
    m = np.zeros(ps.shape, np.int32)
    m[ps & (rel < 0.35)] = 1
    # erector spinae marker: the lateral 30 % of the span; where the transverse-process tip lies in
    # the medial half of the paraspinal mass (rudimentary processes, T11-T12: multifidus reaches
    # 70 % of the short span) also lateral to the tip
    m[ps & (rel > 0.7)] = 2
    if xt < float(np.median(sx[ps])) and (m == 2).any():
        m[(m == 2) & (sx <= xt)] = 0
    if not (m == 1).any() or not (m == 2).any():
        return ps & (rel < 0.5), ps & (rel >= 0.5)
    r = watershed(-hs, markers=m, mask=ps)
    return r == 1, r == 2

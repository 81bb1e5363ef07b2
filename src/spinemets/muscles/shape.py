"""Outline completion of a compact deep muscle across a contact without a fat plane.

Where an organ of muscle-like attenuation (kidney; liver or vena cava partly) touches the psoas or
the quadratus lumborum without a visible fat plane, the watershed between their seeds follows image
noise and often leaves part of the muscle to the organ's region or unassigned. The muscle belly is
compact and roughly elliptic in cross-section (psoas round to oval, quadratus lumborum a flat
oval), and wherever it is bordered by fat or bone its outline is seen. The ellipse through those
seen outline points (a RANSAC fit, so that a stretch of organ outline picked up by the region does
not bend it) predicts the hidden part of the outline; muscle-window tissue inside that ellipse that
no other muscle holds is added to the muscle. Pixels are never removed (a missing part is the
failure this corrects; an organ wing beyond the ellipse is left to the other rules).
All lengths mm; arrays are the 2-D mid-vertebral plane ([row, col], ``px`` mm per pixel).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import EllipseModel, ransac

#: distance of an outline pixel from the ellipse still counted as on it (mm; one 1 mm pixel plus
#: half a pixel of partial volume)
OUTLINE_TOLERANCE_MM = 1.5
#: the completed muscle may at most double the region (an ellipse fitted to a short arc of outline
#: can be far too large; the hidden part of a muscle is at most about half of it)
MAX_AREA_RATIO = 2.0
#: fewest seen outline points for a fit (an ellipse has 5 parameters)
MIN_OUTLINE_POINTS = 10


class _Ellipse(EllipseModel):
    """scikit-image's ellipse fit, with a degenerate sample (it can raise on nearly collinear
    points: a complex angle) reported as a failed estimation, which RANSAC skips."""

    @classmethod
    def from_estimate(cls, data):
        try:
            return super().from_estimate(data)
        except (TypeError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            return None


def complete_outline(region: np.ndarray, free: np.ndarray, fat_or_bone: np.ndarray, px: float,
                     seed: np.ndarray) -> np.ndarray:
    """``region`` plus the pixels of ``free`` (muscle-window tissue no other muscle holds) inside
    the ellipse fitted to the region's outline where it borders ``fat_or_bone``, connected to
    ``seed``; ``region`` unchanged when it touches no such tissue or no sound ellipse is found."""
    if region.sum() < MIN_OUTLINE_POINTS or not free.any():
        return region
    cross = ndi.generate_binary_structure(2, 1)
    border = region & ~ndi.binary_erosion(region, structure=cross)
    seen = border & ndi.binary_dilation(fat_or_bone, structure=cross)
    contact = border & ndi.binary_dilation(free & ~region, structure=cross)
    if not contact.any() or seen.sum() < MIN_OUTLINE_POINTS:
        return region
    rows, cols = np.nonzero(seen)
    pts = np.column_stack([cols, rows]).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate 5-point samples are skipped
        model, inliers = ransac(pts, _Ellipse, min_samples=5, residual_threshold=OUTLINE_TOLERANCE_MM / px,
                                max_trials=200, rng=0)
    if model is None or inliers is None or inliers.sum() < MIN_OUTLINE_POINTS:
        return region
    (xc, yc), (a, b), th = model.center, model.axis_lengths, model.theta
    if not (np.isfinite([xc, yc, a, b, th]).all() and a > 0 and b > 0) or \
            np.pi * a * b > MAX_AREA_RATIO * region.sum():
        return region
    rr, cc = np.indices(region.shape)
    ct, st = np.cos(th), np.sin(th)
    # half a pixel outwards: the outline points are pixel centres on the muscle's rim
    u = ((cc - xc) * ct + (rr - yc) * st) / (a + 0.5)
    v = (-(cc - xc) * st + (rr - yc) * ct) / (b + 0.5)
    inside = u * u + v * v <= 1.0
    lab, _ = ndi.label(region | (free & inside))
    ids = np.unique(lab[seed & region])
    ids = ids[ids > 0]
    return np.isin(lab, ids) | region if len(ids) else region


def mask_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    """The bounding box (row and column slices) of a 2-D ``mask``, widened by ``margin`` pixels
    and clipped at the image's low edges; None for an empty mask."""
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return None
    return (slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
            slice(max(cols.min() - margin, 0), cols.max() + margin + 1))

"""Small 2-D mask operations of the mid-vertebral plane and the normalised trunk angle.

Arrays are the 2-D plane ([row, col]); radii in pixels unless a name says mm; angles in degrees.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def disk(radius_px: float) -> np.ndarray:
    r = max(int(np.ceil(radius_px)), 1)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return xx ** 2 + yy ** 2 <= radius_px ** 2 + 1e-9


def component_at(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    ids = np.unique(lab[seed & mask])
    ids = ids[ids > 0]
    return np.isin(lab, ids) if len(ids) else np.zeros_like(mask)


def largest(mask: np.ndarray, structure: np.ndarray | None = None) -> np.ndarray:
    """The largest connected piece of ``mask`` (``structure``: the connectivity, as
    ``ndi.label``'s; default 4-connected in 2-D); ``mask`` itself when it has at most one piece."""
    lab, n = ndi.label(mask, structure=structure)
    if n <= 1:
        return mask
    return lab == int(np.argmax(np.bincount(lab.ravel())[1:]) + 1)


def touching(mask: np.ndarray, dist_mm: np.ndarray, reach_mm: float) -> np.ndarray:
    """The largest component of ``mask`` that comes within ``reach_mm`` of the structure whose
    distance map is ``dist_mm``; the largest component overall when none does."""
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    near = ndi.minimum(dist_mm, lab, index=np.arange(1, n + 1))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    ok = np.nonzero(np.asarray(near) <= reach_mm)[0]
    pick = ok[np.argmax(sizes[ok])] if len(ok) else int(np.argmax(sizes))
    return lab == pick + 1


def no_jump(grown: np.ndarray, regions: np.ndarray, lab_id: int, valley: np.ndarray) -> None:
    """In place: the rim that ``expand_labels`` gave label ``lab_id`` keeps only what is reached
    from the label's own region without crossing a thin fat plane (``valley``; the valley pixels
    next to that part stay, they are the muscle's partial-volume border). The expansion is by
    distance, so it can step over a one- or two-pixel plane into the organ beyond."""
    own = regions == lab_id
    new = grown == lab_id
    if not own.any() or not (new & ~own).any():
        return
    ok = component_at(new & ~valley, own)
    ok |= new & valley & ndi.binary_dilation(ok, structure=ndi.generate_binary_structure(2, 1))
    grown[new & ~ok] = 0


def trunk_angle(x: np.ndarray, y: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, float]:
    """Normalised trunk angle (deg; 0 anterior midline, 90 lateral extreme, 180 posterior midline;
    x and y divided by the trunk's half-width and half-depth) and the trunk centre's x (mm)."""
    by, bx = np.nonzero(body)
    ys, xs = y[by, bx], x[by, bx]
    cy, cx = 0.5 * (ys.min() + ys.max()), 0.5 * (xs.min() + xs.max())
    a_half, b_half = max(0.5 * (xs.max() - xs.min()), 1.0), max(0.5 * (ys.max() - ys.min()), 1.0)
    return np.degrees(np.arctan2(np.abs(x - cx) / a_half, -(y - cy) / b_half)), cx

"""The deep pectoral layer: muscle lying beneath the pectoralis major on the anterior upper chest.

At the upper thoracic levels the anterior chest wall holds two muscle layers in front of the
ribs: the pectoralis major, and beneath it, behind the clavipectoral fascia, the pectoralis minor
(from the coracoid process, at the level of the upper thoracic vertebrae in axial CT, down to its
origins on ribs 3-5). Body-composition work on chest CT measures them together as the pectoral
muscle area (e.g. at T4); spinemets' ``pectoralis_major`` group is that pectoral mass. The wall
rays of ``classic.py`` find the outer layer only: the deep one lies more than ``WALL_MAX_MM`` below
the subcutaneous fat, or beyond the outer layer, where a ray takes one sheet per layer.

Rule (T1-T5, above the rectus abdominis' origins; ``classic._pectoral_deep_layer``): a piece of
muscle-window tissue (8-connected) that no group holds, off the ribs and not mostly within
``CHEST_WALL_MM`` of the lung (the intercostals on the pleura are no pectoral muscle; the
pectoralis minor may touch the pleura between the ribs), belongs to the pectoral group when most
of its outer surface looks outwards (away from the trunk's centre, as the wall rays run) onto the
pectoralis major of its side within ``DEEP_MAX_MM``: it lies beneath the pectoralis major. A
piece that looks onto the subcutaneous fat instead (a muscle lying beside the pectoralis major,
the serratus anterior on the lateral ribs) is left alone. All lengths mm; arrays are the 2-D
plane ([row, col], ``px`` mm per pixel).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .thin_sheet import outer_surface, sample_outward

#: farthest the deep layer's outer surface lies beneath the pectoralis major (mm): the
#: clavipectoral fascia with the fat and axillary vessels around it, at most a few centimetres
#: thick; beyond that the tissue is no muscle of the chest wall's front
DEEP_MAX_MM = 30.0
#: a piece counts as beneath when more than this fraction of its outer surface sees the
#: pectoralis major outwards
BENEATH_FRACTION = 0.5
#: smallest piece taken (mm^2): the deep layer is a muscle belly, not a speck of noise in fat
MIN_PIECE_MM2 = 20.0


def beneath_cover(pieces: np.ndarray, cover: np.ndarray, stop: np.ndarray,
                  normal: tuple[np.ndarray, np.ndarray], px: float, max_mm: float = DEEP_MAX_MM,
                  fraction: float = BENEATH_FRACTION, off_wall: np.ndarray | None = None) -> np.ndarray:
    """Pieces (8-connected) of ``pieces`` of which more than ``fraction`` of the outer surface
    pixels (those whose outward neighbour along ``-normal``, a unit field pointing inwards, lies
    outside the piece) meet ``cover``
    first, before any pixel of ``stop`` (other groups, bone, air), going outwards within ``max_mm``,
    at least ``MIN_PIECE_MM2`` in size and, with ``off_wall`` (the pixels farther than
    ``CHEST_WALL_MM`` from the lung), with most of its pixels off the chest wall: a piece lying
    mostly within that band is the chest wall on the pleura (intercostal muscle), even where the
    pectoralis minor touches it."""
    lab, n = ndi.label(pieces, structure=np.ones((3, 3), bool))
    out = np.zeros_like(pieces)
    if n == 0 or not cover.any():
        return out
    rows, cols, own = outer_surface(lab, normal)
    # 0 nothing met yet, 1 cover met first, 2 something else met first
    met = np.zeros(len(rows), np.int8)
    code = np.where(cover, 1, np.where(stop, 2, 0)).astype(np.int8)
    for k in np.arange(1.0, max_mm / px + 1e-6, 0.5):
        hit = sample_outward(code, normal, rows, cols, k)
        hit[(hit == 2) & (sample_outward(lab, normal, rows, cols, k) == own)] = 0  # its own tissue (a concave piece)
        new = (met == 0) & (hit > 0)
        met[new] = hit[new]
    frac = np.bincount(own, weights=(met == 1), minlength=n + 1) / \
        np.maximum(np.bincount(own, minlength=n + 1), 1)
    count = np.bincount(lab.ravel(), minlength=n + 1)
    ok = (frac > fraction) & (count * px * px >= MIN_PIECE_MM2)
    if off_wall is not None:
        ok &= np.bincount(lab.ravel(), weights=off_wall.ravel(), minlength=n + 1) > 0.5 * count
    keep = np.nonzero(ok)[0]
    return np.isin(lab, keep[keep > 0])


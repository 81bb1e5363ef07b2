"""Where the ribs cross an axial slice: the rib cage's actual outline at that height.

A rib runs from its vertebra laterally and then forwards and downwards (``skeleton.rib_paths``:
its anterior end lies 14-60 mm below its head), so the ribs cut by an axial slice are different
ribs at different angles: at a mid-thoracic level the anterior arc belongs to ribs 3-5 levels
higher, on smaller cage ellipses than the slice level's own rib. The chest wall (intercostal
muscles between the ribs, the wall muscles directly on them) follows these crossings.
Coordinates: body LPS mm (mid-sagittal plane x = 0), as ``soft.paint_soft_tissue`` paints them.
"""

from __future__ import annotations

import numpy as np

from .dimensions import LevelDims
from .skeleton import rib_paths
from .spine import SpineLayout


#: ribs 1-7 (true ribs) reach the sternum through their costal cartilages, so the cage stays
#: closed in front of their anterior ends; below them the costal margin rises and the front of
#: the abdomen has no ribs
TRUE_RIBS = 7
#: angle (deg of the cage ellipse parameter) over which the cage fades out in front of the
#: anterior end of a false rib (the costal cartilage's course up to the costal margin)
CARTILAGE_TAPER_DEG = 20.0


def rib_centre_lines(layout: SpineLayout, dims: dict[str, LevelDims],
                     scale: float) -> list[tuple[np.ndarray, float, int]]:
    """Centre lines (n, 3) LPS mm, radius (mm) and number of every rib the phantom paints."""
    out = []
    for k in range(1, 13):
        lv = f"T{k}"
        if lv in layout.frames and lv in dims:
            out.extend((rp.points, rp.radius_mm, k) for rp in rib_paths(layout.frames[lv], dims[lv], k, scale))
    return out


def rib_crossings(ribs: list[tuple[np.ndarray, float, int]], z: float) -> np.ndarray:
    """(m, 4) array of (x, y, radius mm, rib number): where the ribs' centre lines cross the plane
    at height z mm (linear interpolation between the 0.5 mm path samples)."""
    pts = []
    for p, r, k in ribs:
        dz = p[:, 2] - z
        above = dz > 0
        i = np.nonzero(above[:-1] != above[1:])[0]  # a sample on the plane counts once
        if len(i) == 0:
            continue
        w = dz[i] / (dz[i] - dz[i + 1])
        xy = p[i, :2] + w[:, None] * (p[i + 1, :2] - p[i, :2])
        pts.extend((x, y, r, k) for x, y in xy)
    return np.asarray(pts, float).reshape(-1, 4)


def cage_profile(cr: np.ndarray, Ar: float, Br: float, cyr: float, X: np.ndarray,
                 Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rib cage at the slice, per pixel (X, Y body mm), on the slice level's cage ellipse
    (half axes Ar, Br mm, centre (0, cyr)): ``q``, the normalised ellipse radius of the rib
    centre lines at the pixel's ellipse angle (interpolated between the crossings ``cr`` of
    ``rib_crossings`` on the pixel's side, held beyond the first and last); ``r``, the rib radius
    (mm) there; ``w`` in [0, 1], 1 where ribs or the true ribs' cartilages close the cage at that
    angle, fading to 0 over ``CARTILAGE_TAPER_DEG`` in front of a false rib's end and 0 on a
    side no rib crosses."""
    X, Y = np.broadcast_arrays(X, Y)
    ax = np.abs(X)
    ey = (Y - cyr) / Br
    psi = np.degrees(np.arctan2(ey, ax / Ar))
    q = np.ones(np.broadcast(X, Y).shape, np.float32)
    r = np.zeros_like(q)
    w = np.zeros_like(q)
    for sgn in (1.0, -1.0):
        side = (X >= 0) if sgn > 0 else (X < 0)
        c = cr[cr[:, 0] * sgn > 0] if len(cr) else cr
        if len(c) == 0 or not side.any():
            continue
        pk = np.degrees(np.arctan2((c[:, 1] - cyr) / Br, np.abs(c[:, 0]) / Ar))
        o = np.argsort(pk)
        pk, c = pk[o], c[o]
        qk = np.hypot(c[:, 0] / Ar, (c[:, 1] - cyr) / Br)
        ps = psi[side]
        q[side] = np.interp(ps, pk, qk)
        r[side] = np.interp(ps, pk, c[:, 2])
        fade = 1.0 if c[0, 3] <= TRUE_RIBS else np.clip(1.0 - (pk[0] - ps) / CARTILAGE_TAPER_DEG, 0.0, 1.0)
        w[side] = np.where(ps >= pk[0], 1.0, fade)
    return q, r, w

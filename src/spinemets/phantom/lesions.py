"""Metastatic lesions: placement in a vertebra's local frame and painting on the canvas.

* lytic: bone (trabecular and, where the lesion reaches it, cortex) replaced by soft tissue
  (design HU 25-55);
* blastic: trabecular bone replaced by sclerotic bone (design HU 600-950; Ulano 2016 mean
  654 +- 176 HU, science.md section 5); cortex kept;
* mixed: a smooth random field splits the lesion into lytic and blastic parts.

A lesion is a lobulated ellipsoid (radii r x (0.85-1.15), outline radius modulated by +-12 %) with
a random orientation, defined in the local frame of its vertebra, so it moves with the vertebra in
follow-ups.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from . import canvas as C
from .canvas import Canvas
from .dimensions import LevelDims
from .spine import Frame
from .vertebra import canal_centre_v

CLASS_ID = {"lytic": 1, "blastic": 2, "mixed": 3}


@dataclass
class Lesion:
    id: int
    level: str
    cls: str
    location: str
    centre_local: np.ndarray  # (u, v, w) mm in the vertebra frame
    radii_mm: np.ndarray  # (3,)
    rot: np.ndarray  # (3, 3) ellipsoid axes in the local frame
    hu_lytic: float
    hu_blastic: float
    field_seed: int
    new_at_months: float | None = None

    def grown(self, factor: float) -> "Lesion":
        return replace(self, radii_mm=self.radii_mm * factor)


def place_lesion(lid: int, level: str, cls: str, location: str, radius: float, d: LevelDims,
                 rng: np.random.Generator) -> Lesion:
    """Draw a lesion centre inside the body (or the posterior elements) of a vertebra."""
    r = min(radius, 0.42 * min(d.W, d.D, d.H * 1.3))
    if location == "body":
        c = np.array([rng.uniform(-0.22, 0.22) * d.W, rng.uniform(-0.22, 0.12) * d.D,
                      rng.uniform(-0.12, 0.12) * d.H])
    else:
        side = rng.choice([-1.0, 1.0])
        site = rng.integers(0, 2)
        vc = canal_centre_v(d)
        if site == 0:  # pedicle / lamina junction
            c = np.array([side * (d.CW / 2 + d.PW / 2), vc, 0.1 * d.H])
        else:  # spinous process base
            c = np.array([0.0, vc + d.CD / 2 + 8.0, -0.1 * d.H])
        r = min(r, 9.0)
    radii = r * rng.uniform(0.85, 1.15, 3)
    rot = Rotation.random(random_state=int(rng.integers(0, 2**31 - 1))).as_matrix()
    return Lesion(lid, level, cls, location, c, radii, rot,
                  float(rng.uniform(25, 55)), float(rng.uniform(600, 950) if cls == "blastic" else rng.uniform(550, 850)),
                  int(rng.integers(0, 2**31 - 1)))


def paint_lesion(cv: Canvas, les: Lesion, frame: Frame, vid: int, trab_mat: int, mat_base: int,
                 table: C.MaterialTable) -> None:
    """Replace bone of vertebra ``vid`` inside the ellipsoid; record the instance in ``cv.les``."""
    rmax = float(les.radii_mm.max())
    ext = np.array([les.centre_local - rmax - 1, les.centre_local + rmax + 1])
    region = cv.frame_region(frame.origin, frame.R, ext)
    if region is None:
        return
    sl, u, v, w = region
    p = np.stack([u - les.centre_local[0], v - les.centre_local[1], w - les.centre_local[2]], -1)
    q = p @ les.rot.astype(np.float32)
    qn = q / les.radii_mm.astype(np.float32)
    r = np.sqrt((qn ** 2).sum(-1))
    # lobulated outline: the radius varies smoothly with direction (+-12 %), fixed per lesion
    lob = np.random.default_rng(les.field_seed + 1)
    dirs = lob.normal(size=(3, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    amp = lob.uniform(0.04, 0.06, 3)
    ph = lob.uniform(0, 2 * np.pi, 3)
    qh = qn / np.maximum(r, 1e-6)[..., None]
    bump = np.ones_like(r)
    for k in range(3):
        bump += np.float32(amp[k]) * np.cos(np.float32(3.0) * (qh @ dirs[k].astype(np.float32)) * np.float32(np.pi) + np.float32(ph[k]))
    inside = r <= bump
    lab = cv.lab[sl]
    mat = cv.mat[sl]
    bone = lab == vid
    trab = mat == trab_mat
    m_ly, m_bl = mat_base, mat_base + 1
    table.set(m_ly, f"lesion{les.id}_lytic", les.hu_lytic, 12.0)
    table.set(m_bl, f"lesion{les.id}_blastic", les.hu_blastic, 60.0)
    if les.cls == "lytic":
        region = inside & bone
        mat[region] = m_ly
    elif les.cls == "blastic":
        region = inside & trab
        mat[region] = m_bl
    else:
        region = inside & bone
        g = np.random.default_rng(les.field_seed).standard_normal(region.shape).astype(np.float32)
        sig = [max(2.0 / s, 0.5) for s in (cv.spacing[2], cv.spacing[1], cv.spacing[0])]
        g = ndimage.gaussian_filter(g, sig)
        blastic = region & (g > 0) & trab
        mat[region] = m_ly
        mat[blastic] = m_bl
    cv.les[sl][region] = les.id

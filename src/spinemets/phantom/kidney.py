"""Kidneys in their perirenal fat: placement clear of the posterior abdominal wall muscles and the
fat layer between a kidney and its neighbours. Lengths in mm, in-plane body coordinates (x to the
patient's left, y posterior, the mid-sagittal plane at x = 0); angles in radians.

Each kidney lies in its perirenal fat inside the renal (Gerota's) fascia, lateral to the psoas
major and anterior to the quadratus lumborum; the posterior perirenal fat separates it from both
muscles on CT (a few mm in lean adults, 1 cm or more with visceral adiposity). The other
abdominal organs (liver, spleen, bowel) are intraperitoneal: the posterior pararenal fat and the
transversalis fascia lie between them and the posterior abdominal wall muscles, so they never touch
the psoas or quadratus lumborum either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from . import canvas as C

#: perirenal fat thickness (mm) = ``PERIRENAL_FAT_MM[0]`` + ``PERIRENAL_FAT_MM[1]`` x the
#: subject's visceral fat factor (0.2 lean ... 1.6 obese; 0.85 at BMI 26.5): 3.2 / 7.1 / 11.6 mm
PERIRENAL_FAT_MM = (2.0, 6.0)
#: the farthest a kidney is moved away from the muscles it would overlap (mm): about a kidney's
#: half-width; what overlap remains is taken from the kidney by ``perirenal_fat``
MAX_SHIFT_MM = 30.0

Ellipse = tuple[float, float, float, float, float]  # centre x, y, semi-axes a, b, rotation


def perirenal_fat_mm(visceral_fat_factor: float) -> float:
    return PERIRENAL_FAT_MM[0] + PERIRENAL_FAT_MM[1] * visceral_fat_factor


def in_ellipse(e: Ellipse, x: np.ndarray, y: np.ndarray, grow: float = 0.0) -> np.ndarray:
    """Points (``x``, ``y``, mm) inside ellipse ``e`` = (centre x, y, semi-axes a, b, rotation rad),
    each semi-axis grown by ``grow`` mm."""
    cx, cy, a, b, ang = e
    dx, dy = x - cx, y - cy
    c, s = np.cos(ang), np.sin(ang)
    xr, yr = dx * c + dy * s, -dx * s + dy * c
    return (xr / (a + grow)) ** 2 + (yr / (b + grow)) ** 2 <= 1.0


def place_kidney(kidney: Ellipse, muscles: list[Ellipse], fat_mm: float, side: float,
                 in_cavity: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 step_mm: float = 1.0) -> Ellipse:
    """The kidney ellipse moved the least distance (in ``step_mm`` steps, at most ``MAX_SHIFT_MM``)
    laterally, anteriorly or in between (``side`` +1: patient's left, x > 0; anterior is -y) so that
    its outline stays ``fat_mm`` outside every muscle ellipse (each grown by ``fat_mm``): the kidney
    lies lateral to the psoas and anterior to the quadratus lumborum. Where no such place is within
    reach it goes where the fewest outline points stay inside (the nearest such place).
    ``in_cavity(x, y)`` (mm arrays -> bool), if given, bounds the move: outline points outside the
    abdominal cavity (inside the wall muscles and the fat in front of them) count as inside a muscle,
    so the kidney is never pushed against the flank wall."""
    if not muscles:
        return kidney
    cx, cy, a, b, ang = kidney
    t = np.linspace(0.0, 2 * np.pi, 72, endpoint=False)
    c, s = np.cos(ang), np.sin(ang)
    ox, oy = a * np.cos(t) * c - b * np.sin(t) * s, a * np.cos(t) * s + b * np.sin(t) * c
    shifts = np.arange(0.0, MAX_SHIFT_MM + 1e-9, step_mm)
    best = (np.inf, np.inf, 0.0, 0.0)  # (outline points inside, shift, dx, dy)
    for phi in np.radians(np.arange(0.0, 90.1, 15.0)):  # 0: lateral ... 90 deg: anterior
        dx, dy = side * np.cos(phi), -np.sin(phi)
        x, y = cx + shifts[:, None] * dx + ox, cy + shifts[:, None] * dy + oy
        hit = np.zeros(x.shape, bool)
        for m in muscles:
            hit |= in_ellipse(m, x, y, fat_mm)
        if in_cavity is not None:
            hit |= ~in_cavity(x, y) & in_cavity(cx + ox, cy + oy)[None, :]
        n_in = hit.sum(axis=1)
        i = int(np.argmin(n_in))  # the first (smallest) shift with the fewest points inside
        if (n_in[i], shifts[i]) < best[:2]:
            best = (n_in[i], shifts[i], dx, dy)
    return (cx + best[1] * best[2], cy + best[1] * best[3], a, b, ang)


def _to_fat(lab2: np.ndarray, mat2: np.ndarray, organ: np.ndarray, other: np.ndarray, fat_mm: float, px: float,
            fat_label: int) -> None:
    """``organ`` pixels within ``fat_mm`` of ``other`` pixels become fat, computed in their bounding box."""
    if not organ.any() or not other.any():
        return
    pad = int(np.ceil(fat_mm / px)) + 1
    jj, ii = np.nonzero(organ)
    j0, j1 = max(jj.min() - pad, 0), min(jj.max() + pad + 1, organ.shape[0])
    i0, i1 = max(ii.min() - pad, 0), min(ii.max() + pad + 1, organ.shape[1])
    o = other[j0:j1, i0:i1]
    if not o.any():
        return
    fat = organ[j0:j1, i0:i1] & (ndi.distance_transform_edt(~o, sampling=px) <= fat_mm)
    lab2[j0:j1, i0:i1][fat] = fat_label
    mat2[j0:j1, i0:i1][fat] = C.FAT_VISC


def retroperitoneal_fat(lab2: np.ndarray, mat2: np.ndarray, fat_mm: float, px: float, fat_label: int,
                        wall_ids: np.ndarray) -> None:
    """Perirenal and posterior pararenal fat, in place, on a pixel size ``px`` mm: kidney pixels
    within ``fat_mm`` of any other non-fat tissue (muscles, liver, spleen, bowel, vessels), and
    liver, spleen and bowel pixels within ``fat_mm`` of the posterior abdominal wall muscles (label
    ids ``wall_ids``: psoas, quadratus lumborum) become visceral fat (label ``fat_label``). The fat
    takes the organ's side, so the muscles keep their painted (true) shapes; where an organ borders
    fat already nothing changes."""
    kid = mat2 == C.KIDNEY
    _to_fat(lab2, mat2, kid, ~np.isin(mat2, (C.KIDNEY, C.FAT_VISC, C.FAT_SC, C.FAT_INTER, C.AIR)), fat_mm, px,
            fat_label)
    wall = np.isin(lab2, wall_ids)
    if wall.any():
        _to_fat(lab2, mat2, np.isin(mat2, (C.LIVER, C.SPLEEN, C.BOWEL)), wall, fat_mm, px, fat_label)

"""Analytic vertebra in its local frame (u = left, v = posterior, w = superior; mm, body centre = 0).

Body: kidney-shaped elliptic cylinder (concave posterior wall) with a slight waist, anterior and
posterior heights ``Ha``/``Hp`` (wedge), ~1 mm cortical shell and end plates over trabecular bone.
Posterior elements: pedicles, laminae, spinous process, transverse processes and articular
processes (facets) as simple solids with a cortical rim. A pathological fracture lowers the
anterior height and depresses the superior end plate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dimensions import LevelDims

CORTEX_MM = 1.0  # body shell and end plates
POST_CORTEX_MM = 1.2
ENDPLATE_CONCAVITY_MM = 1.0


@dataclass(frozen=True)
class Fracture:
    """Wedge/crush fracture: anterior height loss fraction and central end-plate depression (mm)."""

    anterior_loss: float = 0.35
    middle_loss: float = 0.2
    endplate_depression_mm: float = 3.0

    def to_dict(self) -> dict:
        return {"type": "wedge_with_endplate_collapse", "anterior_height_loss_fraction": self.anterior_loss,
                "middle_height_loss_fraction": self.middle_loss,
                "endplate_depression_mm": self.endplate_depression_mm}


def _body_section(u, v, w, d: LevelDims, shrink: float, waist_frac: float = 0.05):
    """Inside test of the kidney-shaped cross-section (no height limits)."""
    a = d.W / 2 - shrink
    b = d.D / 2 - shrink
    h = max(d.H, 1.0)
    waist = 1.0 - waist_frac * (1.0 - np.clip((2.0 * w / h) ** 2, 0, 1))
    # super-elliptic section: lumbar end plates are fuller than an ellipse (area ~0.85 W x D)
    n = 3.0 if d.level.startswith(("L", "S")) else 2.4
    inside = np.abs(u / (a * waist)) ** n + np.abs(v / (b * waist)) ** n <= 1.0
    # concave posterior wall (where the canal sits): the midline depth is 0.96 D
    cu = 0.33 * d.W + shrink
    cv = 0.18 * d.D + shrink
    notch = (u / cu) ** 2 + ((v - (d.D / 2 + 0.14 * d.D)) / cv) ** 2 < 1.0
    return inside & ~notch


def posterior_wall_v(d: LevelDims) -> float:
    """v (mm) of the posterior body wall on the midline."""
    return d.D / 2 + 0.14 * d.D - 0.18 * d.D


def body_heights(u, v, d: LevelDims, fracture: Fracture | None):
    """Top and bottom w (mm) of the body at (u, v): wedge between Ha (anterior) and Hp."""
    t = np.clip((v + d.D / 2) / d.D, 0.0, 1.0)  # 0 anterior, 1 posterior
    ha, hp = d.Ha, d.Hp
    if fracture is not None:
        hm = 0.5 * (ha + hp) * (1 - fracture.middle_loss)
        ha = ha * (1 - fracture.anterior_loss)
        # piecewise-linear profile anterior -> middle -> posterior
        h = np.where(t < 0.5, ha + (hm - ha) * t * 2, hm + (hp - hm) * (t - 0.5) * 2)
    else:
        h = ha + (hp - ha) * t
    bottom = -0.5 * central_height(d, fracture) * np.ones_like(h)
    top = bottom + h
    r2 = (u / (0.35 * d.W)) ** 2 + (v / (0.35 * d.D)) ** 2
    # natural end-plate concavity (~1 mm centrally, both end plates; filled by the disc)
    conc = ENDPLATE_CONCAVITY_MM * np.exp(-r2)
    top = top - conc
    bottom = bottom + conc
    if fracture is not None and fracture.endplate_depression_mm > 0:
        top = top - fracture.endplate_depression_mm * np.exp(-r2)
    return bottom, top


def central_height(d: LevelDims, fracture: Fracture | None) -> float:
    """Body height (mm) on the centre line (the body is centred on its frame origin)."""
    if fracture is None:
        return 0.5 * (d.Ha + d.Hp)
    return 0.5 * (d.Ha + d.Hp) * (1 - fracture.middle_loss) - \
        fracture.endplate_depression_mm


def body_mask(u, v, w, d: LevelDims, fracture: Fracture | None = None, shrink: float = 0.0,
              shrink_w: float = 0.0):
    bottom, top = body_heights(u, v, d, fracture)
    return _body_section(u, v, w, d, shrink) & (w >= bottom + shrink_w) & (w <= top - shrink_w)


def disc_mask(u, v, w, d: LevelDims, half_length: float):
    """Intervertebral disc: the body's section without waist, between w = +-half_length."""
    return _body_section(u, v, w, d, 0.0, waist_frac=-0.02) & (np.abs(w) <= half_length)


def canal_centre_v(d: LevelDims) -> float:
    return d.D / 2 + d.CD / 2 - 1.0


def canal_mask(u, v, w, d: LevelDims, extra_height: float):
    vc = canal_centre_v(d)
    return ((u / (d.CW / 2)) ** 2 + ((v - vc) / (d.CD / 2)) ** 2 < 1.0) & \
        (np.abs(w) <= d.H / 2 + extra_height)


def posterior_mask(u, v, w, d: LevelDims, shrink: float = 0.0):
    """Pedicles, laminae, spinous/transverse/articular processes (without the body)."""
    vc = canal_centre_v(d)
    H = d.H
    s = shrink
    # pedicles: elliptic cylinders along v
    pu = d.CW / 2 + d.PW / 2 - 0.5
    pw_c = 0.12 * H
    ped = ((np.abs(np.abs(u) - pu) / (d.PW / 2 - s)) ** 2 + ((w - pw_c) / (d.PH / 2 - s)) ** 2 <= 1.0) & \
        (v >= d.D / 2 - 4.0) & (v <= vc + 1.0)
    # laminae: posterior half-ring around the canal
    tl = 6.0 if d.level.startswith("L") else 5.0
    ring_out = (u / (d.CW / 2 + tl - s)) ** 2 + ((v - vc) / (d.CD / 2 + tl - s)) ** 2 <= 1.0
    ring_in = (u / (d.CW / 2 + s)) ** 2 + ((v - vc) / (d.CD / 2 + s)) ** 2 < 1.0
    lam_w0, lam_w1 = -0.55 * H + s, 0.35 * H - s
    lam = ring_out & ~ring_in & (v >= vc - 1.0) & (w >= lam_w0) & (w <= lam_w1)
    # spinous process: bar from the lamina backwards and down by SPang
    a = np.radians(d.SPang)
    p0v, p0w = vc + d.CD / 2 + tl - 3.0, -0.1 * H
    dv, dw = np.cos(a), -np.sin(a)
    t = (v - p0v) * dv + (w - p0w) * dw
    n = -(v - p0v) * dw + (w - p0w) * dv
    hh = (0.22 * H + 2.0) * (1.0 - 0.35 * np.clip(t / d.SP, 0, 1)) - s
    hw = (3.5 if d.level.startswith("L") else 2.8) - s
    sp = (t >= 0) & (t <= d.SP - s) & (np.abs(n) <= hh) & (np.abs(u) <= hw)
    # transverse processes: from the pedicle-lamina junction laterally (and backwards)
    b = np.radians(d.TPang)
    q0u, q0v, q0w = pu, vc, 0.05 * H
    au = np.abs(u)
    tt = (au - q0u) * np.cos(b) + (v - q0v) * np.sin(b)
    tn = -(au - q0u) * np.sin(b) + (v - q0v) * np.cos(b)
    tr_len = max(d.TP - q0u, 5.0)
    r_tp_v = (4.0 if d.level.startswith("T") else 3.0) - s
    r_tp_w = (4.5 if d.level.startswith("T") else 6.0) - s
    tp = (tt >= -2) & (tt <= tr_len - s) & ((tn / r_tp_v) ** 2 + ((w - q0w) / r_tp_w) ** 2 <= 1.0)
    # articular processes (facets): short pillars above and below the pedicle-lamina junction
    fu = pu + 0.5
    r_f = 4.0 - s
    sup = ((np.abs(au - fu) / r_f) ** 2 + ((v - (vc + 1.0)) / r_f) ** 2 <= 1.0) & \
        (w >= 0.1 * H) & (w <= 0.5 * H + 5.0 - s)
    inf = ((np.abs(au - (fu - 1.5)) / r_f) ** 2 + ((v - (vc + 5.0)) / r_f) ** 2 <= 1.0) & \
        (w <= -0.1 * H) & (w >= -0.5 * H - 5.0 + s)
    return ped | lam | sp | tp | sup | inf


def local_extent(d: LevelDims) -> np.ndarray:
    """Conservative (u, v, w) half-box of the vertebra incl. processes and facets: ((lo), (hi))."""
    vc = canal_centre_v(d)
    sp_end_v = vc + d.CD / 2 + 6 + d.SP
    reach_w = d.SP * np.sin(np.radians(d.SPang)) + 0.6 * d.H + 8
    umax = max(d.W / 2, d.TP + 8.0, d.CW / 2 + d.PW + 8)
    return np.array([[-umax, -d.D / 2 - 2, -reach_w],
                     [umax, sp_end_v + 4, d.H / 2 + 8]])

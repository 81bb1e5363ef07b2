"""Paint the skeleton on the canvas: vertebrae (body + posterior elements), discs, spinal canal,
sacrum and ribs. Everything works in per-structure bounding boxes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import anatomy
from . import canvas as C
from .canvas import Canvas
from .dimensions import LevelDims
from .spine import Frame, frame_from_phi
from .vertebra import (CORTEX_MM, POST_CORTEX_MM, Fracture, body_heights, body_mask, canal_centre_v,
                       canal_mask, disc_mask, local_extent, posterior_mask)

VERTEBRA_IDS = set(anatomy.VERSE_ID.values()) | {anatomy.SACRUM_ID}


def _vid(level: str) -> int:
    return anatomy.SACRUM_ID if level == "S" else anatomy.vertebra_id(level)


def endplate_centres(frame: Frame, d: LevelDims, fracture: Fracture | None) -> tuple[np.ndarray, np.ndarray]:
    """LPS centres of the superior and inferior end plates."""
    b, t = body_heights(np.zeros(1), np.zeros(1), d, fracture)
    return frame.to_lps([0, 0, float(t[0])]), frame.to_lps([0, 0, float(b[0])])


def paint_canal(cv: Canvas, frame: Frame, d: LevelDims) -> None:
    ext = local_extent(d)
    region = cv.frame_region(frame.origin, frame.R, ext)
    if region is None:
        return
    sl, u, v, w = region
    m = canal_mask(u, v, w, d, d.disc / 2 + 1.5)
    lab = cv.lab[sl]
    m &= ~np.isin(lab, list(VERTEBRA_IDS))
    lab[m] = anatomy.BY_NAME["spinal_canal"].id
    cv.mat[sl][m] = C.CSF
    # spinal cord (to ~L1) / cauda equina: a soft-tissue core inside the canal, same canal label
    vc = canal_centre_v(d)
    r_u, r_v = (0.22 * d.CW, 0.28 * d.CD) if not d.level.startswith("L") or d.level == "L1" else \
        (0.3 * d.CW, 0.25 * d.CD)
    cord = m & ((u / r_u) ** 2 + ((v - vc) / r_v) ** 2 <= 1.0)
    cv.mat[sl][cord] = C.SOFT


def paint_vertebra(cv: Canvas, level: str, frame: Frame, d: LevelDims, fracture: Fracture | None,
                   trab_mat: int) -> None:
    ext = local_extent(d)
    region = cv.frame_region(frame.origin, frame.R, ext)
    if region is None:
        return
    sl, u, v, w = region
    shape = u.shape
    # evaluate the shapes only on candidate voxels (flat subsets) - much cheaper than the box
    cb = np.flatnonzero((np.abs(u) <= d.W / 2 + 1) & (np.abs(v) <= d.D / 2 + 1) & (np.abs(w) <= d.H / 2 + abs(d.Ha - d.Hp) / 2 + 1))
    cp = np.flatnonzero(v.ravel() >= d.D / 2 - 6.0)
    bo = np.zeros(u.size, bool)
    bi = np.zeros(u.size, bool)
    po = np.zeros(u.size, bool)
    pi = np.zeros(u.size, bool)
    ub, vb, wb = u.ravel()[cb], v.ravel()[cb], w.ravel()[cb]
    bo[cb] = body_mask(ub, vb, wb, d, fracture)
    bi[cb] = body_mask(ub, vb, wb, d, fracture, shrink=CORTEX_MM, shrink_w=CORTEX_MM)
    up, vp, wp = u.ravel()[cp], v.ravel()[cp], w.ravel()[cp]
    po[cp] = posterior_mask(up, vp, wp, d)
    po &= ~bo
    pi[cp] = posterior_mask(up, vp, wp, d, shrink=POST_CORTEX_MM)
    pi &= po
    bo, bi, po, pi = (a.reshape(shape) for a in (bo, bi, po, pi))
    vid = _vid(level)
    bone = bo | po
    cv.lab[sl][bone] = vid
    mat = cv.mat[sl]
    mat[bone] = C.CORTICAL
    mat[bi | pi] = trab_mat
    cv.body[sl][bo] = vid
    # a voxel that was body of a neighbour but is now this vertebra's posterior element
    cv.body[sl][po & (cv.body[sl] != 0)] = 0


def paint_disc(cv: Canvas, upper: tuple[Frame, LevelDims, Fracture | None],
               lower: tuple[Frame, LevelDims, Fracture | None]) -> None:
    fu, du, fru = upper
    fl, dl, frl = lower
    _, p_top = endplate_centres(fu, du, fru)  # inferior end plate of the upper vertebra
    p_bot, _ = endplate_centres(fl, dl, frl)  # superior end plate of the lower vertebra
    axis = p_top - p_bot
    length = float(np.linalg.norm(axis))
    if length < 1e-3:
        return
    w = axis / length
    u = np.array([1.0, 0, 0]) - w[0] * w
    u /= np.linalg.norm(u)
    v = np.cross(w, u)
    R = np.stack([u, v, w], axis=1)
    o = 0.5 * (p_top + p_bot)
    dd = replace(du, W=0.5 * (du.W + dl.W), D=0.5 * (du.D + dl.D), Ha=length, Hp=length)
    half = length / 2 + 0.5 * dd.D * 0.15 + 1.0  # overlap into the (tilted) end plates
    ext = np.array([[-dd.W / 2 - 3, -dd.D / 2 - 3, -half], [dd.W / 2 + 3, dd.D / 2 + 3, half]])
    region = cv.frame_region(o, R, ext)
    if region is None:
        return
    sl, uu, vv, ww = region
    m = disc_mask(uu, vv, ww, dd, half)
    cv.lab[sl][m] = anatomy.BY_NAME["intervertebral_disc"].id
    cv.mat[sl][m] = C.DISC


def sacral_frames(s1: Frame, phi_s1_deg: float, d_s1: LevelDims) -> list[tuple[Frame, LevelDims]]:
    """S1, S2, S3 segments: each smaller and tilted further (the sacral kyphosis)."""
    out = [(s1, d_s1)]
    prev, dprev, phi = s1, d_s1, phi_s1_deg
    for k, sc in ((2, 0.8), (3, 0.62)):
        dk = d_s1.scaled(sc)
        dk = replace(dk, SP=d_s1.SP * 0.4, SPang=30.0, TP=dk.W / 2 + 2, CD=dk.CD * 0.7)
        phi -= 22.0
        o = prev.to_lps([0, 0, -(dprev.H + dk.H) / 2 - 0.5])
        f = frame_from_phi(o, np.radians(phi))
        out.append((f, dk))
        prev, dprev = f, dk
    return out


def paint_sacrum(cv: Canvas, segs: list[tuple[Frame, LevelDims]], trab_mat: int) -> None:
    vid = anatomy.SACRUM_ID
    for i, (f, d) in enumerate(segs):
        paint_canal(cv, f, d)
    for i, (f, d) in enumerate(segs):
        ext = local_extent(d)
        ala = d.W / 2 + (38.0 if i == 0 else 25.0 if i == 1 else 8.0)
        ext[0, 0], ext[1, 0] = -ala - 2, ala + 2
        region = cv.frame_region(f.origin, f.R, ext)
        if region is None:
            continue
        sl, u, v, w = region
        bo = body_mask(u, v, w, d, None)
        bi = body_mask(u, v, w, d, None, shrink=CORTEX_MM, shrink_w=CORTEX_MM)
        # alae: lateral masses beside the body, from the body's front to behind the canal
        au = np.abs(u)
        vc = canal_centre_v(d)
        ala_o = (au <= ala) & (v >= -d.D / 2 + 4) & (v <= vc + d.CD / 2 + 4) & \
            (np.abs(w) <= d.H / 2 + 1.0 - 6.0 * np.clip((au - d.W / 2) / max(ala - d.W / 2, 1), 0, 1))
        ala_i = (au <= ala - CORTEX_MM) & (v >= -d.D / 2 + 4 + CORTEX_MM) & \
            (v <= vc + d.CD / 2 + 4 - CORTEX_MM) & \
            (np.abs(w) <= d.H / 2 + 1.0 - CORTEX_MM - 6.0 * np.clip((au - d.W / 2) / max(ala - d.W / 2, 1), 0, 1))
        po = (posterior_mask(u, v, w, d) | ala_o) & ~canal_mask(u, v, w, d, d.H)
        pi = (posterior_mask(u, v, w, d, shrink=POST_CORTEX_MM) | ala_i) & po
        bone = bo | po
        cv.lab[sl][bone] = vid
        m = cv.mat[sl]
        m[bone] = C.CORTICAL
        m[bi | pi] = trab_mat


# --- ribs -----------------------------------------------------------------------------------
#: rib-cage half width / half depth (mm) at each rib (reference male) and anterior end angle (deg)
RIB_AR = [55, 80, 98, 110, 118, 124, 128, 130, 130, 128, 122, 112]
RIB_BR = [38, 52, 62, 70, 76, 80, 83, 85, 85, 84, 82, 78]
RIB_END_DEG = [-70, -72, -72, -72, -70, -65, -60, -50, -40, -25, 5, 35]
RIB_DROP_MM = [18, 30, 40, 48, 54, 58, 60, 58, 52, 44, 26, 14]
RIB_RADIUS_MM = [4.5, 4.0, 4.0, 4.2, 4.4, 4.5, 4.6, 4.6, 4.6, 4.5, 4.2, 3.8]


@dataclass
class RibPath:
    side: str
    number: int
    points: np.ndarray  # (n, 3) LPS mm, vertebral end first
    radius_mm: float


def transverse_tip_uv(d: LevelDims) -> tuple[float, float]:
    """Transverse process tip (u lateral, v posterior; mm from the body centre, vertebra frame).
    The rib's tubercle lies just in front of it and the rib angle level with it (``rib_paths``):
    ``v`` is the depth of the rib centre line at the rib angle, its most posterior point."""
    vc = canal_centre_v(d)
    b = np.radians(d.TPang)
    q0u = d.CW / 2 + d.PW / 2 - 0.5
    tr_len = max(d.TP - q0u, 5.0)
    return float(q0u + tr_len * np.cos(b)), float(vc + tr_len * np.sin(b))


def rib_paths(frame: Frame, d: LevelDims, k: int, scale: float) -> list[RibPath]:
    """Centre lines of the left and right rib ``k`` (1-12) articulating with vertebra T``k``."""
    out = []
    tip_u, tip_v = transverse_tip_uv(d)
    Ar = RIB_AR[k - 1] * scale
    Br = RIB_BR[k - 1] * scale
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        head = frame.to_lps([sgn * (d.W / 2 + 1.0), d.D / 2 - 4.0, 0.3 * d.H])
        tip = frame.to_lps([sgn * (tip_u + 2.0), tip_v - 6.0, 0.05 * d.H])
        # rib-cage ellipse (axial) whose posterior arc passes just behind the TP tip
        x_angle = abs(tip[0]) + 14.0 * scale
        psi0 = np.arccos(np.clip(x_angle / Ar, -1, 1))
        cy = tip[1] + 6.0 - Br * np.sin(psi0)
        psi1 = np.radians(RIB_END_DEG[k - 1])
        n = max(int(np.degrees(psi0 - psi1) * 1.5), 8)
        psi = np.linspace(psi0, psi1, n)
        frac = (psi0 - psi) / max(psi0 - psi1, 1e-6)
        zz = tip[2] - RIB_DROP_MM[k - 1] * scale * (frac ** 1.3)
        arc = np.stack([sgn * Ar * np.cos(psi), cy + Br * np.sin(psi), zz], axis=1)
        # head -> tip -> arc, densely sampled (<= 0.5 mm steps)
        ctrl = np.vstack([head, tip, arc])
        seg = np.linalg.norm(np.diff(ctrl, axis=0), axis=1)
        sc = np.concatenate([[0], np.cumsum(seg)])
        ss = np.arange(0, sc[-1], 0.5)
        pts = np.stack([np.interp(ss, sc, ctrl[:, i]) for i in range(3)], axis=1)
        out.append(RibPath(side, k, pts, RIB_RADIUS_MM[k - 1] * min(scale, 1.05)))
    return out


def paint_tube(cv: Canvas, pts: np.ndarray, radius: float, inner_radius: float, label: int,
               mat_outer: int, mat_inner: int, protect: set[int]) -> None:
    """Union of spheres of ``radius`` along ``pts`` (exact per voxel); shell/core materials."""
    sx, sy, sz = cv.spacing
    lo = pts.min(axis=0) - radius - 1
    hi = pts.max(axis=0) + radius + 1
    b = cv.box(lo, hi)
    if b is None:
        return
    sl, co = b
    z, y, x = co
    shape = (z.shape[0], y.shape[1], x.shape[2])
    d2 = np.full(shape, np.inf, np.float32)
    rz = int(np.ceil(radius / sz)) + 1
    ry = int(np.ceil(radius / sy)) + 1
    rx = int(np.ceil(radius / sx)) + 1
    z0, y0, x0 = float(z[0, 0, 0]), float(y[0, 0, 0]), float(x[0, 0, 0])
    for p in pts[:: max(1, int(round(min(sx, sy, sz) / 0.5 / 2)))]:
        kc = (p[2] - z0) / sz
        jc = (p[1] - y0) / sy
        ic = (p[0] - x0) / sx
        k0, k1 = max(int(kc) - rz, 0), min(int(kc) + rz + 1, shape[0])
        j0, j1 = max(int(jc) - ry, 0), min(int(jc) + ry + 1, shape[1])
        i0, i1 = max(int(ic) - rx, 0), min(int(ic) + rx + 1, shape[2])
        if k0 >= k1 or j0 >= j1 or i0 >= i1:
            continue
        dz = ((np.arange(k0, k1) - kc) * sz)[:, None, None] ** 2
        dy = ((np.arange(j0, j1) - jc) * sy)[None, :, None] ** 2
        dx = ((np.arange(i0, i1) - ic) * sx)[None, None, :] ** 2
        sub = d2[k0:k1, j0:j1, i0:i1]
        np.minimum(sub, (dz + dy + dx).astype(np.float32), out=sub)
    lab = cv.lab[sl]
    free = ~np.isin(lab, list(protect))
    outer = (d2 <= radius * radius) & free
    inner = (d2 <= inner_radius * inner_radius) & free
    lab[outer] = label
    m = cv.mat[sl]
    m[outer] = mat_outer
    m[inner] = mat_inner

"""Soft tissues painted slice by slice: body outline, subcutaneous and visceral fat, chest wall,
lungs, heart, liver, spleen, kidneys, bowel, aorta and vena cava, and the 11 trunk muscle groups
left and right. Positions follow the spine's centreline and the level's vertebral dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .. import anatomy
from . import canvas as C
from .canvas import Canvas
from .dimensions import LevelDims
from .kidney import in_ellipse, perirenal_fat_mm, place_kidney, retroperitoneal_fat
from .muscle_table import CSA_CM2, RIB_BORNE_MAX_DEG, TORSO_A, TORSO_B, WALL_SECTORS, _L
from .rib_cage import cage_profile, rib_centre_lines, rib_crossings
from .skeleton import RIB_AR, RIB_BR, RIB_RADIUS_MM, transverse_tip_uv
from .spine import SpineLayout

#: outer edge of the intercostal band beyond the rib-cage ellipse (mm, reference man): about a
#: rib radius plus the intercostal fascia
INTERCOSTAL_OUTER_MM = 6.0
#: thickness of the fascial fat plane between the chest wall and the muscle groups (mm)
FASCIA_MM = 1.5
#: room kept for the superficial back muscles (trapezius, rhomboids) between the thoracic erector
#: spinae and the subcutaneous fat at the spinous-process tips (mm, reference man)
SUPERFICIAL_BACK_MM = 7.0
#: angle (deg of the torso ellipse) over which the rib cage's pull on the chest's envelope fades
#: out before the latissimus dorsi's sector (``muscle_table.RIB_BORNE_MAX_DEG``)
ENVELOPE_TAPER_DEG = 20.0
_MUSCLE_IDS = (min(s.id for s in anatomy.STRUCTURES if s.group == "muscle"),
               max(s.id for s in anatomy.STRUCTURES if s.group == "muscle"))


def _muscle(lab2: np.ndarray) -> np.ndarray:
    return (lab2 >= _MUSCLE_IDS[0]) & (lab2 <= _MUSCLE_IDS[1])


def _near(mask: np.ndarray, dist_mm: float, px: float) -> np.ndarray:
    """Pixels within ``dist_mm`` of ``mask`` (at least one pixel), on a pixel size ``px`` mm."""
    r = max(dist_mm / px, 1.0)
    k = int(np.ceil(r))
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    return ndi.binary_dilation(mask, structure=(xx ** 2 + yy ** 2) <= r * r + 1e-6)


#: label ids of the wall (sheet) muscles: the deep back muscles lie beneath them, never over them
_WALL_IDS = np.array(sorted(anatomy.BY_NAME[f"{g}_{side}"].id for g in WALL_SECTORS for side in ("left", "right")))


#: label ids of the posterior abdominal wall muscles (psoas major, quadratus lumborum)
_POST_WALL_IDS = np.array(sorted(anatomy.BY_NAME[f"{g}_{side}"].id for g in ("psoas_major", "quadratus_lumborum")
                                 for side in ("left", "right")))


#: materials of the abdominal organs (liver, spleen, bowel and stomach, kidneys)
_ORGAN_MATS = np.array([C.LIVER, C.SPLEEN, C.BOWEL, C.KIDNEY])


def _not_wall(lab: np.ndarray) -> np.ndarray:
    return ~np.isin(lab, _WALL_IDS)


LAB = {n: anatomy.BY_NAME[n].id for n in ("subcutaneous_fat", "visceral_fat", "soft_tissue", "aorta", "lung")}


@dataclass
class Subject:
    sex: str
    age_years: float
    height_cm: float
    weight_kg: float
    skeletal_scale: float
    muscle_scale: float
    sc_fat_mm: float  # subcutaneous fat thickness
    visceral_fat_factor: float


@dataclass(frozen=True)
class SliceGrid:
    """In-plane grid (origin X0, Y0, pixel px) and the patient pose in it: body coordinates are
    rotated by ``rot`` (rad, about the scanner z axis) and shifted by (tx, ty) into the grid."""

    X0: float
    Y0: float
    px: float
    rot: float = 0.0
    tx: float = 0.0
    ty: float = 0.0

    def to_grid(self, x: float, y: float) -> tuple[float, float]:
        c, s = np.cos(self.rot), np.sin(self.rot)
        return c * x - s * y + self.tx, s * x + c * y + self.ty

    def to_body(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.float32(np.cos(self.rot)), np.float32(np.sin(self.rot))
        dx, dy = X - np.float32(self.tx), Y - np.float32(self.ty)
        return c * dx + s * dy, -s * dx + c * dy


def _ellipse(lab2, mat2, G: SliceGrid, cx, cy, a, b, ang, lid, mid, where=None):
    """Paint an (a, b, rotation ang rad) ellipse centred at body coordinates (cx, cy) mm."""
    if a <= 0.3 or b <= 0.3:
        return None
    px = G.px
    cx, cy = G.to_grid(cx, cy)
    ang = ang + G.rot
    r = max(a, b) + px
    ny, nx = lab2.shape
    i0, i1 = max(int((cx - r - G.X0) / px), 0), min(int((cx + r - G.X0) / px) + 2, nx)
    j0, j1 = max(int((cy - r - G.Y0) / px), 0), min(int((cy + r - G.Y0) / px) + 2, ny)
    if i0 >= i1 or j0 >= j1:
        return None
    x = (G.X0 + px * np.arange(i0, i1, dtype=np.float32))[None, :] - cx
    y = (G.Y0 + px * np.arange(j0, j1, dtype=np.float32))[:, None] - cy
    m = in_ellipse((0.0, 0.0, a, b, ang), x, y)
    if where is not None:
        m &= where(lab2[j0:j1, i0:i1])
    lab2[j0:j1, i0:i1][m] = lid
    mat2[j0:j1, i0:i1][m] = mid
    return m


def ql_ellipse(ell: float, D: float, TP: float, yc: float, ms: float, sgn: float):
    """Quadratus lumborum (centre x, y, semi-axes a, b, rotation; mm, rad) on side ``sgn`` (+1 left),
    or None where the table gives it no area."""
    csa = _interp(CSA_CM2["quadratus_lumborum"], ell) * 100.0 * ms
    if csa <= 1:
        return None
    a = np.sqrt(csa * 1.7 / np.pi)
    return sgn * (TP + 6.0 + 0.5 * a), yc + D / 2 + 2.0, a, a / 1.7, sgn * 0.35


def psoas_ellipse(ell: float, W: float, D: float, yc: float, ms: float, sgn: float):
    """Psoas major (centre x, y, semi-axes a, b, rotation; mm, rad) on side ``sgn``, or None."""
    csa = _interp(CSA_CM2["psoas_major"], ell) * 100.0 * ms
    if csa <= 1:
        return None
    a = np.sqrt(csa * 0.95 / np.pi)
    frac = np.clip((ell - _L.index("L1")) / 4.0, 0, 1)
    return sgn * (W / 2 + 2.0 + a * (0.9 + 0.2 * frac)), yc + (0.15 - 0.3 * frac) * D, a, a / 0.95, 0.0


def level_arrays(dims: dict[str, LevelDims], skeletal_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Per-level (C7..L5, S1) arrays of the vertebral dimensions, for interpolation along z.

    ``RIBV`` is the depth (mm behind the body centre) of the posterior surface of the rib at its
    angle, the most posterior point of the rib (centre line depth, ``skeleton.rib_paths``, plus
    the rib radius) at C7 (the first rib's) and T1-T12, 0 (no rib) at the other levels; ``RIBU``
    the distance of the rib angle from the mid-sagittal plane (mm; 0 where there is no rib)."""
    cols = ("W", "D", "H", "CW", "CD", "SP", "SPang", "TP", "TPang")
    out = {}
    for c in cols:
        vals = []
        for lv in _L:
            d = dims.get(lv) or dims["L5"]
            vals.append(getattr(d, c))
        out[c] = np.asarray(vals, float)
    ribv, ribu = np.zeros(len(_L)), np.zeros(len(_L))
    for k in range(1, 13):
        d = dims.get(f"T{k}")
        if d is not None:
            tu, tv = transverse_tip_uv(d)
            ribv[_L.index(f"T{k}")] = tv + RIB_RADIUS_MM[k - 1] * min(skeletal_scale, 1.05)
            ribu[_L.index(f"T{k}")] = tu + 2.0 + 14.0 * skeletal_scale  # as skeleton.rib_paths
    # the first rib's neck rises to the C7/T1 junction: keep its bound up to C7
    ribv[_L.index("C7")], ribu[_L.index("C7")] = ribv[_L.index("T1")], ribu[_L.index("T1")]
    out["RIBV"], out["RIBU"] = ribv, ribu
    return out


def level_coordinate(layout: SpineLayout, z: np.ndarray) -> np.ndarray:
    """Continuous level index (C7 = 0 ... L5 = 18, S1 = 19 in ``_L`` order) at heights z."""
    names = [lv for lv in _L if lv in layout.frames] + ["S1"]
    zc = [layout.frames[lv].origin[2] if lv != "S1" else layout.sacrum_frame.origin[2] for lv in names]
    idx = [_L.index(lv) for lv in names]
    zc = np.asarray(zc)[::-1]
    idx = np.asarray(idx, float)[::-1]
    # extrapolate linearly beyond the first/last level
    ell = np.interp(z, zc, idx)
    slope_top = (idx[-1] - idx[-2]) / (zc[-1] - zc[-2])
    slope_bot = (idx[1] - idx[0]) / (zc[1] - zc[0])
    ell = np.where(z > zc[-1], idx[-1] + (z - zc[-1]) * slope_top, ell)
    ell = np.where(z < zc[0], idx[0] + (z - zc[0]) * slope_bot, ell)
    return ell


def centreline_y(layout: SpineLayout, z: np.ndarray) -> np.ndarray:
    pts = layout.centreline_lps
    order = np.argsort(pts[:, 2])
    return np.interp(z, pts[order, 2], pts[order, 1])


def _interp(arr: np.ndarray, ell: float) -> float:
    return float(np.interp(ell, np.arange(len(arr)), arr))


def posterior_depth(la: dict[str, np.ndarray], ell: float, sc_fat: float, ms: float = 1.0) -> float:
    """Body centre -> posterior skin distance (mm): body, canal, lamina, spinous process, muscle
    cover, subcutaneous fat."""
    D, CD, SP, ang = (_interp(la[c], ell) for c in ("D", "CD", "SP", "SPang"))
    sp_tip = D / 2 + CD + 6.0 + SP * np.cos(np.radians(ang))
    return max(sp_tip + 6.0, es_posterior_edge(la, ell, ms) + 4.0) + sc_fat


def es_geometry(la: dict[str, np.ndarray], ell: float, ms: float) -> tuple[float, float, float]:
    """Erector spinae half-width a, half-depth b and centre v (mm from the body centre, posterior).

    The muscle's front lies 2 mm behind mid-canal depth (on the lumbar transverse processes and
    the thoracolumbar fascia's middle layer) and, where there are ribs, behind the ribs: in the
    thorax the erector spinae fill the groove between the spinous processes and the rib angles,
    dorsal to the transverse processes and ribs, so their front is kept a fascial plane
    (``FASCIA_MM``) behind the posterior surface of the rib at its angle (``RIBV``). The bound is
    interpolated between levels, fading from T12 to L1. Where the rib bound
    pushes the muscle back, it is flattened (same area, wider) as far as needed to stay beneath
    the superficial back muscles (``SUPERFICIAL_BACK_MM``) and the skin line set by the spinous
    processes, as the thoracic erector spinae spread laterally over the rib angles."""
    D, CD, SP, ang = (_interp(la[c], ell) for c in ("D", "CD", "SP", "SPang"))
    csa = _interp(CSA_CM2["erector_spinae"], ell) * 100.0 * ms
    ar = 1.05 if ell >= _L.index("L1") else 1.3  # width / depth
    a = np.sqrt(csa * ar / np.pi)
    b = a / ar
    front0 = D / 2 + CD / 2 + 2.0
    front = max(front0, _interp(la["RIBV"], ell) + FASCIA_MM)
    if front > front0 and a > 0:
        sp_tip = D / 2 + CD + 6.0 + SP * np.cos(np.radians(ang))
        back_max = sp_tip + 6.0 - 4.0 - SUPERFICIAL_BACK_MM  # posterior_depth's muscle line
        if front + 2 * b > back_max:
            b = max(0.5 * (back_max - front), 0.5 * b)  # at most twice as wide
            a = csa / (np.pi * b)
    return a, b, front + b


def es_posterior_edge(la: dict[str, np.ndarray], ell: float, ms: float) -> float:
    a, b, v = es_geometry(la, ell, ms)
    return v + b


def _paint_wall_sheets(lab2, mat2, depth, torso, th_side, th_deg, th_deg_r, A, B, f, ell, ms, cage,
                       px) -> tuple[float, np.ndarray]:
    """Paint the wall (sheet) muscles of one slice; returns the depth below the torso ellipse (mm)
    of the deepest layer where no rib bears it (the kidneys keep clear of it), and per pixel the
    depth (mm) by which the rib cage moved the sheets inwards (0 elsewhere).

    Each group fills its sector (``WALL_SECTORS``, angles of the torso ellipse, ``th_side`` per
    pixel on its own side) as a sheet of its design area; ``depth`` is mm below the skin, ``f`` the
    subcutaneous fat thickness (mm). The layers stack inwards, each a fascial fat plane
    (``FASCIA_MM``, at least a pixel diagonal ``px``) beneath those covering its angle. In front
    of and beside the rib cage (``cage``: the ribs crossing this slice, ``rib_cage.cage_profile``)
    the stack lies on the ribs, a fascial plane outside their outer surface, as on a real chest
    (the caller moves the skin in by as much, so the chest's envelope follows the cage); the pull
    fades out towards the latissimus dorsi. Where the room is less than the stack, or no rib
    closes the cage at that angle, the stack starts under the subcutaneous fat."""
    n_layers = max(v[2] for v in WALL_SECTORS.values()) + 1
    # the fat plane between layers spans at least a pixel diagonal of the painting grid, or the
    # sheets touch and generate._fat_planes carves a pixel off each
    gap = np.float32(max(FASCIA_MM, np.sqrt(2.0) * px))
    serratus = _interp(CSA_CM2["serratus_anterior"], ell) * 100.0 * ms > 1.0
    groups = []
    for group, (a0, a1, layer) in WALL_SECTORS.items():
        csa = _interp(CSA_CM2[group], ell) * 100.0 * ms
        if csa <= 1.0:
            continue
        if group == "external_oblique" and not serratus:
            # below the serratus anterior the external oblique's posterior free border lies next
            # to the latissimus dorsi's anterior border (the lumbar triangle between them is
            # small): no gap in the wall where the liver or bowel would meet the subcutaneous fat
            r_lat = np.hypot(A * np.cos(np.radians(RIB_BORNE_MAX_DEG)), B * np.sin(np.radians(RIB_BORNE_MAX_DEG)))
            a1 = RIB_BORNE_MAX_DEG - np.degrees(float(gap) / (r_lat - f))
        mid = np.radians(0.5 * (a0 + a1))
        r_mean = np.sqrt((A * np.cos(mid)) ** 2 + (B * np.sin(mid)) ** 2) - f
        sector = (th_side >= a0) & (th_side <= a1) & torso
        groups.append([group, layer, csa, np.radians(a1 - a0), r_mean, sector, csa / (np.radians(a1 - a0) * r_mean),
                       a0, a1])
    extra = np.zeros(depth.shape, np.float32)
    rib_borne = None
    if cage is not None:
        q, r_rib, w_cage, out_c = cage
        # weight of the cage's pull: full in front of and beside it, fading over
        # ENVELOPE_TAPER_DEG towards the latissimus dorsi (which covers the deep back muscles and
        # keeps its depth), so the skin line stays smooth
        pull = w_cage * np.clip((RIB_BORNE_MAX_DEG - th_side) / ENVELOPE_TAPER_DEG, 0.0, 1.0)
        rib_borne = (th_side < RIB_BORNE_MAX_DEG) & (w_cage > 0)
    for _ in range(2):  # the sheet thickness follows the radius the sheet lies at
        T = [np.zeros(depth.shape, np.float32) for _ in range(n_layers)]
        for g in groups:
            np.maximum(T[g[1]], np.where(g[5], np.float32(g[6]), np.float32(0)), out=T[g[1]])
        stack = sum(t + np.where(t > 0, gap, np.float32(0)) for t in T)
        if rib_borne is not None:
            # room between the sc-fat's inner border and the ribs' outer surface, along the ray,
            # less one stack depth per slice (its thickest), so the envelope does not step with
            # the sheets
            stack_max = float(np.max(stack[rib_borne & torso], initial=0.0))
            room = (out_c - r_rib) + (depth - f)
            extra = (np.clip(room - stack_max, 0, None) * pull).astype(np.float32)
            edge = (pull > 0) & (depth >= f) & (depth < f + px)
            for g in groups:
                e = extra[edge & g[5]]
                if e.size:
                    g[6] = g[2] / (g[3] * max(g[4] - float(e.mean()), 0.5 * g[4]))
        else:
            break
    top = f + extra
    for layer in range(n_layers):
        for group, lay, csa, span, r_mean, sector, t, a0, a1 in groups:
            if lay != layer:
                continue
            band = sector & (depth >= top) & (depth < top + t)
            for side, th in (("left", th_deg), ("right", th_deg_r)):
                m = band & (th >= a0) & (th <= a1)
                lid = anatomy.BY_NAME[f"{group}_{side}"].id
                lab2[m] = lid
                mat2[m] = C.MUSCLE
        top = top + T[layer] + np.where(T[layer] > 0, gap, np.float32(0))
    return max(float(np.max(np.where(torso & (extra == 0), top - gap, f), initial=f)), f), extra


def paint_soft_tissue(cv: Canvas, layout: SpineLayout, dims: dict[str, LevelDims], subj: Subject,
                      rng: np.random.Generator, step: int = 1, rot_rad: float = 0.0,
                      shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> dict:
    """Paint every soft tissue; returns geometry facts used later (table height, aorta centres).

    ``layout`` is the spine in body coordinates (mid-sagittal plane x = 0); the patient is
    rotated by ``rot_rad`` about the scanner z axis and shifted by ``shift_mm`` (LPS) in the grid.
    With ``step`` > 1 only the central slice of each block of ``step`` fine slices is computed and
    copied to the block (soft tissue varies slowly along z; bone is painted at full resolution)."""
    xs, ys, zs = cv.axis_coords()
    px = cv.spacing[0]
    G = SliceGrid(float(xs[0]), float(ys[0]), px, rot_rad, shift_mm[0], shift_mm[1])
    Xg = np.broadcast_to(xs[None, :].astype(np.float32), (len(ys), len(xs)))
    Yg = np.broadcast_to(ys[:, None].astype(np.float32), (len(ys), len(xs)))
    if rot_rad == 0.0:
        X = xs[None, :].astype(np.float32) - np.float32(shift_mm[0])
        Y = ys[:, None].astype(np.float32) - np.float32(shift_mm[1])
    else:
        X, Y = G.to_body(Xg, Yg)
    zb = zs - shift_mm[2]
    ells = level_coordinate(layout, zb)
    ycs = centreline_y(layout, zb)
    la = level_arrays(dims, subj.skeletal_scale)
    s = subj.skeletal_scale
    f = subj.sc_fat_mm
    ms = subj.muscle_scale
    fat_mm = perirenal_fat_mm(subj.visceral_fat_factor)
    iT = {lv: _L.index(lv) for lv in _L}
    ribs = rib_centre_lines(layout, dims, s)
    # bowel loops: smooth random paths in the anterior abdomen
    n_bowel = 7
    bowel = rng.uniform([-0.55, -0.85, 0, 0.02], [0.55, -0.35, 2 * np.pi, 0.05], size=(n_bowel, 4))
    bowel_r = rng.uniform(11, 17, n_bowel) * s
    y_post_all = np.array([ycs[k] + posterior_depth(la, ells[k], f, ms) for k in range(len(zs))])
    in_spine = (ells >= iT["T1"]) & (ells <= iT["L5"])
    table_top = float(y_post_all[in_spine].max() if in_spine.any() else y_post_all.max()) + 0.5
    aorta_centres = []
    for k in range(step // 2, len(zs), step):
        ell, yc, z = float(ells[k]), float(ycs[k]), float(zb[k])
        lab2, mat2 = cv.lab[k], cv.mat[k]
        chest_wall = None
        y_post = float(y_post_all[k])
        A = _interp(TORSO_A, ell) * s + (f - 15.0) * 1.2
        B = _interp(TORSO_B, ell) * s + (f - 15.0) * 0.8
        if ell < 0.0:  # neck above C7: narrow
            A *= max(0.55, 1 + 0.25 * ell)
        cy = y_post - B
        dx = X / A
        dy = (Y - cy) / B
        rho = np.sqrt(dx * dx + dy * dy)
        if table_top > y_post + 0.5:
            # supine: the back rests on the table; the lordotic gap is filled by a soft fat pad
            b_ext = table_top - cy
            pad = (Y > cy) & (Y <= table_top) & ((X / A) ** 2 + ((Y - cy) / b_ext) ** 2 <= 1.0)
            lab2[pad] = LAB["subcutaneous_fat"]
            mat2[pad] = C.FAT_SC
        torso = rho <= 1.0
        lab2[torso] = LAB["subcutaneous_fat"]
        mat2[torso] = C.FAT_SC
        theta = np.arctan2(dy, dx)
        Rth = np.sqrt((A * np.cos(theta)) ** 2 + (B * np.sin(theta)) ** 2)
        depth = (1.0 - rho) * Rth
        inner = depth >= f
        lab2[inner] = LAB["visceral_fat"]
        mat2[inner] = C.FAT_VISC
        W, D, CW, CD, TP = (_interp(la[c], ell) for c in ("W", "D", "CW", "CD", "TP"))
        thorax = ell <= iT["T12"] + 0.3
        cage = None
        if thorax and ell >= iT["T1"] - 0.6:
            Ar = np.interp(ell - iT["T1"], np.arange(12), RIB_AR) * s
            Br = np.interp(ell - iT["T1"], np.arange(12), RIB_BR) * s
            tip_y = yc + D / 2 + CD / 2 + 8.0
            tip_x = TP * 0.85 + 14.0 * s
            psi0 = np.arccos(np.clip(tip_x / Ar, -1, 1))
            cyr = tip_y + 6.0 - Br * np.sin(psi0)
            ex = X / Ar
            ey = (Y - cyr) / Br
            rr = np.sqrt(ex * ex + ey * ey)
            psi_r = np.arctan2(ey, ex)
            r_cage = np.sqrt((Ar * np.cos(psi_r)) ** 2 + (Br * np.sin(psi_r)) ** 2)
            # the ribs actually crossing this slice (higher ribs in front, on smaller ellipses)
            q, r_rib, w_cage = cage_profile(rib_crossings(ribs, z), Ar, Br, cyr, X, Y)
            cage = (q, r_rib, w_cage, (rr - q) * r_cage)  # last: mm outside the rib centre lines
        # --- wall muscles (sheets under the subcutaneous fat) ---------------------------------
        th_deg = np.degrees(theta)
        th_deg_r = np.degrees(np.arctan2(dy, -dx))
        th_side = np.where(X >= 0, th_deg, th_deg_r)
        wall_depth, moved_in = _paint_wall_sheets(lab2, mat2, depth, torso, th_side, th_deg, th_deg_r, A, B, f,
                                                  ell, ms, cage, px)
        # the chest's envelope follows the rib cage: the skin lies the subject's subcutaneous fat
        # (f) over the sheets that lie on the ribs, not on the torso ellipse (which would leave a
        # fat layer of a few cm over the upper chest wall)
        skin_in = (moved_in > 0) & (depth < moved_in)
        lab2[skin_in] = 0
        mat2[skin_in] = C.AIR
        # --- thorax: chest wall, lungs, heart; abdomen: organs -------------------------------
        if cage is not None:
            q, r_rib, w_cage, out_c = cage
            # chest wall (intercostal muscles): between the ribs crossing this slice, as thick as
            # they are, kept apart from the wall muscle sheets (and below from the deep back
            # muscles) by a thin fascial fat plane, as on real CT. The intercostals span the spaces
            # between the ribs, which run lateral of the rib angles (``RIBU``); medial of the angles
            # the ribs pass in front of the erector spinae and transversospinalis, so the band stops
            # at the angles. In front of a false rib's end (below the costal margin) there is none.
            wall = (np.abs(out_c) <= r_rib) & (w_cage > 0.5) & inner & \
                (lab2 == LAB["visceral_fat"]) & ~_near(_muscle(lab2), FASCIA_MM, px) & \
                (np.abs(X) >= _interp(la["RIBU"], float(np.clip(ell, iT["T1"], iT["T12"]))))
            lab2[wall] = LAB["soft_tissue"]
            mat2[wall] = C.MUSCLE
            chest_wall = wall
            # lungs: inside the rib cage, outside the mediastinum, above the diaphragm dome
            apex = np.clip((ell - iT["T1"] + 0.8) / 2.5, 0.25, 1.0)
            yfrac = np.clip((Y - (cyr - Br)) / (2 * Br), 0, 1)
            # diaphragm: two domes (highest anteriorly-centrally under each lung, right a bit higher),
            # deepest in the posterior costophrenic recesses
            xfrac = np.clip((np.abs(X) - 0.45 * Ar) / (0.55 * Ar), -1, 1)
            ell_dia = iT["T9"] - 0.4 * (X < 0) + 2.4 * yfrac ** 1.5 + 1.2 * xfrac ** 2
            lung = (rr <= 0.93) & (np.abs(X) > 18.0 * s) & (ell < ell_dia)
            if apex < 1.0:
                lung &= ((np.abs(X) - 0.5 * Ar) / (0.5 * Ar * apex)) ** 2 + ((Y - (cyr + 0.25 * Br)) / (0.7 * Br * apex)) ** 2 <= 1
            post_med = (np.abs(X) < W / 2 + 10.0) & (Y > yc - D / 2 - 28.0)
            lung &= ~post_med
            lab2[lung] = LAB["lung"]
            mat2[lung] = C.LUNG
            if iT["T5"] - 0.5 <= ell <= iT["T10"] + 0.3:
                hs = np.clip(min(ell - iT["T5"] + 1.0, iT["T10"] + 0.8 - ell) / 1.5, 0.2, 1.0)
                _ellipse(lab2, mat2, G, 22.0 * s, cyr - 0.38 * Br, 0.42 * Ar * hs, 0.5 * Br * hs,
                         0.5, LAB["soft_tissue"], C.HEART)
            below = (rr <= 0.93) & (ell >= ell_dia) & ~post_med
            liver = below & (X < 10.0)
            lab2[liver] = LAB["soft_tissue"]
            mat2[liver] = C.LIVER
            spleen = below & (X > 35.0 * s) & (Y > cyr) & (ell >= iT["T10"])
            lab2[spleen] = LAB["soft_tissue"]
            mat2[spleen] = C.SPLEEN
            if iT["T10"] - 0.5 <= ell <= iT["L1"]:  # stomach, left upper quadrant
                hs = np.clip(min(ell - iT["T10"] + 1.0, iT["L1"] - ell) / 1.0, 0.3, 1.0)
                _ellipse(lab2, mat2, G, 0.3 * Ar, cyr - 0.3 * Br, 0.28 * Ar * hs, 0.32 * Br * hs, -0.4,
                         LAB["soft_tissue"], C.BOWEL, where=lambda l: l == LAB["visceral_fat"])
        if iT["T11"] <= ell <= iT["L2"] + 0.8:  # liver continues below the ribs (right)
            hs = np.clip(iT["L2"] + 0.8 - ell, 0.2, 1.0)
            _ellipse(lab2, mat2, G, -0.45 * A, cy + 0.05 * B, 0.38 * A * hs, 0.55 * B * hs, 0.2,
                     LAB["soft_tissue"], C.LIVER, where=lambda l: l == LAB["visceral_fat"])
        wall_mm = wall_depth + fat_mm

        def cavity(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            """Room for a kidney: deeper than the wall muscles plus a fat layer (``fat_mm``)."""
            ex, ey = x / A, (y - cy) / B
            th = np.arctan2(ey, ex)
            return (1.0 - np.hypot(ex, ey)) * np.hypot(A * np.cos(th), B * np.sin(th)) >= wall_mm
        for sgn, top, bot in ((1, iT["T12"] - 0.2, iT["L2"] + 0.6), (-1, iT["T12"] + 0.3, iT["L3"])):
            if top <= ell <= bot:
                hs = np.clip(min(ell - top, bot - ell) / 0.6, 0.3, 1.0)
                # in its perirenal fat, clear of the psoas and quadratus lumborum (painted below)
                near = [e for e in (psoas_ellipse(ell, W, D, yc, ms, sgn), ql_ellipse(ell, D, TP, yc, ms, sgn))
                        if e is not None]
                kx, ky, ka, kb, kang = place_kidney((sgn * (W / 2 + 42.0 * s), yc + 12.0 * s, 30.0 * s * hs,
                                                     22.0 * s * hs, sgn * 0.6), near, fat_mm, sgn,
                                                    in_cavity=cavity)
                _ellipse(lab2, mat2, G, kx, ky, ka, kb, kang, LAB["soft_tissue"], C.KIDNEY,
                         where=lambda l: ~_muscle(l))
        if ell >= iT["L1"]:  # bowel loops
            for (bx, by, ph, fr), br in zip(bowel, bowel_r):
                cxb = (bx + 0.08 * np.sin(z * fr + ph)) * (A - f)
                cyb = cy + (by + 0.06 * np.cos(z * fr * 1.3 + ph)) * (B - f)
                _ellipse(lab2, mat2, G, cxb, cyb, br, br * 0.85, ph, LAB["soft_tissue"], C.BOWEL,
                         where=lambda l: l == LAB["visceral_fat"])
        # the transversalis fascia and extraperitoneal fat keep the organs off the wall muscles
        organ = np.isin(mat2, _ORGAN_MATS) & (lab2 == LAB["soft_tissue"])
        if organ.any():
            off = organ & _near(np.isin(lab2, _WALL_IDS), FASCIA_MM, px)
            lab2[off] = LAB["visceral_fat"]
            mat2[off] = C.FAT_VISC
        # --- great vessels ---------------------------------------------------------------------
        if iT["T4"] <= ell <= iT["L4"] + 0.3:
            ra = (12.5 if ell < iT["T12"] else 10.5) * s
            acx, acy = 0.4 * W + 2.0, yc - D / 2 - ra - 2.0
            _ellipse(lab2, mat2, G, acx, acy, ra, ra, 0.0, LAB["aorta"], C.BLOOD)
            aorta_centres.append((*G.to_grid(acx, acy), zs[k]))
        if iT["T11"] <= ell <= iT["L4"] + 0.3:
            _ellipse(lab2, mat2, G, -0.45 * W - 8.0, yc - D / 2 - 13.0 * s, 13.0 * s, 9.0 * s, 0.3,
                     LAB["soft_tissue"], C.BLOOD)
        # --- deep back and posterior abdominal wall muscles -----------------------------------
        y_lam = yc + D / 2 + CD + 4.0
        for side, sgn in (("left", 1.0), ("right", -1.0)):
            csa_ts = _interp(CSA_CM2["transversospinalis"], ell) * 100.0 * ms
            a_ts = np.sqrt(csa_ts * 0.8 / np.pi)
            b_ts = a_ts / 0.8
            x_ts = sgn * (5.0 + a_ts)
            _ellipse(lab2, mat2, G, x_ts, y_lam + b_ts, a_ts, b_ts, 0.0,
                     anatomy.BY_NAME[f"transversospinalis_{side}"].id, C.MUSCLE)
            a_es, b_es, v_es = es_geometry(la, ell, ms)
            x_es = sgn * (5.0 + 2 * a_ts + 1.5 + a_es)
            _ellipse(lab2, mat2, G, x_es, yc + v_es, a_es, b_es,
                     -sgn * 0.15, anatomy.BY_NAME[f"erector_spinae_{side}"].id, C.MUSCLE, where=_not_wall)
            ql = ql_ellipse(ell, D, TP, yc, ms, sgn)
            if ql is not None:
                _ellipse(lab2, mat2, G, *ql, anatomy.BY_NAME[f"quadratus_lumborum_{side}"].id, C.MUSCLE)
            ps = psoas_ellipse(ell, W, D, yc, ms, sgn)
            if ps is not None:
                _ellipse(lab2, mat2, G, *ps, anatomy.BY_NAME[f"psoas_major_{side}"].id, C.MUSCLE)
        retroperitoneal_fat(lab2, mat2, fat_mm, px, LAB["visceral_fat"], _POST_WALL_IDS)
        if chest_wall is not None:  # fascial fat plane between the chest wall and the back muscles
            gap = chest_wall & (lab2 == LAB["soft_tissue"]) & (mat2 == C.MUSCLE) & \
                _near(_muscle(lab2), FASCIA_MM, px)
            lab2[gap] = LAB["visceral_fat"]
            mat2[gap] = C.FAT_VISC
    if step > 1:
        for k in range(step // 2, len(zs), step):
            for kk in range(k - step // 2, min(k - step // 2 + step, len(zs))):
                if kk != k:
                    cv.lab[kk] = cv.lab[k]
                    cv.mat[kk] = cv.mat[k]
    return {"table_top_y_mm": table_top + shift_mm[1], "aorta_centres": aorta_centres}

"""``generate_phantom(config) -> Phantom``: paint the design on a fine grid, form the CT, measure
the truth."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from .. import anatomy
from ..image import CTImage, Geometry, LabelMap
from . import canvas as C
from .canvas import Canvas, MaterialTable
from .config import PRESETS, PhantomConfig
from .lesions import CLASS_ID, paint_lesion
from .model import Model, build_model
from .scanner import form_ct
from .skeleton import (paint_canal, paint_disc, paint_sacrum, paint_tube, paint_vertebra, rib_paths,
                       sacral_frames)
from .soft import level_arrays, paint_soft_tissue, posterior_depth
from .spine import SPINE_LEVELS, Frame, SpineLayout, layout_spine
from .vertebra import central_height

log = logging.getLogger(__name__)

MUSCLE_IDS = [s.id for s in anatomy.STRUCTURES if s.group == "muscle"]
VERT_IDS = sorted(set(anatomy.VERSE_ID.values()))


@dataclass
class Phantom:
    """A generated study: CT (HU), label maps on the CT grid, ground truth, follow-ups."""

    ct: CTImage
    labels: LabelMap
    vertebrae: LabelMap
    vertebral_bodies: LabelMap
    muscles: LabelMap
    lesions: LabelMap
    truth: dict[str, Any]
    followups: list["Phantom"] = field(default_factory=list)
    config: PhantomConfig | None = None
    #: internal: lesion instance map (1-based lesion ids) and the design model
    lesion_instances: np.ndarray | None = None
    model: Model | None = None
    frames: dict[str, Frame] = field(default_factory=dict)

    def complete_levels(self) -> list[str]:
        """T1-L5 levels present in the truth that touch neither z end of the volume (whole in the
        field of view), cranial to caudal."""
        arr = self.labels.array
        out = []
        for lv in anatomy.TARGET_LEVELS:
            z = np.nonzero((arr == anatomy.vertebra_id(lv)).any(axis=(1, 2)))[0]
            if z.size and z.min() > 0 and z.max() < arr.shape[0] - 1:
                out.append(lv)
        return out


@dataclass(frozen=True)
class Grid:
    shape_fine: tuple[int, int, int]
    spacing_fine: tuple[float, float, float]
    origin_fine: tuple[float, float, float]
    ns: int


def _layout(model: Model, rigid: bool = True) -> SpineLayout:
    """Spine layout of the model; ``rigid=False``: in body coordinates (no roll, no shift)."""
    heights = {lv: central_height(model.dims[lv], fr) for lv, fr in model.fractures.items()}
    p = model.pose
    lay = layout_spine(model.dims, p.phi_scale_thoracic, p.phi_scale_lumbar, 0.0, heights=heights,
                       phi_offset_deg=p.phi_offset_deg)
    t = np.asarray(p.shift_mm, float)
    if rigid and (np.any(t != 0) or p.roll_deg != 0):
        roll = np.radians(p.roll_deg)
        Rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1.0]])
        c = np.array([0.0, 0.0, 0.0])

        def mv(f: Frame) -> Frame:
            return Frame(Rz @ (f.origin - c) + c + t, Rz @ f.R)
        lay = SpineLayout({k: mv(f) for k, f in lay.frames.items()}, lay.phi_deg,
                          (lay.centreline_lps - c) @ Rz.T + c + t, mv(lay.sacrum_frame))
    return lay


def make_grid(model: Model, lay: SpineLayout) -> Grid:
    cfg = model.config
    px, sl, ns = float(cfg.pixel_mm), float(cfg.slice_mm), int(cfg.oversample_z)
    top_lv, bot_lv = cfg.fov_levels
    d_top, d_bot = model.dims[top_lv], model.dims[bot_lv]
    z_top = lay.frames[top_lv].origin[2] + d_top.H / 2 + model.dims[SPINE_LEVELS[SPINE_LEVELS.index(top_lv) - 1]].disc + 4.0
    z_bot = lay.frames[bot_lv].origin[2] - d_bot.H / 2 - d_bot.disc - (40.0 if bot_lv == "L5" else 4.0)
    nz = int(np.ceil((z_top - z_bot) / sl))
    s = model.subject.skeletal_scale
    la = level_arrays(model.dims, s)
    f = model.subject.sc_fat_mm
    # in-plane extent: widest torso + margin; y from the anterior skin to below the table
    from .muscle_table import TORSO_A, TORSO_B
    a_max = float(TORSO_A.max()) * s + (f - 15) * 1.2 + 15.0
    yc = lay.centreline_lps[:, 1]
    y_post = float(yc.max()) + max(posterior_depth(la, e, f, model.subject.muscle_scale) for e in np.linspace(0, 19, 40))
    y_ant = float(yc.min()) + min(posterior_depth(la, e, f, model.subject.muscle_scale) for e in np.linspace(0, 19, 40)) - \
        2 * (float(TORSO_B.max()) * s + (f - 15) * 0.8) - 10.0
    y_bottom = y_post + (40.0 if cfg.calibration_rods else 0.0) + 45.0
    matrix = PRESETS[cfg.size].get("matrix") if cfg.pixel_mm == PRESETS[cfg.size]["pixel_mm"] else None
    if matrix:
        nx = ny = int(matrix)
        x0 = -(nx - 1) / 2 * px
        y0 = 0.5 * (y_ant + y_bottom) - (ny - 1) / 2 * px
    else:
        nx = int(np.ceil(2 * a_max / px)) + 1
        x0 = -(nx - 1) / 2 * px
        ny = int(np.ceil((y_bottom - y_ant) / px)) + 1
        y0 = y_ant
    dzf = sl / ns
    z0 = z_bot + dzf / 2
    return Grid((nz * ns, ny, nx), (px, px, dzf), (x0, y0, z0), ns)


def _materials(model: Model) -> MaterialTable:
    t = MaterialTable()
    h = model.physics.tissue_hu()  # reference tissues from attenuation physics (tissue_physics)
    t.set(C.AIR, "air", h["air"], 0)
    t.set(C.FAT_SC, "subcutaneous_fat", h["fat"], 6)
    t.set(C.FAT_VISC, "visceral_fat", h["fat"] + 5, 8)
    t.set(C.FAT_INTER, "intermuscular_fat", h["fat"] + 10, 6)
    # muscle: lean muscle with diffuse fat infiltration (more in women and with age; science.md 6)
    t.set(C.MUSCLE, "muscle", h["muscle"], 7)
    t.set(C.SOFT, "soft_tissue", h["soft_tissue"], 8)
    t.set(C.BLOOD, "blood", h["blood"], 3)
    t.set(C.LUNG, "lung", h["lung"], 35)
    t.set(C.CSF, "csf", h["csf"], 3)
    t.set(C.DISC, "disc", h["disc"], 6)
    t.set(C.CORTICAL, "cortical_bone", h["cortical_bone"], 60)
    t.set(C.TABLE_SHELL, "table_shell", h["table_shell"], 10)
    t.set(C.TABLE_FOAM, "table_foam", h["table_foam"], 10)
    t.set(C.RESIN, "resin", h["resin"], 2)
    t.set(C.RIB_MARROW, "rib_marrow", h["rib_marrow"], 25)
    t.set(C.LIVER, "liver", h["liver"], 6)
    t.set(C.KIDNEY, "kidney", h["kidney"], 6)
    t.set(C.HEART, "heart", h["heart"], 5)
    t.set(C.BOWEL, "bowel", h["bowel"], 15)
    t.set(C.SPLEEN, "spleen", h["spleen"], 5)
    for i, lv in enumerate(SPINE_LEVELS + ["S"]):
        t.set(C.TRAB0 + i, f"trabecular_{lv}", model.bmd_to_hu(model.bmd[lv]), 28)
    for i, bmd in enumerate(model.config.rod_bmd_mg_cm3):
        t.set(C.ROD0 + i, f"rod_{bmd:g}", model.bmd_to_hu(bmd), 2)
    return t


def trab_material(level: str) -> int:
    return C.TRAB0 + (SPINE_LEVELS + ["S"]).index(level)


def _fat_planes(cv: Canvas) -> None:
    """Thin fat planes between touching muscles (in-plane, one voxel on each side)."""
    lab = cv.lab
    is_m = np.zeros(256, bool)
    is_m[MUSCLE_IDS] = True
    for k0 in range(0, lab.shape[0], 64):
        sl = lab[k0:k0 + 64]
        m = np.where(is_m[sl], sl, 0).astype(np.uint8)
        mx = ndimage.maximum_filter(m, size=(1, 3, 3))
        mn = ndimage.minimum_filter(np.where(m > 0, m, 255).astype(np.uint8), size=(1, 3, 3))
        boundary = (m > 0) & ((mx != m) | ((mn != m) & (mn != 255)))
        sl[boundary] = anatomy.BY_NAME["soft_tissue"].id
        cv.mat[k0:k0 + 64][boundary] = C.FAT_INTER


def _table_and_rods(cv: Canvas, model: Model, table_top: float) -> list[dict]:
    xs, ys, _ = cv.axis_coords()
    X = xs[None, :]
    Y = ys[:, None]
    rods = []
    lab2 = np.zeros(cv.shape[1:], np.uint8)
    mat2 = np.zeros(cv.shape[1:], np.uint8)
    y_tab = table_top
    if model.config.calibration_rods:
        block_h = 30.0
        blk = (np.abs(X) <= 110.0) & (Y >= table_top) & (Y <= table_top + block_h)
        lab2[blk] = anatomy.BY_NAME["calibration_phantom"].id
        mat2[blk] = C.RESIN
        r = 9.0
        n = len(model.config.rod_bmd_mg_cm3)
        for i, bmd in enumerate(model.config.rod_bmd_mg_cm3):
            cx = (i - (n - 1) / 2) * 45.0
            cy = table_top + block_h / 2
            m = (X - cx) ** 2 + (Y - cy) ** 2 <= r * r
            mat2[m] = C.ROD0 + i
            rods.append({"bmd_mg_cm3": float(bmd), "hu_design": model.bmd_to_hu(bmd),
                         "center_lps_mm": [float(cx), float(cy), None], "radius_mm": r,
                         "axis_lps": [0.0, 0.0, 1.0]})
        y_tab = table_top + block_h + 0.5
    # table: curved carbon shell with foam core, spanning the FOV width
    half_w = 230.0
    sag = 0.0008 * X ** 2  # slightly concave (cradle) top
    top = y_tab - np.minimum(sag, 20.0)
    tab = (np.abs(X) <= half_w) & (Y >= top) & (Y <= y_tab + 40.0)
    shell = tab & ((Y <= top + 2.5) | (Y >= y_tab + 37.5) | (np.abs(X) >= half_w - 3))
    lab2[tab] = anatomy.BY_NAME["patient_table"].id
    mat2[tab] = C.TABLE_FOAM
    mat2[shell] = C.TABLE_SHELL
    put = lab2 > 0
    for k in range(cv.shape[0]):
        free = cv.lab[k] == 0
        m = put & free
        cv.lab[k][m] = lab2[m]
        cv.mat[k][m] = mat2[m]
    return rods


def render(model: Model, grid: Grid | None = None, t_start: float | None = None) -> Phantom:
    """Paint, image and measure one study of ``model``."""
    from .truth import measure_truth

    t0 = t_start if t_start is not None else time.perf_counter()
    cfg = model.config
    lay = _layout(model)
    grid = grid or make_grid(model, lay)
    cv = Canvas(grid.shape_fine, grid.spacing_fine, grid.origin_fine)
    rng = np.random.default_rng([cfg.seed, int(model.months * 100)])
    geo_info = paint_soft_tissue(cv, _layout(model, rigid=False), model.dims, model.subject, rng, step=grid.ns,
                                 rot_rad=float(np.radians(model.pose.roll_deg)), shift_mm=model.pose.shift_mm)
    levels = [lv for lv in SPINE_LEVELS if lv in lay.frames]
    for lv in levels:
        paint_canal(cv, lay.frames[lv], model.dims[lv])
    # discs between consecutive levels and L5/S1
    segs = sacral_frames(lay.sacrum_frame, lay.phi_deg["S1"], model.dims["L5"].scaled(0.97))
    chain = [(lay.frames[lv], model.dims[lv], model.fractures.get(lv)) for lv in levels]
    chain.append((segs[0][0], segs[0][1], None))
    for a, b in zip(chain[:-1], chain[1:]):
        paint_disc(cv, a, b)
    for lv in levels:
        paint_vertebra(cv, lv, lay.frames[lv], model.dims[lv], model.fractures.get(lv), trab_material(lv))
    paint_sacrum(cv, segs, trab_material("S"))
    protect = set(VERT_IDS) | {anatomy.SACRUM_ID}
    for k in range(1, 13):
        lv = f"T{k}"
        for rp in rib_paths(lay.frames[lv], model.dims[lv], k, model.subject.skeletal_scale):
            rid = anatomy.BY_NAME[f"rib_{rp.side}_{k}"].id
            paint_tube(cv, rp.points, rp.radius_mm, rp.radius_mm - 1.2, rid, C.CORTICAL, C.RIB_MARROW, protect)
    _fat_planes(cv)
    table = _materials(model)
    for i, les in enumerate(model.lesions):
        paint_lesion(cv, les, lay.frames[les.level], anatomy.vertebra_id(les.level), trab_material(les.level),
                     C.LESION0 + 2 * i, table)
    rods = _table_and_rods(cv, model, geo_info["table_top_y_mm"])
    t_paint = time.perf_counter() - t0
    ns = grid.ns
    # intramuscular fat streaks: ~3 % of muscle voxels at 40 y rising to ~13 % at 80 y
    streaks = float(np.clip(0.03 + 0.0025 * (model.subject.age_years - 40.0), 0.02, 0.15))
    hu = form_ct(cv, table, ns, rng, cfg.blur_fwhm_mm, cfg.noise_hu, fat_streak_mat=(C.MUSCLE,),
                 fat_hu=model.physics.tissue_hu()["fat"], fat_streak_fraction=streaks)
    hu = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    c0 = ns // 2
    origin = (grid.origin_fine[0], grid.origin_fine[1], grid.origin_fine[2] + c0 * grid.spacing_fine[2])
    geo = Geometry(hu.shape, (grid.spacing_fine[0], grid.spacing_fine[1], grid.spacing_fine[2] * ns), origin)
    # truth by majority occupancy over the sub-slices the CT averages (canvas.majority_subslices)
    lab = np.ascontiguousarray(C.majority_subslices(cv.lab, ns))
    bodyv = np.ascontiguousarray(C.majority_subslices(cv.body, ns))
    lesi = np.ascontiguousarray(C.majority_subslices(cv.les, ns))
    del cv
    vert_lut = np.zeros(256, np.uint8)
    vert_lut[VERT_IDS] = VERT_IDS
    vert = vert_lut[lab]
    bodyv = np.where(vert == bodyv, bodyv, 0).astype(np.uint8)
    mus_lut = np.zeros(256, np.uint8)
    mus_lut[MUSCLE_IDS] = MUSCLE_IDS
    mus = mus_lut[lab]
    cls_lut = np.zeros(256, np.uint8)
    for les in model.lesions:
        cls_lut[les.id] = CLASS_ID[les.cls]
    lescls = cls_lut[lesi]
    ct = CTImage(hu, geo, {"modality": "CT", "input_format": "phantom", "source": "spinemets.phantom",
                           "seed": cfg.seed, "kvp": cfg.kvp})
    all_ids = set(np.unique(lab).tolist()) - {0}
    phantom = Phantom(
        ct=ct,
        labels=LabelMap(lab, geo, anatomy.label_table(all_ids)),
        vertebrae=LabelMap(vert, geo, anatomy.label_table(set(np.unique(vert).tolist()) - {0})),
        vertebral_bodies=LabelMap(bodyv, geo, anatomy.label_table(set(np.unique(bodyv).tolist()) - {0})),
        muscles=LabelMap(mus, geo, anatomy.label_table(set(np.unique(mus).tolist()) - {0})),
        lesions=LabelMap(lescls, geo, dict(anatomy.LESION_CLASSES)),
        truth={},
        config=cfg,
        lesion_instances=lesi,
        model=model,
        frames=dict(lay.frames),
    )
    t_img = time.perf_counter() - t0
    phantom.truth = measure_truth(phantom, model, lay, rods, table)
    phantom.truth["timing_s"] = {"paint": round(t_paint, 2), "paint_and_image": round(t_img, 2),
                                 "total": round(time.perf_counter() - t0, 2)}
    return phantom


def generate_phantom(config: PhantomConfig | None = None) -> Phantom:
    """Generate the phantom described by ``config`` (and its follow-ups, if requested)."""
    t0 = time.perf_counter()
    cfg = (config or PhantomConfig()).resolved()
    model = build_model(cfg)
    base = render(model, t_start=t0)
    if cfg.followup_months:
        from .followup import followup_models, transforms_between

        lay0 = _layout(model)
        grid = make_grid(model, lay0)
        for fm in followup_models(model):
            fp = render(fm, grid)
            tr = transforms_between(base.frames, fp.frames)
            entry = {"months": fm.months, "transforms_lps": tr, "lesion_changes": fm.lesion_changes,
                     "pose": {"phi_scale_thoracic": fm.pose.phi_scale_thoracic,
                              "phi_scale_lumbar": fm.pose.phi_scale_lumbar,
                              "phi_offset_deg": fm.pose.phi_offset_deg, "roll_deg": fm.pose.roll_deg,
                              "shift_mm": list(fm.pose.shift_mm)}}
            fp.truth["baseline_transform"] = entry
            base.followups.append(fp)
            base.truth.setdefault("followups", []).append(entry)
    base.truth.setdefault("followups", [])
    log.info("phantom seed %s generated in %.1f s", cfg.seed, time.perf_counter() - t0)
    return base

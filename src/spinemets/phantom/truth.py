"""Ground truth of a generated phantom (the content of ``truth.json``).

Label properties (volumes, centroids, heights, widths, areas, muscle CSA, lesion volumes, mean
HU) are MEASURED on the generated label maps / CT; design values (BMD, HU law, tissue HU,
subject, rod densities, transforms) are the generator's exact inputs. ``notes`` says which is which.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from .. import DISCLAIMER, __version__, anatomy
from ..image import Geometry
from .canvas import MaterialTable
from .model import Model
from .spine import SpineLayout
from .vertebra import body_heights, posterior_wall_v

NOTES = [
    "Coordinates are LPS mm (x = patient left, y = posterior, z = superior); arrays are [z, y, x].",
    "Label maps (labels, vertebrae, vertebral_bodies, muscles, lesions) give each CT voxel the label that "
    "fills most of its volume: the mode over the same fine sub-slices whose average forms the CT value "
    "(background counts as a label; ties go to the central sub-slice).",
    "MEASURED on the label maps of this study: volume_mm3 / body_volume_mm3 (voxel count x voxel volume), "
    "centroid_lps_mm, body_centroid_lps_mm, height_*_mm (body label sampled along the vertebra axis at "
    "0.2 mm steps, anterior/posterior lines 2.5 mm inside the design body outline on the midline), endplate_width_mm / endplate_depth_mm (extent of that section), body_width_mm and "
    "body_depth_mm (extent of the body label along the local left and posterior axes through the body "
    "centre), endplate_area_mm2 (area of the body label in the plane 1.5 mm below the superior end "
    "plate, perpendicular to the axis), touches_border, muscle csa_mm2 / centroid_lps_mm (muscle label "
    "sampled on a plane grid of half the pixel size), lesion volume_mm3 / center_lps_mm, every hu_mean "
    "(CT with noise and blur, averaged over the label).",
    "DESIGN values (generator inputs): trabecular_bmd_mg_cm3 (mg K2HPO4/cm3; the trabecular bone of the "
    "vertebra, outside lesions, is painted at hu_bmd_law(BMD) plus zero-mean texture), hu_bmd_law, "
    "tissue_hu and hu_bmd_law both follow from effective_energy_kev (monoenergetic water-calibrated "
    "scanner, NIST mu/rho of ICRU-44 tissues and K2HPO4 in water; scanner_and_tissue_physics), "
    "tissue_hu, subject, axis_si_lps, calibration rods, follow-up transforms, fracture parameters, "
    "lesion hu_design and radii_mm_design.",
    "Muscle CSA is measured in the plane through the body centre (mid-height) of the level, "
    "perpendicular to the vertebra's superior axis (plane_origin_lps_mm, plane_normal_lps). Fat planes "
    "between muscles and fatty streaks inside them are not muscle label / are muscle label respectively.",
    "Intermuscular fat planes, organs, chest wall, heart and bowel carry the soft_tissue label (45); "
    "lesion ids: 1 lytic, 2 blastic, 3 mixed in lesions.nii.gz.",
]


#: What the phantom does not model (also in the package docstring).
LIMITATIONS = [
    "no pelvis (iliac wings), sternum, costal cartilages, scapulae, clavicles or arms; no cervical spine above C7",
    "vertebrae are analytic solids (kidney-shaped super-elliptic bodies, bar-like processes), not meshes of real bone",
    "trabecular bone is homogeneous per vertebra (design BMD) plus zero-mean texture; no microarchitecture, no "
    "osteophytes, no degenerative disc disease, no scoliosis (the spine stays in the mid-sagittal plane at baseline)",
    "muscles are per-slice ellipses and sheets, not anatomically shaped; fat infiltration is random streaks",
    "organs are ellipses of constant HU; no contrast enhancement, no bowel gas, no beam hardening, streaks or metal",
    "partial volume is simulated along z (sub-slice averaging) and by the Gaussian PSF in-plane; no in-plane "
    "super-sampling; noise is stationary correlated Gaussian noise (no photon starvation)",
    "lesions are lobulated ellipsoids confined to their vertebra (no extra-osseous soft-tissue mass, no epidural "
    "extension); fractures are analytic wedge/end-plate collapse without fragments",
]


def _to_index(geo: Geometry, pts_lps: np.ndarray) -> np.ndarray:
    """LPS (n, 3) -> continuous (3, n) zyx indices (elementwise; avoids a slow (n,3)@(3,3))."""
    inv = np.linalg.inv(geo.affine_lps)
    p = np.asarray(pts_lps, dtype=np.float64)
    ijk = [inv[r, 0] * p[:, 0] + inv[r, 1] * p[:, 1] + inv[r, 2] * p[:, 2] + inv[r, 3] for r in range(3)]
    return np.stack(ijk[::-1])


def _sample(arr: np.ndarray, geo: Geometry, pts_lps: np.ndarray, order: int = 0) -> np.ndarray:
    idx = _to_index(geo, pts_lps.reshape(-1, 3))
    out = ndimage.map_coordinates(arr, idx, order=order, mode="constant", cval=0, prefilter=False)
    return out.reshape(pts_lps.shape[:-1])


def _centroid(mask_idx: tuple[np.ndarray, ...], geo: Geometry) -> list[float]:
    zyx = np.stack([m.mean() for m in mask_idx])
    return [round(float(v), 3) for v in geo.index_zyx_to_lps(zyx)]


def _run_length(vals: np.ndarray, step: float) -> float:
    return float(np.count_nonzero(vals)) * step


def measure_truth(ph, model: Model, lay: SpineLayout, rods: list[dict], table: MaterialTable) -> dict[str, Any]:
    geo = ph.ct.geometry
    vv = geo.voxel_volume_mm3
    cfg = model.config
    vert = ph.vertebrae.array
    bod = ph.vertebral_bodies.array
    fov = anatomy.TARGET_LEVELS[anatomy.TARGET_LEVELS.index(cfg.fov_levels[0]):
                                anatomy.TARGET_LEVELS.index(cfg.fov_levels[1]) + 1]
    objs = ndimage.find_objects(vert)
    bobjs = ndimage.find_objects(bod)
    vertebrae: dict[str, Any] = {}
    step = 0.2
    for lv in anatomy.TARGET_LEVELS:
        vid = anatomy.vertebra_id(lv)
        if vid > len(objs) or objs[vid - 1] is None:
            continue
        sl = objs[vid - 1]
        sub = vert[sl] == vid
        idx = np.nonzero(sub)
        idx = tuple(i + s.start for i, s in zip(idx, sl))
        f = lay.frames[lv]
        d = model.dims[lv]
        fr = model.fractures.get(lv)
        entry: dict[str, Any] = {"label": vid, "volume_mm3": round(float(len(idx[0])) * vv, 1),
                                 "centroid_lps_mm": _centroid(idx, geo)}
        if vid <= len(bobjs) and bobjs[vid - 1] is not None:
            bsl = bobjs[vid - 1]
            bidx = np.nonzero(bod[bsl] == vid)
            bidx = tuple(i + s.start for i, s in zip(bidx, bsl))
            entry["body_volume_mm3"] = round(float(len(bidx[0])) * vv, 1)
            entry["body_centroid_lps_mm"] = _centroid(bidx, geo)
        else:
            entry["body_volume_mm3"] = 0.0
            entry["body_centroid_lps_mm"] = None
        entry["axis_si_lps"] = [round(float(v), 6) for v in f.R[:, 2]]
        entry["origin_lps_mm"] = [round(float(v), 3) for v in f.origin]
        entry["frame_lps"] = [[round(float(v), 6) for v in row] for row in f.matrix]
        entry["trabecular_bmd_mg_cm3"] = model.bmd[lv]
        entry["trabecular_hu_design"] = round(model.bmd_to_hu(model.bmd[lv]), 2)
        bsl = bobjs[vid - 1] if vid <= len(bobjs) and bobjs[vid - 1] is not None else sl
        pad = tuple(slice(max(s.start - 2, 0), s.stop + 2) for s in bsl)
        bmask = np.zeros(bod.shape, np.uint8)
        bmask[pad] = bod[pad] == vid
        # heights along the axis on three lines (anterior, middle, posterior)
        ww = np.arange(-d.H, d.H, step)
        v_post = posterior_wall_v(d)
        for name, vpos in (("anterior", -d.D / 2 + 2.5), ("middle", 0.0), ("posterior", v_post - 2.5)):
            pts = f.to_lps(np.stack([np.zeros_like(ww), np.full_like(ww, vpos), ww], 1))
            entry[f"height_{name}_mm"] = round(_run_length(_sample(bmask, geo, pts), step), 2)
        uu = np.arange(-d.W, d.W, step)
        pts = f.to_lps(np.stack([uu, np.zeros_like(uu), np.zeros_like(uu)], 1))
        entry["body_width_mm"] = round(_run_length(_sample(bmask, geo, pts), step), 2)
        pts = f.to_lps(np.stack([np.zeros_like(uu), uu, np.zeros_like(uu)], 1))
        # depth: contiguous run through the centre (the canal notch may split the line)
        vals = _sample(bmask, geo, pts) > 0
        entry["body_depth_mm"] = round(_run_length(vals, step), 2)
        _, top = body_heights(np.zeros(1), np.zeros(1), d, fr)
        h = 0.5
        gu, gv = np.meshgrid(np.arange(-d.W, d.W, h), np.arange(-d.D, d.D, h), indexing="ij")
        pts = f.to_lps(np.stack([gu, gv, np.full_like(gu, float(top[0]) - 1.5)], -1))
        ep = _sample(bmask, geo, pts) > 0
        entry["endplate_area_mm2"] = round(float(np.count_nonzero(ep)) * h * h, 1)
        entry["endplate_width_mm"] = round(float(np.count_nonzero(ep.any(axis=1))) * h, 2)
        entry["endplate_depth_mm"] = round(float(np.count_nonzero(ep.any(axis=0))) * h, 2)
        entry["in_fov"] = lv in fov
        nz, ny, nx = vert.shape
        entry["touches_border"] = bool(sl[0].start == 0 or sl[0].stop == nz or sl[1].start == 0 or
                                       sl[1].stop == ny or sl[2].start == 0 or sl[2].stop == nx)
        entry["fracture"] = None if fr is None else {**fr.to_dict(), "design_anterior_height_mm": round(d.Ha * (1 - fr.anterior_loss), 2)}
        entry["lesion_ids"] = [les.id for les in model.lesions if les.level == lv]
        entry["lesion_classes"] = sorted({les.cls for les in model.lesions if les.level == lv})
        entry["design_dimensions_mm"] = {k: round(getattr(d, k), 2) for k in
                                         ("W", "D", "Ha", "Hp", "PW", "PH", "CW", "CD", "SP", "TP", "disc")}
        vertebrae[lv] = entry
    # --- lesions ----------------------------------------------------------------------------
    lesions = []
    li = ph.lesion_instances
    lobjs = ndimage.find_objects(li)
    for les in model.lesions:
        e: dict[str, Any] = {"id": les.id, "level": les.level, "class": les.cls, "class_id": {"lytic": 1, "blastic": 2, "mixed": 3}[les.cls],
                             "location": les.location}
        if les.id <= len(lobjs) and lobjs[les.id - 1] is not None:
            sl = lobjs[les.id - 1]
            m = li[sl] == les.id
            idx = tuple(i + s.start for i, s in zip(np.nonzero(m), sl))
            e["volume_mm3"] = round(float(len(idx[0])) * vv, 1)
            e["center_lps_mm"] = _centroid(idx, geo)
            e["hu_mean"] = round(float(ph.ct.array[sl][m].mean()), 1)
        else:
            e["volume_mm3"] = 0.0
            e["center_lps_mm"] = None
            e["hu_mean"] = None
            e["status"] = "outside the field of view or too small for the grid"
        e["hu_design"] = {"lytic": round(les.hu_lytic, 1)} if les.cls == "lytic" else \
            {"blastic": round(les.hu_blastic, 1)} if les.cls == "blastic" else \
            {"lytic": round(les.hu_lytic, 1), "blastic": round(les.hu_blastic, 1)}
        e["radii_mm_design"] = [round(float(r), 2) for r in les.radii_mm]
        e["center_local_mm_design"] = [round(float(c), 2) for c in les.centre_local]
        lesions.append(e)
    # --- muscles per level --------------------------------------------------------------------
    muscles: dict[str, Any] = {}
    hstep = geo.spacing_mm[0] / 2
    mus = ph.muscles.array
    ct32 = ph.ct.array.astype(np.float32)
    gu, gv = np.meshgrid(np.arange(-230, 230, hstep), np.arange(-190, 170, hstep), indexing="ij")
    plane_local = np.stack([gu, gv, np.zeros_like(gu)], -1)
    for lv in fov:
        if lv not in vertebrae:
            continue
        f = lay.frames[lv]
        pts = f.to_lps(plane_local)
        # inside the image only
        idx = _to_index(geo, pts.reshape(-1, 3))
        if idx[0].min() > mus.shape[0] - 1 or idx[0].max() < 0:
            continue
        vals = _sample(mus, geo, pts).ravel()
        present = np.unique(vals)
        lvl: dict[str, Any] = {"plane_origin_lps_mm": [round(float(v), 3) for v in f.origin],
                               "plane_normal_lps": [round(float(v), 6) for v in f.R[:, 2]]}
        flat = pts.reshape(-1, 3)
        for mid in present:
            if mid == 0:
                continue
            sel = vals == mid
            p = flat[sel]
            hu = _sample(ct32, geo, p, order=0) if len(p) else np.array([np.nan])
            lvl[anatomy.BY_ID[int(mid)].name] = {"csa_mm2": round(float(sel.sum()) * hstep * hstep, 1),
                                                "centroid_lps_mm": [round(float(v), 3) for v in p.mean(0)],
                                                "hu_mean": round(float(np.mean(hu)), 1)}
        muscles[lv] = lvl
    z_mid = float(geo.index_zyx_to_lps(np.array([(geo.shape_zyx[0] - 1) / 2, 0, 0]))[2])
    for r in rods:
        r["center_lps_mm"][2] = round(z_mid, 3)
    subj = model.subject
    th = model.physics.tissue_hu()
    return {
        "disclaimer": DISCLAIMER,
        "spinemets_version": __version__,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "coordinate_system": "LPS",
        "geometry": geo.to_dict(),
        "months": model.months,
        "hu_bmd_law": {"form": "HU = intercept_hu + slope_hu_per_mg_cm3 * BMD", "intercept_hu": model.hu_intercept,
                       "slope_hu_per_mg_cm3": round(model.hu_slope, 5), "material": "K2HPO4",
                       "bmd_per_hu": round(1.0 / model.hu_slope, 5),
                       "effective_energy_kev": model.physics.effective_energy_kev,
                       "model": "K2HPO4 dissolved in water at the scanner's effective energy (NIST mu/rho)"},
        "effective_energy_kev": model.physics.effective_energy_kev,
        "scanner_and_tissue_physics": model.physics.to_dict(),
        "subject": {"sex": subj.sex, "age_years": subj.age_years, "height_cm": subj.height_cm,
                    "weight_kg": subj.weight_kg, "subcutaneous_fat_mm": round(subj.sc_fat_mm, 1)},
        "tissue_hu": {k: th[k] for k in ("air", "water", "fat", "muscle", "muscle_lean", "blood", "csf", "disc",
                                         "cortical_bone", "cortical_bone_full_density", "lung", "liver")},
        "vertebrae": vertebrae,
        "lesions": lesions,
        "muscles": muscles,
        "calibration_rods": rods,
        "notes": NOTES,
        "limitations": LIMITATIONS,
    }

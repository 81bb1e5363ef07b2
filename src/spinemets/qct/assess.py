"""``assess_bone``: calibration, density, shape and strength of every vertebra (bone.json)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from scipy import ndimage

from .. import DISCLAIMER, __version__, anatomy
from ..errors import InputError
from ..image import CTImage, LabelMap
from . import calibration as cal_mod
from . import frame as fr
from .density import measure_density
from .phantomless import cortical_sample, cortical_values, sample_tissues
from .rods import rods_from_spec
from .shape import CONVENTION as SHAPE_CONVENTION
from .shape import SHAPE_STEP_MM, ShapeResult, genant_grade, measure_shape

log = logging.getLogger(__name__)
CROP_MARGIN_MM = 12.0
CTRA_SLICE_MM = 1.0
#: phantomless reference-tissue sampling: voxel steps up to this size (mm), see _sampling_view
CAL_SAMPLE_MM = 2.0


def _check_grid(name: str, lm: LabelMap | None, ct: CTImage) -> None:
    if lm is not None and not lm.geometry.is_same_grid(ct.geometry):
        raise InputError(f"the {name} label map is not on the CT's voxel grid")


def lesion_classes(lesions: LabelMap | None) -> np.ndarray | None:
    """Lesion label map -> class array (0 none, 1 lytic, 2 blastic, 3 mixed).

    Labels named like a class ("lytic", "blastic", "mixed", also inside longer names) map by
    name; unnamed labels 1-3 are taken as class ids (``anatomy.LESION_CLASSES``)."""
    if lesions is None:
        return None
    return _class_of(lesions.array, _lesion_lut(lesions))


def _lesion_lut(lesions: LabelMap) -> np.ndarray:
    """Lookup table lesion label id -> class (see ``lesion_classes``)."""
    by_name = {v: k for k, v in anatomy.LESION_CLASSES.items()}
    ids = list(_label_boxes(lesions.array))
    lut = np.zeros(max(ids, default=0) + 1, np.uint8)
    for lid in ids:
        name = lesions.labels.get(lid, "")
        cls = next((cid for cname, cid in by_name.items() if cname in name.lower()), None)
        if cls is None and lid in anatomy.LESION_CLASSES:
            cls = lid
        if cls is None:
            raise InputError(f"lesion label {lid} ({name or 'unnamed'}) is not lytic, blastic or mixed")
        lut[lid] = cls
    return lut


def _class_of(arr: np.ndarray, lut: np.ndarray) -> np.ndarray:
    return lut[np.clip(arr, 0, lut.size - 1)]


def resolve_calibration(ct: CTImage, vert_mask: np.ndarray, body_mask: np.ndarray,
                        calibration: Any, samples: dict[str, Any] | None = None) -> cal_mod.Calibration:
    """Calibration object from the ``calibration`` argument of ``assess_bone``.

    None or "phantomless": automatic internal calibration; "fixed": the default fixed law;
    a dict ``{"method": "phantom", "rods": [...]}`` (rods.json) or ``{"method": "fixed",
    "slope": s, "intercept": i}``; or a ready ``Calibration``."""
    if isinstance(calibration, cal_mod.Calibration):
        return calibration
    spec: Mapping[str, Any] = {"method": calibration} if isinstance(calibration, str) or calibration is None \
        else calibration
    method = (spec.get("method") or "phantomless").lower()
    if method in ("fixed", "fixed_law"):
        return cal_mod.fixed_law(float(spec.get("slope", cal_mod.DEFAULT_FIXED_LAW[0])),
                                 float(spec.get("intercept", cal_mod.DEFAULT_FIXED_LAW[1])))
    if method == "phantom":
        if not spec.get("rods"):
            raise InputError("phantom calibration needs the rods' densities (a rods JSON file)")
        rods, dens = rods_from_spec(ct, vert_mask, dict(spec))
        if len(dens) < 2 or len(rods) != len(dens):
            raise InputError(f"found {len(rods)} calibration rods in the scan but {len(spec['rods'])} "
                             "were described; give their positions in the rods JSON")
        c = cal_mod.from_rods([r.hu_mean for r in rods], dens,
                                 {"rod_positions": [{"center_lps_mm": list(r.center_lps_mm),
                                                     "radius_mm": r.radius_mm,
                                                     "hu_sd_between_slices": r.hu_sd_between_slices}
                                                    for r in rods]})
        if len(rods) < len(spec["rods"]):
            c.warnings.append(f"only {len(rods)} of {len(spec['rods'])} rods detected; densities matched "
                              "by best linear fit")
        return c
    if method not in ("phantomless", "phantomless_physics", "phantomless_linear", "auto"):
        raise InputError(f"unknown calibration {method!r}; use phantom, phantomless or fixed")
    return phantomless_calibration(ct, vert_mask, body_mask, force_linear=method == "phantomless_linear",
                                   samples=samples)


def _is_phantomless(calibration: Any) -> bool:
    if calibration is None:
        return True
    if isinstance(calibration, str):
        return calibration.lower() in ("phantomless", "phantomless_physics", "phantomless_linear", "auto")
    if isinstance(calibration, Mapping):
        return _is_phantomless(calibration.get("method") or "phantomless")
    return False


def phantomless_calibration(ct: CTImage, vert_mask: np.ndarray, body_mask: np.ndarray,
                            force_linear: bool = False,
                            samples: dict[str, Any] | None = None) -> cal_mod.Calibration:
    """Internal calibration from sampled reference tissues, by order of preference:

    1. physics-based (Michalski) when a cortical-bone reference was sampled;
    2. effective energy fitted to adipose + blood/muscle, K2HPO4-in-water law at that energy
       (cortical bone is rarely sampled at clinical resolution because of partial volume);
    3. linear internal method at a nominal energy when the energy fit is poor or impossible.

    ``samples``: reference tissues already sampled (``sample_tissues``), e.g. on a subsampled CT.
    """
    if samples is None:
        samples = sample_tissues(ct, vert_mask, body_mask)
    warnings = []
    tissue_hu = {t: (samples.get(t) or {}).get("hu_median") for t in ("air", "adipose", "blood",
                                                                        "muscle", "cortical_bone")}
    blood = samples.get("blood", {})
    if blood.get("contrast_enhanced"):
        warnings.append(f"aortic blood {blood['hu_median']:.0f} HU suggests a contrast-enhanced scan; "
                        "blood left out of the calibration and BMD is biased upward by contrast")
        tissue_hu["blood"] = None
    usable = [t for t, v in tissue_hu.items() if v is not None]
    if len(usable) < 2:
        raise InputError("phantomless calibration found fewer than two reference tissues "
                         f"({', '.join(usable) or 'none'}); use --calibration fixed or phantom")
    cal = None
    extra: dict = {}
    if not force_linear and tissue_hu.get("cortical_bone") is not None and len(usable) >= 3:
        cal = cal_mod.physics_internal(tissue_hu, {"regions": samples})
        if cal.r2 is None or cal.r2 < 0.95:
            warnings.append(f"physics-based fit rejected (R2 = {cal.r2}); energy fit or linear fallback used")
            cal = None
    if cal is None and not force_linear:
        try:
            kvp = ct.metadata.get("kvp") if isinstance(ct.metadata, dict) else None
            cal = cal_mod.energy_fit_internal(tissue_hu, {"regions": samples},
                                              kvp=float(kvp) if kvp not in (None, "") else None)
        except ValueError as exc:
            warnings.append(f"energy fit not possible ({exc}); linear internal method used")
        else:
            if cal.samples["energy_fit"]["poor"]:
                warnings.extend(cal.warnings)
                warnings.append("energy fit rejected; linear internal method used")
                extra["rejected_energy_fit"] = cal.samples["energy_fit"]
                cal = None
    if cal is None:
        cal = cal_mod.linear_internal(tissue_hu, samples={"regions": samples, **extra})
    cal.warnings = warnings + cal.warnings
    return cal


def _grow_box(box: tuple[slice, ...], shape: tuple[int, ...], spacing_zyx: np.ndarray,
              margin_mm: float) -> tuple[slice, ...]:
    """``box`` (a tight bounding box) grown by ``margin_mm`` on every side, clipped to ``shape``."""
    m = np.ceil(margin_mm / spacing_zyx).astype(int)
    return tuple(slice(max(b.start - k, 0), min(b.stop + k, n)) for b, k, n in zip(box, m, shape))


def _label_boxes(arr: np.ndarray) -> dict[int, tuple[slice, ...]]:
    """Tight bounding box of every label present in ``arr`` (one pass, no full-volume masks)."""
    if arr.size == 0 or int(arr.max()) <= 0:
        return {}
    return {i + 1: b for i, b in enumerate(ndimage.find_objects(arr)) if b is not None}


@dataclass
class _Body:
    """One level's vertebral body as a tight crop of the full grid: voxels ``mask`` at ``box``."""

    box: tuple[slice, ...]
    mask: np.ndarray

    @property
    def n_voxels(self) -> int:
        return int(np.count_nonzero(self.mask))

    def touches_edge(self, shape: tuple[int, ...]) -> bool:
        return bool(self.edges_touched(shape))

    def edges_touched(self, shape: tuple[int, ...]) -> list[str]:
        """Faces of the scanned volume the body reaches ("first slice", "last slice",
        "in-plane border"), with the share of the body's median slice area lying on each."""
        idx = np.argwhere(self.mask)
        lo = idx.min(axis=0) + [b.start for b in self.box]
        hi = idx.max(axis=0) + [b.start for b in self.box]
        areas = self.mask.sum(axis=(1, 2))
        med = float(np.median(areas[areas > 0]))
        out = []
        if lo[0] == 0:
            out.append(f"first slice ({areas[0] / med:.0%} of its median slice area on it)")
        if hi[0] == shape[0] - 1:
            out.append(f"last slice ({areas[-1] / med:.0%} of its median slice area on it)")
        if np.any(lo[1:] == 0) or np.any(hi[1:] == np.array(shape[1:]) - 1):
            out.append("in-plane border")
        return out

    def in_box(self, box: tuple[slice, ...]) -> np.ndarray:
        """The body's voxels on the grid of ``box`` (parts outside ``box`` dropped)."""
        out = np.zeros(tuple(b.stop - b.start for b in box), bool)
        src = tuple(slice(max(b.start, c.start), min(b.stop, c.stop)) for b, c in zip(self.box, box))
        if any(s.stop <= s.start for s in src):
            return out
        out[tuple(slice(s.start - c.start, s.stop - c.start) for s, c in zip(src, box))] = \
            self.mask[tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(src, self.box))]
        return out


def _sampling_view(ct: CTImage, z_range: tuple[int, int]) -> tuple[CTImage, tuple[slice, ...]]:
    """The CT restricted to the slab ``z_range`` and subsampled along each axis by the
    largest integer step that keeps voxels <= ``CAL_SAMPLE_MM`` apart (every k-th voxel, raw HU
    kept: medians of homogeneous tissue are unbiased and the local-SD noise floor is measured on
    the same image). Scans with voxels of 1 mm or more are not subsampled in that axis.
    On the clinical phantom (0.75x0.75x1 mm -> 1.5x1.5x2 mm) BMD moved by <= 0.6 % against
    full-resolution sampling (air -983 -> -979 HU, blood 49 -> 52 HU; cortical bone sampled at
    full resolution separately, unchanged)."""
    from ..image import Geometry

    g = ct.geometry
    sp = np.array(g.spacing_mm[::-1])
    step = [max(1, int(np.floor(CAL_SAMPLE_MM / s + 1e-6))) for s in sp]
    z0, z1 = z_range
    sl = (slice(z0, z1, step[0]), slice(0, None, step[1]), slice(0, None, step[2]))
    arr = ct.array[sl]
    origin = g.index_zyx_to_lps(np.array([z0, 0, 0], float))
    geom = Geometry(arr.shape, tuple(float(s) * k for s, k in zip(g.spacing_mm, step[::-1])),
                    tuple(origin), g.direction)
    return CTImage(arr, geom, ct.metadata), sl


def _cortical_bone_sample(ct: CTImage, varr: np.ndarray, boxes: dict[int, tuple[slice, ...]],
                          z_range: tuple[int, int]) -> dict[str, Any]:
    """Cortical-bone reference at full resolution with the rule of ``phantomless.sample_tissues``
    (``phantomless.cortical_values`` / ``cortical_sample``) within the vertebrae's slab ``z_range``.

    Computed on each vertebra's bounding box grown by one voxel (the filter's reach) and clipped
    to the slab, so the result equals the full-slab computation without a full-slab array."""
    vals = []
    lo_lim = np.array([z_range[0], 0, 0])
    hi_lim = np.array([z_range[1], varr.shape[1], varr.shape[2]])
    for vid, bb in boxes.items():
        lo = np.maximum([b.start - 1 for b in bb], lo_lim)
        hi = np.minimum([b.stop + 1 for b in bb], hi_lim)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        # mode "reflect" acts only where the box meets the slab/volume edge, as on the full slab
        vals.append(cortical_values(ct.array[box].astype(np.float32), varr[box] == vid))
    return cortical_sample(np.concatenate(vals) if vals else np.zeros(0, np.float32))


def assess_bone(ct: CTImage, vertebrae: LabelMap, bodies: LabelMap, lesions: LabelMap | None = None,
                calibration: Any = None, fe: bool = True, fe_element_mm: float = 1.5) -> dict[str, Any]:
    """Content of bone.json: calibration plus per-level density, shape and strength.

    ``bodies`` either carries vertebra ids (body of each level) or a single body label that is
    intersected with each vertebra. BMD in mg/cm3 K2HPO4-equivalent; heights in mm; forces in N.

    Memory: no full-volume float array is built here; every level is cropped to its vertebra's
    bounding box (+ ``CROP_MARGIN_MM``) before conversion, resampling or distance transforms, and
    phantomless calibration samples the vertebrae's slab subsampled to ``CAL_SAMPLE_MM``.
    """
    from ..mechanics.strength import (VertebraVolume, density_area_strength, fe_strength,
                                      rigidity_strength)
    from ..mechanics.strength.rigidity import SECTION_RULE as CTRA_SECTION_RULE

    _check_grid("vertebrae", vertebrae, ct)
    _check_grid("bodies", bodies, ct)
    _check_grid("lesions", lesions, ct)
    if not (0.5 <= fe_element_mm <= 3.0):
        raise InputError(f"FE element size {fe_element_mm} mm is outside 0.5-3 mm")
    g = ct.geometry
    sp = np.array(g.spacing_mm[::-1])
    varr = vertebrae.array
    barr = bodies.array
    vboxes = _label_boxes(varr)
    levels = [lv for lv in anatomy.TARGET_LEVELS if anatomy.vertebra_id(lv) in vboxes]
    if not levels:
        raise InputError("the vertebrae label map holds none of the levels T1-L5")
    bboxes = _label_boxes(barr)
    per_level_body = any(anatomy.vertebra_id(lv) in bboxes for lv in levels)

    body_crops: dict[str, _Body] = {}
    for lv in levels:
        vid = anatomy.vertebra_id(lv)
        if per_level_body:
            if vid not in bboxes:
                continue
            bb = bboxes[vid]
            body_crops[lv] = _Body(bb, barr[bb] == vid)
        else:
            bb = vboxes[vid]
            body_crops[lv] = _Body(bb, (barr[bb] > 0) & (varr[bb] == vid))

    les_lut = None if lesions is None else _lesion_lut(lesions)
    lut = np.zeros(int(varr.max()) + 1, bool)
    lut[[anatomy.vertebra_id(lv) for lv in levels]] = True
    blut = np.zeros(int(barr.max()) + 1, bool)
    if per_level_body:
        blut[[anatomy.vertebra_id(lv) for lv in body_crops]] = True

    def masks_on(sl: tuple[slice, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(vertebrae of the levels, their bodies) on the voxels ``sl``: no full-volume copy."""
        v = lut[varr[sl]]
        return v, (blut[barr[sl]] if per_level_body else (barr[sl] > 0) & v)

    zs = [vboxes[anatomy.vertebra_id(lv)][0] for lv in levels]
    z_range = (min(z.start for z in zs), max(z.stop for z in zs))
    if _is_phantomless(calibration):
        ct_s, sl = _sampling_view(ct, z_range)
        vert_s, bodies_s = masks_on(sl)
        samples = sample_tissues(ct_s, vert_s, bodies_s)
        # cortical bone needs the full resolution (partial volume): sampled per vertebra crop
        samples["cortical_bone"] = _cortical_bone_sample(
            ct, varr, {anatomy.vertebra_id(lv): vboxes[anatomy.vertebra_id(lv)] for lv in levels}, z_range)
        cal = resolve_calibration(ct_s, vert_s, bodies_s, calibration, samples=samples)
        del ct_s, vert_s, bodies_s
    else:
        vert_mask, all_bodies = masks_on((slice(None),) * 3)
        cal = resolve_calibration(ct, vert_mask, all_bodies, calibration)
        del vert_mask, all_bodies
    # centroids for the cranio-caudal axis of each body
    cents: dict[str, np.ndarray] = {}
    for lv, b in body_crops.items():
        if b.n_voxels >= 8:
            cents[lv] = fr.body_centre_lps(b.mask, _sub_geometry(g, b.box))
    out_levels: dict[str, Any] = {}
    shapes: dict[str, ShapeResult] = {}
    for lv in levels:
        vid = anatomy.vertebra_id(lv)
        entry: dict[str, Any] = {"status": "ok", "warnings": []}
        out_levels[lv] = entry
        bc = body_crops.get(lv)
        if bc is None or bc.n_voxels < 8:
            entry.update(_null_level("no vertebral body voxels for this level"))
            continue
        box = _grow_box(vboxes[vid], varr.shape, sp, CROP_MARGIN_MM)
        body = bc.in_box(box)
        hu = ct.array[box].astype(np.float32)
        bmd = cal.bmd(hu).astype(np.float32)
        sub_geom = _sub_geometry(g, box)
        cut_by = bc.edges_touched(varr.shape)
        truncated = None
        if cut_by:
            truncated = ("the body reaches the edge of the scanned volume (" + "; ".join(cut_by)
                         + "): part of it may lie outside the field of view")
            entry["warnings"].append(truncated + "; heights and strengths need the whole body "
                                     "and are null, density is of the visible part")
            entry["status"] = "warning"
        dens, _trab = measure_density(hu, bmd, body, tuple(sp))
        if dens.trabecular_bmd_mg_cm3 is None:
            entry["warnings"].append("trabecular region empty after erosion; body too small")
            entry["status"] = "warning"
        # frame from neighbours
        i = anatomy.TARGET_LEVELS.index(lv)
        up = next((cents[x] for x in reversed(anatomy.TARGET_LEVELS[:i]) if x in cents), None)
        dn = next((cents[x] for x in anatomy.TARGET_LEVELS[i + 1:] if x in cents), None)
        hint = None
        if up is not None and dn is not None:
            hint = up - dn
        elif up is not None:
            hint = up - cents[lv]
        elif dn is not None:
            hint = cents[lv] - dn
        frame = fr.make_frame(body, sub_geom, hint)
        sgrid = fr.grid_around(body, sub_geom, frame, SHAPE_STEP_MM)
        smask = fr.resample(body.astype(np.float32), sub_geom, sgrid) > 0.5
        shape = measure_shape(smask, SHAPE_STEP_MM, sgrid.index_of(cents[lv]),
                              (fr.half_voxel_mm(frame.e_s, g), fr.half_voxel_mm(frame.e_a, g)))
        if truncated:
            entry["genant_grade"] = entry["height_reduction_fraction"] = None
        else:
            shapes[lv] = shape
        les = None if les_lut is None else _class_of(lesions.array[box], les_lut)
        lesion_fraction = None if les is None else float(((les > 0) & body).sum() / body.sum())
        entry.update({
            "trabecular_bmd_mg_cm3": dens.trabecular_bmd_mg_cm3,
            "integral_bmd_mg_cm3": dens.integral_bmd_mg_cm3,
            "trabecular_hu_median": dens.trabecular_hu_median,
            "trabecular_margin_mm": dens.margin_mm,
            "body_volume_mm3": dens.body_volume_mm3,
            "height_anterior_mm": shape.height_anterior_mm,
            "height_middle_mm": shape.height_middle_mm,
            "height_posterior_mm": shape.height_posterior_mm,
            "height_plane_offset_mm": shape.plane_offset_mm,
            "heights_boundary_mm": shape.boundary_heights_mm,
            "width_mm": shape.width_mm, "depth_mm": shape.depth_mm,
            "wedge_ratio": shape.wedge_ratio, "biconcavity_ratio": shape.biconcavity_ratio,
            "lesion_fraction": lesion_fraction,
            "frame": frame.to_dict(),
        })
        # strength
        strengths: dict[str, Any] = {"density_area": None, "rigidity": None, "fe": None}
        inputs: dict[str, Any] = {}
        vols = {}
        for key, step in (("ctra", min(CTRA_SLICE_MM, fe_element_mm)), ("fe", fe_element_mm)):
            grid = fr.grid_around(body, sub_geom, frame, step)
            vols[key] = VertebraVolume(
                fr.resample(bmd, sub_geom, grid, order=1),
                fr.resample(body.astype(np.float32), sub_geom, grid) > 0.5, step,
                None if les is None else fr.resample(les, sub_geom, grid, order=0).astype(np.uint8))
        da = density_area_strength(vols["ctra"])
        strengths["density_area"], inputs["density_area"] = da.strength_N, da.to_dict()
        rg = rigidity_strength(vols["ctra"], rim_margin_mm=dens.margin_mm)
        strengths["rigidity"], inputs["rigidity"] = rg.strength_N, rg.to_dict()
        if fe:
            try:
                fr_res = fe_strength(vols["fe"])
                strengths["fe"], inputs["fe"] = fr_res.strength_N, fr_res.to_dict()
                if fr_res.status != "ok":
                    entry["warnings"].append(f"FE: {fr_res.reason}")
            except MemoryError:
                inputs["fe"] = {"status": "failed", "reason": "out of memory"}
        else:
            inputs["fe"] = {"status": "skipped", "reason": "FE disabled"}
        if truncated:
            _withhold_whole_body_results(entry, strengths, inputs, truncated)
        entry["strength_N"] = strengths
        entry["strength_inputs"] = inputs
    # Genant grades with the neighbours' posterior heights
    for lv in levels:
        entry = out_levels[lv]
        shape = shapes.get(lv)
        if shape is None:
            continue
        i = anatomy.TARGET_LEVELS.index(lv)
        nb = [shapes[x].height_posterior_mm for x in anatomy.TARGET_LEVELS[max(i - 1, 0): i + 2]
              if x != lv and x in shapes and shapes[x].height_posterior_mm
              and out_levels[x]["status"] == "ok"]
        grade, red = genant_grade(shape, float(np.mean(nb)) if nb else None)
        entry["genant_grade"] = grade
        entry["height_reduction_fraction"] = red
    return {"disclaimer": DISCLAIMER, "spinemets_version": __version__,
            "calibration": cal.to_dict(), "levels": out_levels,
            "conventions": {"heights": SHAPE_CONVENTION, "ctra_sections": CTRA_SECTION_RULE,
                            "edge_of_scan": "a body reaching the edge of the scanned volume gets "
                                            "null heights and strengths (part of it may be outside "
                                            "the field of view); its density is of the visible part"},
            "units": {"bmd": "mg/cm3 K2HPO4-equivalent", "length": "mm", "force": "N"}}


def _withhold_whole_body_results(entry: dict[str, Any], strengths: dict[str, Any],
                                 inputs: dict[str, Any], reason: str) -> None:
    """A body cut by the field of view: heights, ratios and the three strengths describe the
    visible part only, so they are reported as null with the reason (TotalSegmentator's spine
    report likewise skips a body touching the image border). The visible-part strengths stay in
    ``strength_inputs`` as ``strength_N_visible_part`` for inspection."""
    for k in ("height_anterior_mm", "height_middle_mm", "height_posterior_mm", "wedge_ratio",
              "biconcavity_ratio", "heights_boundary_mm"):
        entry[k] = None
    for m in strengths:
        if isinstance(inputs.get(m), dict):
            inputs[m]["strength_N_visible_part"] = strengths[m]
            inputs[m]["status"] = "not_reported"
            inputs[m]["reason"] = reason
        strengths[m] = None


def _null_level(reason: str) -> dict[str, Any]:
    keys = ["trabecular_bmd_mg_cm3", "integral_bmd_mg_cm3", "trabecular_hu_median",
            "height_anterior_mm", "height_middle_mm", "height_posterior_mm", "wedge_ratio",
            "biconcavity_ratio", "genant_grade", "lesion_fraction"]
    d: dict[str, Any] = {k: None for k in keys}
    d["strength_N"] = {"density_area": None, "rigidity": None, "fe": None}
    d["strength_inputs"] = {}
    d["status"] = "failed"
    d["warnings"] = [reason]
    return d


def _sub_geometry(g, box):  # noqa: ANN001, ANN202
    from ..image import Geometry

    start = np.array([box[0].start, box[1].start, box[2].start], float)
    origin = g.index_zyx_to_lps(start)
    shape = tuple(s.stop - s.start for s in box)
    return Geometry(shape, g.spacing_mm, tuple(origin), g.direction)

"""``segment_muscles``: per-level trunk muscle groups, their measures and a 3-D label map."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from .. import DISCLAIMER, __version__, anatomy
from ..errors import InputError
from ..image import CTImage, LabelMap
from .classic import THIN_SHEET_GROUPS, segment_plane
from .frames import VertebraFrame, vertebra_frames
from .landmarks import spinal_canal, vertebra_landmarks
from .measure import group_outline, measure_group, null_group
from .partial_volume import partial_volume_areas, rib_bone_mask
from .plane import Plane
from .presence import expected
from .propagate import propagate_labels
from .thin_sheet import thin_sheet_areas

log = logging.getLogger(__name__)

BACKENDS = ("classic", "nnunet", "totalseg")
#: levels where the psoas is thick and apart from liver and vena cava: its attenuation reference
PSOAS_REF_LEVELS = ("L3", "L4", "L5")
#: deep groups lying directly on the ribs (erector spinae over the rib angles, quadratus
#: lumborum on the 12th rib): their border with rib bone is weighed as a muscle/bone mixture.
#: The superficial sheets are not: against the chest wall lie the intercostal muscles, no group
BONE_BORDER_GROUPS = ("erector_spinae", "transversospinalis", "quadratus_lumborum")
#: superficial sheets whose area is the partial-volume HU integral across their course
#: (``thin_sheet.course_area_mm2``): the latissimus dorsi and the pectoralis major, which thin
#: below a pixel at their lower ends, and the serratus anterior, whose upper slips on ribs 1-2 are
#: thinner than a pixel (classic.THIN_SHEET_GROUPS)
THIN_SHEET_IDS = {anatomy.BY_NAME[anatomy.muscle_name(g, sd)].id for g in THIN_SHEET_GROUPS
                  for sd in ("left", "right")}

SLICE_DEFINITION = (
    "Mid-vertebral plane of each vertebra T1-L5 present: the oblique plane through the centroid of its vertebral body "
    "(the body separated from the posterior elements by a morphological opening of the vertebra "
    "label), perpendicular to the local spine axis (direction between the neighbouring body "
    "centroids; the body's smallest principal axis for an isolated vertebra), resampled with linear "
    "interpolation on a 1 mm grid. The 3-D label map assigns each "
    "muscle-window voxel the label of its projection onto the nearest such plane."
)
CSA_DEFINITION = (
    "csa_mm2 is the area of the group's outline in the mid-vertebral plane (muscle plus the "
    "intramuscular fat it encloses). Classic backend: pixels on the outline's border with fat, and "
    "fat/muscle mixtures just outside it, count by their muscle fraction (HU - fat) / (muscle - fat), "
    "fat = median pure fat of the plane, muscle = the group's interior median; erector spinae, "
    "transversospinalis and quadratus lumborum pixels against a rib count by their muscle fraction "
    "between the muscle reference and the rib's brightest HU within 3 mm; latissimus dorsi, pectoralis major "
    "and serratus anterior (sheets thinner than a pixel at their lower ends or, for the serratus, its upper "
    "slips): their outline's border pixels and all fat/mixture pixels "
    "within 2 mm of it count by their muscle fraction, at most 1 and not clipped at 0 (the HU integral across "
    "the sheet's course); model backends: the "
    "model's mask as it is."
)
OFFSET_CONVENTION = (
    "offset_mm is the group centroid in the vertebra's frame: origin at the body centroid, "
    "'anterior' positive towards the patient's front along the vertebra's anterior axis, "
    "'lateral' positive towards the patient's left; both in the mid-vertebral plane, mm."
)


@dataclass
class MusclesResult:
    """``labels``: muscle ids 101-122 on the CT grid; ``summary``: content of muscles.json."""

    labels: LabelMap
    summary: dict
    planes: dict[str, Plane]
    plane_labels: dict[str, np.ndarray]


def _muscle_ids() -> dict[str, int]:
    return {s.name: s.id for s in anatomy.STRUCTURES if s.group == "muscle"}


def segment_muscles(ct: CTImage, vertebrae: LabelMap, backend: str = "classic",
                    model_dir: str | Path | None = None, mapping_file: str | Path | None = None,
                    device: str = "cpu", vertebrae_summary: dict | None = None) -> MusclesResult:
    """Segment the trunk muscle groups at every vertebral level T1-L5 present in ``vertebrae``.

    ``vertebrae`` must be on the CT grid with spinemets vertebra ids (VerSe: T1=8 ... L5=24).
    Per-level measures are taken in the mid-vertebral planes (see ``SLICE_DEFINITION``).
    """
    if backend not in BACKENDS:
        raise InputError(f"unknown muscle backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if not ct.geometry.is_same_grid(vertebrae.geometry, tol_mm=0.01):
        raise InputError("the vertebra label map is not on the CT's voxel grid")
    frames = vertebra_frames(vertebrae, vertebrae_summary=vertebrae_summary)
    if not frames:
        raise InputError("the vertebra label map holds no vertebra T1-L5")
    hu_vol = ct.array  # sampled per plane as float32 (Plane.sample output=): no whole-volume copy
    ids = _muscle_ids()
    model_labels: np.ndarray | None = None
    if backend != "classic":
        from .backends import model_muscle_labels

        model_labels = model_muscle_labels(ct, backend, model_dir, mapping_file, device)

    levels: dict[str, dict] = {}
    planes: dict[str, Plane] = {}
    plane_labels: dict[str, np.ndarray] = {}
    # caudal levels first: the psoas attenuation measured where it is thick and isolated
    # (PSOAS_REF_LEVELS) is the reference for the small psoas at T12-L2 (see segment_plane)
    psoas_hu: dict[str, list[np.ndarray]] = {"left": [], "right": []}
    # then cranial to caudal: the pectoralis major's lateral reach found one level up bounds it at
    # its lowest levels (see segment_plane)
    order_run = list(reversed(PSOAS_REF_LEVELS)) + [lv for lv in anatomy.TARGET_LEVELS if lv not in PSOAS_REF_LEVELS]
    reach_above: dict[str, float] | None = None
    for lv in order_run:
        if lv not in frames:
            if np.any(vertebrae.array == anatomy.vertebra_id(lv)):
                levels[lv] = {"status": "outside_fov",
                              "reason": "vertebra cut by the field of view; no reliable mid-plane"}
            continue
        fr = frames[lv]
        plane = Plane.for_frame(fr, ct.geometry, volume=hu_vol)
        hu, inside = plane.sample(hu_vol, ct.geometry, order=1, cval=-1024.0, output=np.float32)
        if model_labels is None:
            vert, _ = plane.sample(vertebrae.array, ct.geometry, order=0)
            lm = vertebra_landmarks(fr, plane, vertebrae, anatomy.vertebra_id(lv), fr.body_points_lps)
            refs = {side: float(np.median(np.concatenate(v))) for side, v in psoas_hu.items()
                    if v and sum(len(a) for a in v) >= 50} \
                if anatomy.level_index(lv) < anatomy.level_index(PSOAS_REF_LEVELS[0]) else None
            i_lv = anatomy.TARGET_LEVELS.index(lv)
            above = anatomy.TARGET_LEVELS[i_lv - 1] if i_lv > 0 else None
            reach: dict[str, float] = {}
            masks = segment_plane(hu, inside, vert, lm, plane.pixel_mm, lv, canal=spinal_canal(fr, plane),
                                  psoas_ref_hu=refs,
                                  pectoral_reach_deg=reach_above if above is not None and above in planes else None,
                                  reach_out=reach)
            reach_above = reach
            if lv in PSOAS_REF_LEVELS:
                for side in ("left", "right"):
                    m = masks.get(f"psoas_major_{side}")
                    if m is not None:
                        core = ndi.binary_erosion(m, iterations=max(int(round(2.0 / plane.pixel_mm)), 1))
                        psoas_hu[side].append(hu[core & (hu >= -29.0) & (hu <= 150.0)])
        else:
            lab, _ = plane.sample(model_labels, ct.geometry, order=0)
            masks = {name: lab == i for name, i in ids.items() if np.any(lab == i)}
        lab2d = np.zeros(plane.shape, np.uint16)
        entry: dict = {"plane": {"origin_lps_mm": [round(float(v), 2) for v in plane.origin_lps_mm],
                                 "normal_lps": [round(float(v), 4) for v in plane.normal]},
                       "vertebra_frame": _frame_dict(fr),
                       "status": "ok"}
        if fr.touches_fov_edge:
            entry["warning"] = "vertebra touches the edge of the field of view"
        close_mm = 2.0 if model_labels is None else 0.0
        outlines: dict[str, np.ndarray] = {}
        for grp in anatomy.MUSCLE_GROUPS:
            for side in ("left", "right"):
                name = anatomy.muscle_name(grp, side)
                m = masks.get(name)
                if m is not None and (m & (lab2d == 0)).any():
                    m = m & (lab2d == 0)
                    masks[name] = m
                    lab2d[m] = ids[name]
        for name in [anatomy.muscle_name(g, sd) for g in anatomy.MUSCLE_GROUPS for sd in ("left", "right")]:
            if name in masks and np.any(lab2d == ids[name]):
                # the closing fills the group's own fat gaps, never another group's muscle (a
                # thin sheet fused to its neighbour, e.g. external over internal oblique)
                outlines[name] = group_outline(masks[name], hu, plane.pixel_mm, close_mm) & \
                    ((lab2d == 0) | (lab2d == ids[name]))
        # classic backend: border pixels counted by their muscle fraction (thin sheets)
        areas = {} if model_labels is not None else \
            partial_volume_areas({ids[n]: o for n, o in outlines.items()}, hu, plane.pixel_mm,
                                 bone=rib_bone_mask(hu, vert, plane.pixel_mm),
                                 bone_groups={ids[anatomy.muscle_name(g, sd)] for g in BONE_BORDER_GROUPS
                                              for sd in ("left", "right")})
        if model_labels is None:  # sheets thinner than a pixel: the HU integral across the course
            areas.update(thin_sheet_areas({ids[n]: o for n, o in outlines.items()}, THIN_SHEET_IDS, hu,
                                          plane.pixel_mm))
        for grp in anatomy.MUSCLE_GROUPS:
            for side in ("left", "right"):
                name = anatomy.muscle_name(grp, side)
                if name in outlines and areas.get(ids[name], 1.0) < plane.pixel_mm ** 2:
                    # nothing but partial-volume pixels: less than one pixel of muscle in all
                    lab2d[lab2d == ids[name]] = 0
                    entry[name] = null_group("not_found", "less than one pixel of muscle after weighting its "
                                                          "border pixels by their muscle fraction")
                elif name in outlines:
                    m = masks[name]
                    entry[name] = measure_group(m, hu, plane, outline=outlines[name], csa_mm2=areas.get(ids[name]))
                    if np.any(m & ~inside):
                        entry[name]["status"] = "partly_outside_fov"
                elif backend == "classic" and not expected(grp, lv):
                    entry[name] = null_group("not_present", f"{grp} does not reach the {lv} mid-vertebral plane")
                elif _side_outside(inside, side, plane):
                    entry[name] = null_group("outside_fov", "this side of the plane lies outside the field of view")
                else:
                    entry[name] = null_group("not_found" if backend == "classic" else "not_present",
                                             "no pixels of this group in the mid-vertebral plane")
        levels[lv] = entry
        planes[lv] = plane
        plane_labels[lv] = lab2d
    levels = {lv: levels[lv] for lv in anatomy.TARGET_LEVELS if lv in levels}
    order = [lv for lv in anatomy.TARGET_LEVELS if lv in planes]
    if model_labels is not None:
        arr3d = model_labels.astype(np.uint16)
    else:
        arr3d = propagate_labels(ct, [planes[lv] for lv in order], [plane_labels[lv] for lv in order])
    labels = LabelMap(arr3d, ct.geometry, anatomy.label_table(ids.values()))
    summary = {
        "disclaimer": DISCLAIMER,
        "spinemets_version": __version__,
        "backend": backend,
        "coordinate_system": "LPS",
        "units": {"csa_mm2": "mm^2", "hu_mean": "HU", "hu_sd": "HU", "fat_fraction": "1",
                  "centroid_lps_mm": "mm", "offset_mm": "mm"},
        "slice_definition": SLICE_DEFINITION,
        "csa_definition": CSA_DEFINITION,
        "offset_convention": OFFSET_CONVENTION,
        "hu_windows": {"muscle": [-29, 150], "fat": [-190, -30]},
        "levels": levels,
    }
    return MusclesResult(labels, summary, planes, plane_labels)


def _frame_dict(fr: VertebraFrame) -> dict:
    r = lambda v: [round(float(x), 4) for x in v]  # noqa: E731
    return {"body_centroid_lps_mm": [round(float(x), 2) for x in fr.origin_lps_mm],
            "superior_lps": r(fr.superior), "anterior_lps": r(fr.anterior), "left_lps": r(fr.left)}


def _side_outside(inside: np.ndarray, side: str, plane: Plane, radius_mm: float = 150.0) -> bool:
    """True when less than 90 % of that side of the plane within ``radius_mm`` was imaged."""
    n_r, n_c = plane.shape
    rr, cc = np.indices(plane.shape)
    near = (rr - n_r // 2) ** 2 + (cc - n_c // 2) ** 2 <= (radius_mm / plane.pixel_mm) ** 2
    sided = near & ((cc >= n_c // 2) if side == "left" else (cc < n_c // 2))
    return float(inside[sided].mean()) < 0.9

"""Backend-independent results of vertebra segmentation: ``VertebraeResult`` and its files.

``vertebrae.json`` (coordinates LPS mm; axes are unit vectors in LPS):
``{"disclaimer", "spinemets_version", "backend", "coordinate_system": "LPS",
"levels": {"L1": {"label", "volume_mm3", "body_volume_mm3", "centroid_lps_mm",
"body_centroid_lps_mm", "axis_si_lps" (cranial), "axis_ap_lps" (anterior), "axis_lr_lps" (left),
"touches_border", "status": "ok" | "touches_border" | "uncertain_label", "reason"}},
"sacrum": {...} | null, "labelling": {"anchor", "confidence", "anchors_found", "transitional"},
"warnings": [...]}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .. import DISCLAIMER, __version__, anatomy
from ..image import CTImage, LabelMap, label_voxel_counts
from ..io import write_json_atomic, write_label_map
from .bodies import extract_bodies

#: Levels a vertebra label map may carry (T1-L5 and the transitional L6/T13).
ASSESSED_LEVELS = anatomy.TARGET_LEVELS + ["T13", "L6"]


@dataclass
class VertebraeResult:
    """``vertebrae``: VerSe ids on the CT grid; ``bodies``: the same ids, vertebral body only;
    ``summary``: the content of ``vertebrae.json``."""

    vertebrae: LabelMap
    bodies: LabelMap
    summary: dict[str, Any] = field(default_factory=dict)


def _r(v: Any, nd: int = 2) -> Any:
    if v is None:
        return None
    return [round(float(x), nd) for x in np.asarray(v).ravel()]


def build_result(vertebrae: LabelMap, backend: str, labelling: dict[str, Any] | None = None,
                 uncertain_ids: set[int] | None = None, warnings: list[str] | None = None,
                 ct: CTImage | None = None) -> VertebraeResult:
    """Bodies, frames and the summary for a VerSe-id vertebra label map on the CT grid.

    The body rule closes unlabelled voxels a body encloses (basivertebral venous channel, open marrow
    or lytic cavities). For the ``classic`` backend they join the vertebra map as well; a model's
    output (``nnunet``, ``totalseg``) is never edited, so there they are dropped from the body.
    Either way every body lies inside its vertebra. ``ct`` (HU, same grid), when given: the bodies'
    partial-volume end slices beyond their end plates are taken off (``segment.endplates``)."""
    keep_ids = {anatomy.vertebra_id(lv) for lv in ASSESSED_LEVELS} | {anatomy.SACRUM_ID}
    arr = vertebrae.array
    all_present = vertebrae.present_ids()
    present = [i for i in all_present if i in keep_ids]
    if set(all_present) - set(present):
        arr = np.where(np.isin(arr, present), arr, 0).astype(arr.dtype)
    vert = LabelMap(arr, vertebrae.geometry, anatomy.label_table(present))
    vids = [i for i in present if i != anatomy.SACRUM_ID]
    bodies_lm, frames = extract_bodies(vert, vids, ct=ct)
    b = bodies_lm.array
    enclosed = (b > 0) & (arr == 0)
    if enclosed.any() and backend == "classic":
        arr = arr.copy()
        np.copyto(arr, b, where=enclosed)
        vert = LabelMap(arr, vertebrae.geometry, vert.labels)
    elif enclosed.any():
        bodies_lm = LabelMap(np.where(enclosed, 0, b).astype(b.dtype), bodies_lm.geometry, bodies_lm.labels)
    vox_mm3 = vert.geometry.voxel_volume_mm3
    n = max(vids, default=0) + 1
    counts = label_voxel_counts(arr, n)
    body_counts = label_voxel_counts(bodies_lm.array, n)
    uncertain_ids = uncertain_ids or set()
    levels: dict[str, Any] = {}
    for lv in anatomy.ALL_LEVELS:
        vid = anatomy.VERSE_ID[lv]
        if vid not in frames:
            continue
        f = frames[vid]
        status, reason = "ok", None
        if vid in uncertain_ids:
            status, reason = "uncertain_label", "labelling anchors disagree or are missing"
        elif f.touches_border:
            status, reason = "touches_border", "the vertebra is cut by the edge of the field of view"
        entry = {
            "label": vid,
            "volume_mm3": round(float(counts[vid]) * vox_mm3, 1),
            "body_volume_mm3": round(float(body_counts[vid]) * vox_mm3, 1),
            "centroid_lps_mm": _r(f.centroid_lps_mm),
            "body_centroid_lps_mm": _r(f.body_centroid_lps_mm),
            "axis_si_lps": _r(f.axis_si_lps, 4),
            "axis_ap_lps": _r(f.axis_ap_lps, 4),
            "axis_lr_lps": _r(np.cross(f.axis_si_lps, f.axis_ap_lps), 4),
            "touches_border": bool(f.touches_border),
            "posterior_wall_found": bool(f.wall_found),
            "status": status,
        }
        if reason:
            entry["reason"] = reason
        levels[lv] = entry
    sacrum = None
    if anatomy.SACRUM_ID in present:
        # (within the sacrum's bounding box: whole-volume argwhere is slow on a clinical grid)
        box = ndi.find_objects((arr == anatomy.SACRUM_ID).view(np.uint8))[0]
        m = arr[box] == anatomy.SACRUM_ID
        idx = (np.argwhere(m) + np.array([s.start for s in box])).mean(0)
        sacrum = {"label": anatomy.SACRUM_ID,
                  "volume_mm3": round(float(m.sum()) * vert.geometry.voxel_volume_mm3, 1),
                  "centroid_lps_mm": _r(vert.geometry.index_zyx_to_lps(idx))}
    warn = list(warnings or [])
    if not levels:
        warn.append("no vertebra T1-L5 was found")
    summary = {
        "disclaimer": DISCLAIMER,
        "spinemets_version": __version__,
        "backend": backend,
        "coordinate_system": "LPS",
        "axes": "axis_si_lps points cranially, axis_ap_lps anteriorly, axis_lr_lps to the patient's left",
        "levels": levels,
        "sacrum": sacrum,
        "labelling": labelling or {"anchor": "model", "confidence": None, "anchors_found": [],
                                   "transitional": None},
        "warnings": warn,
    }
    return VertebraeResult(vert, bodies_lm, summary)


def write_vertebrae_outputs(result: VertebraeResult, ct: CTImage, out_dir: str | Path) -> dict[str, Path]:
    """Write vertebrae.nii.gz, vertebral_bodies.nii.gz, vertebrae.json (+ vertebrae_seg.dcm for DICOM)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "vertebrae": write_label_map(result.vertebrae, out / "vertebrae.nii.gz"),
        "bodies": write_label_map(result.bodies, out / "vertebral_bodies.nii.gz"),
    }
    summary = dict(result.summary)
    if ct.metadata.get("input_format") == "dicom" and ct.metadata.get("source_files") and \
            result.vertebrae.present_ids():
        from ..io import write_seg

        paths["seg"] = write_seg(result.vertebrae, ct.metadata["source_files"], out / "vertebrae_seg.dcm")
    paths["json"] = write_json_atomic(out / "vertebrae.json", summary)
    return paths

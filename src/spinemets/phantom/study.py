"""Write a phantom as a study folder in the Spine-Mets-CT-SEG / TCIA style.

::

    OUT/
      dicom/CT/CT_00001.dcm ...      CT Image Storage series (no identifying data)
      dicom/SEG/vertebrae_seg.dcm    multi-class DICOM SEG (T1-L5 + sacrum), references the series
      clinical.json                  demographics + per-vertebra lesion classification
      ct.nii.gz, vertebrae.nii.gz, vertebral_bodies.nii.gz, muscles.nii.gz, lesions.nii.gz,
      labels.nii.gz (+ NAME.labels.json)
      truth.json                     every ground-truth number
      preview.png                    (optional)
      followup_06m/ ...              one sub-study per follow-up (same layout)
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from .. import DISCLAIMER, __version__
from ..io import write_image, write_json_atomic, write_label_map

#: Baseline study date of every phantom (follow-ups add their months).
BASE_DATE = _dt.date(2020, 1, 6)


def _uid(*parts: Any) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["spinemets-phantom", *[str(p) for p in parts]])


def clinical_summary(phantom) -> dict[str, Any]:
    """Demographics and per-vertebra lesion classification (Spine-Mets-CT-SEG style)."""
    t = phantom.truth
    per_level = {}
    for lv, v in t["vertebrae"].items():
        classes = v.get("lesion_classes") or []
        if not classes:
            cls = "none"
        elif len(classes) == 1:
            cls = classes[0]
        else:
            cls = "mixed"
        per_level[lv] = {"lesion_class": cls, "fracture": v.get("fracture") is not None,
                         "in_fov": v.get("in_fov")}
    return {"disclaimer": DISCLAIMER, "spinemets_version": __version__,
            "patient_id": f"PHANTOM-{t['seed']:05d}", "synthetic": True,
            "sex": t["subject"]["sex"], "age_years": t["subject"]["age_years"],
            "height_cm": t["subject"]["height_cm"], "weight_kg": t["subject"]["weight_kg"],
            "months_from_baseline": t.get("months", 0.0),
            "vertebrae": per_level}


def write_study(phantom, out_dir: str | Path, dicom: bool = True, preview: bool = False,
                _months: float = 0.0) -> Path:
    """Write ``phantom`` (and its follow-ups in sub-folders) into ``out_dir``; return ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = phantom.truth
    seed = t["seed"]
    months = float(t.get("months", _months) or 0.0)
    date = BASE_DATE + _dt.timedelta(days=int(round(months * 30.44)))
    write_image(phantom.ct, out / "ct.nii.gz")
    for name in ("vertebrae", "vertebral_bodies", "muscles", "lesions", "labels"):
        write_label_map(getattr(phantom, name), out / f"{name}.nii.gz")
    files: dict[str, Any] = {"ct_nifti": "ct.nii.gz"}
    if dicom:
        from ..io import write_ct_series, write_seg

        tp = "baseline" if months == 0 else f"{months:g} months"
        paths = write_ct_series(
            phantom.ct, out / "dicom" / "CT", patient_id=f"PHANTOM-{seed:05d}",
            patient_name=f"Phantom^{seed:05d}", study_instance_uid=_uid(seed, months, "study"),
            series_instance_uid=_uid(seed, months, "ct"), series_description="spinemets phantom CT",
            study_date=date, study_description="synthetic metastatic spine CT",
            clinical_trial_time_point_id=tp)
        write_seg(phantom.vertebrae, paths, out / "dicom" / "SEG" / "vertebrae_seg.dcm",
                  series_description="vertebrae (phantom ground truth)", algorithm_name="spinemets phantom",
                  algorithm_family="ArtificialIntelligence", clinical_trial_time_point_id=tp)
        files["dicom_ct"] = "dicom/CT"
        files["dicom_seg_vertebrae"] = "dicom/SEG/vertebrae_seg.dcm"
    write_json_atomic(out / "clinical.json", clinical_summary(phantom))
    truth = dict(t)
    truth["files"] = files
    write_json_atomic(out / "truth.json", truth)
    if preview:
        from .preview import write_preview

        write_preview(phantom, out / "preview.png")
    for fp in phantom.followups:
        m = float(fp.truth.get("months", 0.0))
        write_study(fp, out / f"followup_{int(round(m)):02d}m", dicom=dicom, preview=preview, _months=m)
    return out


__all__ = ["write_study", "clinical_summary"]

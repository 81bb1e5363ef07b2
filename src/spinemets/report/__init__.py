"""Reporting: ``results.json`` (versioned schema), ``report.html`` (self-contained), DICOM SR.

Public API:

* :func:`build_results` / :func:`validate_results` – assemble and check ``results.json``;
* :func:`render_report` – the HTML page from results and figures;
* :func:`write_case_report` – the pipeline's ``report`` step (all of the above for one case);
* :func:`write_measurement_report` (``report.dicom_sr``) – TID 1500 Comprehensive 3D SR.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .html import render_report
from .results import SCHEMA_VERSION, build_results, results_schema, validate_results

log = logging.getLogger(__name__)

__all__ = ["SCHEMA_VERSION", "build_results", "validate_results", "results_schema", "render_report",
           "write_case_report", "render_case_html"]


def _optional_label_map(ctx: Any, name: str, step: str) -> Any:
    if not ctx.done(step):
        return None
    try:
        return ctx.label_map(name)
    except Exception as exc:  # noqa: BLE001 - a missing overlay must not stop the report
        log.warning("cannot read %s for the report: %s", name, exc)
        return None


def _find_seg(out_dir: Any, stem: str) -> Any:
    for name in (f"{stem}_seg.dcm", f"{stem}.seg.dcm", f"{stem}.dcm", f"seg_{stem}.dcm"):
        if (out_dir / name).is_file():
            return out_dir / name
    return None


def write_case_report(ctx: Any) -> None:
    """The pipeline's ``report`` step: ``results.json``, ``report.html`` and, for DICOM, the SR."""
    from ..io.atomic import write_json_atomic, write_text_atomic
    o = ctx.options
    steps = {n: r.to_dict() for n, r in ctx.records.items() if n != "report"}
    parts = {}
    for step, fname in (("vertebrae", "vertebrae.json"), ("muscles", "muscles.json"),
                        ("bone", "bone.json"), ("loads", "loads.json"), ("risk", "risk.json")):
        parts[step] = ctx.json(fname) if ctx.done(step) else None
    ct_info = ctx.json("ct.json")
    case = {"case_id": o.case_id or ctx.out_dir.name, "timepoint": o.timepoint,
            "input_format": (ct_info or {}).get("input_format"),
            "input_sha256": ctx.memory.get("input_info", {}).get("sha256"),
            "series_instance_uid": (ct_info or {}).get("series_instance_uid")}
    subject = {"sex": o.sex, "age_years": o.age_years, "weight_kg": o.weight_kg, "height_cm": o.height_cm}
    results = build_results(steps=steps, ct=ct_info, case=case, subject=subject, **parts)

    sr_path = ctx.out_dir / "report_sr.dcm"
    if ctx.is_dicom:
        from .dicom_sr import write_measurement_report

        try:
            write_measurement_report(results, ctx.ct.metadata.get("source_files") or [], sr_path,
                                     seg_path=_find_seg(ctx.out_dir, "vertebrae"))
        except Exception as exc:  # noqa: BLE001 - the SR is an extra; its absence is reported
            results["warnings"].append({"source": "report", "level": None,
                                        "message": f"DICOM SR not written: {exc}"})
    validate_results(results)
    write_json_atomic(ctx.out_dir / "results.json", results)

    vert = _optional_label_map(ctx, "vertebrae.nii.gz", "vertebrae")
    mus = _optional_label_map(ctx, "muscles.nii.gz", "muscles")
    html = render_case_html(results, ctx.ct, vert, mus, parts["vertebrae"], o.to_dict())
    write_text_atomic(ctx.out_dir / "report.html", html)


def render_case_html(results: Any, ct: Any, vertebrae: Any, muscles: Any, vertebrae_summary: Any,
                     options: Any) -> str:
    """The report page of one case from its results, CT and label maps (either may be None)."""
    from ..pipeline import library_versions
    from . import charts as charts_mod
    from . import views as views_mod

    views = views_mod.overview_views(ct, vertebrae, muscles, vertebrae_summary)
    axial = views_mod.axial_views(ct, vertebrae, muscles, vertebrae_summary) if vertebrae is not None else {}
    legend = views_mod.legend_items(vertebrae, muscles)
    return render_report(results, views=views, axial=axial, charts=charts_mod.all_charts(results),
                         legend=legend, options=options, libraries=library_versions(),
                         python=sys.version.split()[0])

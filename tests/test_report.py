"""Report: results.json assembly + schema, self-contained HTML, DICOM SR round trip.

These tests build one small synthetic case by hand (a CT volume with box "vertebrae" and
"muscles", stage JSONs in the documented layouts of the stage issues) so that the report is
checked independently of the stages' numbers.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from spinemets import DISCLAIMER, anatomy
from spinemets.image import CTImage, Geometry, LabelMap
from spinemets.report import build_results, render_case_html, results_schema, validate_results
from spinemets.report.results import lsr_band

LEVELS = ["T12", "L1", "L2", "L3", "L4", "L5"]
ACTS = ["standing", "flexion_45", "standing_weights_elbows90"]


def synthetic_case() -> dict:
    """CT (HU) with 6 box vertebrae and psoas/erector boxes; stage JSONs with known numbers."""
    geom = Geometry((72, 60, 80), (2.0, 2.0, 3.0), (-80.0, -60.0, -300.0))
    ct = np.full(geom.shape_zyx, -1000.0, dtype=np.float32)
    zz, yy, xx = np.mgrid[: geom.shape_zyx[0], : geom.shape_zyx[1], : geom.shape_zyx[2]]
    body = ((xx - 40) / 36.0) ** 2 + ((yy - 30) / 26.0) ** 2 <= 1
    ct[body] = 40.0
    vert = np.zeros(geom.shape_zyx, np.uint16)
    mus = np.zeros(geom.shape_zyx, np.uint16)
    vlevels = {}
    for i, lv in enumerate(reversed(LEVELS)):  # L5 lowest (small z)
        z0 = 4 + i * 11
        sl = (slice(z0, z0 + 9), slice(28, 40), slice(33, 47))
        vert[sl] = anatomy.vertebra_id(lv)
        ct[sl] = 250.0 - 10 * i
        c_idx = np.array([z0 + 4.0, 33.5, 39.5])
        vlevels[lv] = {"label": anatomy.vertebra_id(lv), "volume_mm3": float(9 * 12 * 14 * 12.0),
                       "centroid_lps_mm": geom.index_zyx_to_lps(c_idx).tolist(),
                       "status": "touches_border" if lv == "T12" else "ok"}
        for name, xs in (("psoas_major_left", slice(48, 55)), ("psoas_major_right", slice(25, 32)),
                         ("erector_spinae_left", slice(42, 50)), ("erector_spinae_right", slice(30, 38))):
            ys = slice(28, 36) if name.startswith("psoas") else slice(42, 50)
            mus[z0:z0 + 9, ys, xs] = anatomy.BY_NAME[name].id
            ct[z0:z0 + 9, ys, xs] = 45.0
    ctimg = CTImage(ct, geom, {"input_format": "nifti", "modality": "CT"})
    vert_lm = LabelMap(vert, geom, anatomy.label_table(np.unique(vert)))
    mus_lm = LabelMap(mus, geom, anatomy.label_table(np.unique(mus)))
    vertebrae = {"levels": vlevels, "labelling": {"anchor": "sacrum", "confidence": 0.9}}
    muscles = {"levels": {lv: {n: {"csa_mm2": 1200.0 + k, "hu_mean": 45.0, "hu_sd": 10.0, "fat_fraction": 0.05,
                                   "centroid_lps_mm": [0.0, 0.0, 0.0], "status": "ok"}
                               for k, n in enumerate(["psoas_major_left", "psoas_major_right",
                                                      "erector_spinae_left", "erector_spinae_right"])}
                          for lv in LEVELS}}
    bone = {"calibration": {"method": "phantomless", "slope_mg_cm3_per_hu": 0.8, "intercept_mg_cm3": 2.0, "r2": 0.99,
                            "warnings": ["calibration fit: 3 of 4 tissues used"]},
            "levels": {lv: {"trabecular_bmd_mg_cm3": 100.0 + 5 * i, "integral_bmd_mg_cm3": 180.0 + 5 * i,
                            "strength_N": {"density_area": 3000.0 + 100 * i, "rigidity": 3200.0 + 100 * i,
                                           "fe": None if lv == "L5" else 3100.0 + 100 * i},
                            "status": "ok"} for i, lv in enumerate(LEVELS)},
            "warnings": ["contrast-enhanced scan suspected: aortic blood 180 HU"]}
    loads = {"subject": {"weight_kg": 70.0},
             "activities": {a: {"levels": {lv: {"compression_N": (400.0 + 30 * i) * (1 + k), "shear_ap_N": 50.0,
                                                  "shear_lat_N": 0.0,
                                                  "status": "infeasible" if (a == "flexion_45" and lv == "T12") else "ok"}
                                             for i, lv in enumerate(LEVELS)}} for k, a in enumerate(ACTS)}}
    risk = {"activities": {a: {"levels": {} } for a in ACTS}}
    for a in ACTS:
        for lv in LEVELS:
            c = loads["activities"][a]["levels"][lv]["compression_N"]
            s = bone["levels"][lv]["strength_N"]["fe"] or bone["levels"][lv]["strength_N"]["rigidity"]
            r = c / s
            risk["activities"][a]["levels"][lv] = {"lsr": r, "lsr_p05": 0.8 * r, "lsr_p95": 1.25 * r,
                                                   "band": lsr_band(r), "status": "ok"}
    return {"ct": ctimg, "vertebrae_lm": vert_lm, "muscles_lm": mus_lm, "vertebrae": vertebrae,
            "muscles": muscles, "bone": bone, "loads": loads, "risk": risk}


def case_results(case: dict, **drop: bool) -> dict:
    steps = {n: {"status": "ok", "reason": None, "error": None, "seconds": 1.0}
             for n in ("read", "vertebrae", "muscles", "bone", "loads", "risk")}
    parts = {k: case[k] for k in ("vertebrae", "muscles", "bone", "loads", "risk")}
    for k in drop:
        parts[k] = None
        steps[k] = {"status": "not_available", "reason": f"{k} stage not built", "error": None, "seconds": 0.0}
    ct_info = {"input_format": "nifti", "modality": "CT", "geometry": case["ct"].geometry.to_dict(), "warnings": []}
    return build_results(steps=steps, ct=ct_info, case={"case_id": "synthetic-1", "timepoint": None,
                                                         "input_format": "nifti", "input_sha256": "0" * 64,
                                                         "series_instance_uid": None},
                         subject={"sex": "female", "age_years": 66.0, "weight_kg": 70.0, "height_cm": 165.0},
                         **parts)


@pytest.fixture(scope="module")
def case() -> dict:
    return synthetic_case()


def test_results_follow_schema_and_carry_everything(case):
    res = case_results(case)
    validate_results(res)
    assert res["schema_version"] == "1.0" and res["disclaimer"] == DISCLAIMER
    assert list(res["levels"])[:2] == ["T1", "T2"] and list(res["levels"])[-1] == "L5"
    l1 = res["levels"]["L1"]
    assert l1["label_status"] == "ok" and l1["vertebra"]["label"] == 20
    assert l1["muscles"]["psoas_major_left"]["csa_mm2"] == 1200.0
    assert l1["bone"]["trabecular_bmd_mg_cm3"] == 105.0
    assert l1["loads"]["flexion_45"]["compression_N"] == pytest.approx(2 * 430.0)
    # summary: FE strength preferred; the worst activity is flexion
    assert l1["summary"]["strength_method"] == "fe" and l1["summary"]["strength_N"] == 3200.0
    assert l1["summary"]["max_lsr_activity"] == "standing_weights_elbows90"
    assert l1["summary"]["max_lsr"] == pytest.approx(3 * 430.0 / 3200.0)
    assert res["levels"]["L5"]["summary"]["strength_method"] == "rigidity"
    assert res["levels"]["T1"]["label_status"] == "not_in_view" and res["levels"]["T1"]["bone"] is None
    msgs = " | ".join(w["message"] for w in res["warnings"])
    assert "partial field of view: only T12–L5 in view" in msgs
    assert "T12: label status touches_border" in msgs
    assert "T12 flexion_45: load infeasible" in msgs
    assert "contrast-enhanced" in msgs and "calibration fit: 3 of 4 tissues used" in msgs
    assert res["activities"] == ["flexion_45", "standing", "standing_weights_elbows90"]


def test_missing_stage_is_null_with_reason_and_schema_rejects_bad_values(case):
    res = case_results(case, risk=True, loads=True)
    validate_results(res)
    assert res["steps"]["risk"]["status"] == "not_available"
    assert all(d["risk"] is None and d["summary"]["max_lsr"] is None for d in res["levels"].values())
    bad = copy.deepcopy(res)
    bad["levels"]["L1"]["summary"]["max_lsr"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        validate_results(bad)
    bad = copy.deepcopy(res)
    del bad["disclaimer"]
    with pytest.raises(jsonschema.ValidationError):
        validate_results(bad)
    bad = copy.deepcopy(res)
    bad["schema_version"] = "0.9"
    with pytest.raises(jsonschema.ValidationError):
        validate_results(bad)
    jsonschema.Draft202012Validator.check_schema(results_schema())


def test_html_is_self_contained_and_shows_all_sections(case, tmp_path):
    res = case_results(case)
    html = render_case_html(res, case["ct"], case["vertebrae_lm"], case["muscles_lm"], case["vertebrae"],
                            {"backend": "classic", "muscles_backend": "classic"})
    # no external resources: every src/href is a data URI or a fragment
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    # 2 overview views + one axial per level (6) + 4 charts
    assert len(imgs) == 2 + len(LEVELS) + 4
    import base64
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)
    for text in ("Research use only", DISCLAIMER[:40], "partial field of view", "Per-level results",
                 "Axial slice per level", "Load-to-strength ratio", "Methods", "Morgan EF", "synthetic-1"):
        assert text in html, text
    # de-identified header: no path of the input, no patient name
    assert "PatientName" not in html
    (tmp_path / "report.html").write_text(html)


def test_html_without_downstream_stages_says_why(case):
    res = case_results(case, bone=True, loads=True, risk=True)
    html = render_case_html(res, case["ct"], case["vertebrae_lm"], None, case["vertebrae"], {})
    assert "Volumetric BMD per level (mg/cm³ K₂HPO₄): not available (bone step not_available: bone stage not built)" in html
    assert "not_available" in html


def test_dicom_sr_round_trip(case, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    from spinemets.report.dicom_sr import read_measurement_report, write_measurement_report

    res = case_results(case)
    src = get_testdata_file("CT_small.dcm")
    out = write_measurement_report(res, [src], tmp_path / "sr.dcm")
    ds = pydicom.dcmread(out)
    assert ds.Modality == "SR" and ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    assert ds.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    src_ds = pydicom.dcmread(src)
    assert ds.StudyInstanceUID == src_ds.StudyInstanceUID
    ev = ds.CurrentRequestedProcedureEvidenceSequence[0]
    assert ev.ReferencedSeriesSequence[0].SeriesInstanceUID == src_ds.SeriesInstanceUID
    back = read_measurement_report(out)
    assert set(back) == set(LEVELS)
    l1 = back["L1"]
    assert l1["Trabecular volumetric bone mineral density (K2HPO4 equivalent)"] == pytest.approx(105.0)
    assert l1["Vertebral compressive strength"] == pytest.approx(3200.0)
    assert l1["Load-to-strength ratio, activity flexion_45"] == pytest.approx(860.0 / 3200.0)
    assert l1["Load-to-strength ratio, activity standing_weights_elbows90"] == pytest.approx(1290.0 / 3200.0)


def test_dicom_sr_references_seg_segments(case, tmp_path):
    io = pytest.importorskip("spinemets.io")
    if not hasattr(io, "write_ct_series") or not hasattr(io, "write_seg"):
        pytest.skip("spinemets.io DICOM writers not available")
    import pydicom

    from spinemets.report.dicom_sr import read_measurement_report, write_measurement_report

    files = io.write_ct_series(case["ct"], tmp_path / "ct")
    seg = io.write_seg(case["vertebrae_lm"], files, tmp_path / "vertebrae_seg.dcm")
    res = case_results(case)
    out = write_measurement_report(res, files, tmp_path / "sr.dcm", seg_path=seg)
    ds = pydicom.dcmread(out)
    text = str(ds)
    seg_ds = pydicom.dcmread(seg)
    assert seg_ds.SOPInstanceUID in text  # the measurement groups reference the SEG instance
    import highdicom as hd
    sr = hd.sr.srread(str(out))
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(LEVELS)
    assert all(g.referenced_segment.referenced_sop_instance_uid == seg_ds.SOPInstanceUID for g in groups)
    assert read_measurement_report(out)["L3"]["Vertebral compressive strength"] == pytest.approx(3400.0)


def test_results_json_written_is_valid_json(case, tmp_path):
    from spinemets.io.atomic import write_json_atomic

    res = case_results(case)
    p = write_json_atomic(tmp_path / "results.json", res)
    validate_results(json.loads(Path(p).read_text()))

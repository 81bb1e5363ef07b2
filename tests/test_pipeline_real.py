"""The real CTs of ../shared/data/totalseg_example end to end: only T11/T12-L5 are in view, and
the results say so (partial field of view warning); DICOM input gives SEG + SR outputs."""

from __future__ import annotations

import json

import pytest

from spinemets.pipeline import RunOptions, run_case
from spinemets.report import validate_results

pytestmark = pytest.mark.slow


def _check_common(out, res):
    validate_results(res)
    assert res["steps"]["read"]["status"] in ("ok", "cached")
    html = (out / "report.html").read_text()
    for name, st in res["steps"].items():
        # every stage that is not built is reported as such, with its reason, in both outputs
        if st["status"] == "not_available":
            assert st["reason"] and st["reason"] in html
    return html


def test_real_nifti_end_to_end(totalseg_dir, tmp_path):
    out = tmp_path / "nifti"
    r = run_case(totalseg_dir / "example_ct.nii.gz", out,
                 RunOptions(sex="male", weight_kg=70, height_cm=175, fe=False), progress=None)
    assert r.exit_code == 0, r.manifest["steps"]
    res = json.loads((out / "results.json").read_text())
    html = _check_common(out, res)
    if res["steps"]["vertebrae"]["status"] != "ok":
        pytest.skip("vertebra stage not available")
    in_view = [lv for lv, d in res["levels"].items() if d["vertebra"] is not None]
    assert in_view[-1] == "L5" and in_view[0] in ("T11", "T12"), in_view
    fov = [w["message"] for w in res["warnings"] if w["message"].startswith("partial field of view")]
    assert len(fov) == 1 and f"only {in_view[0]}–L5 in view" in fov[0] and "T1, " in fov[0]
    assert fov[0] in html
    assert res["levels"]["T5"]["label_status"] == "not_in_view" and res["levels"]["T5"]["bone"] is None
    if res["steps"]["bone"]["status"] == "ok":
        for lv in ("L1", "L2", "L3", "L4", "L5"):
            s = res["levels"][lv]["summary"]
            assert s["trabecular_bmd_mg_cm3"] is not None and s["strength_N"] is not None
    if res["steps"]["risk"]["status"] == "ok":
        for lv in ("L1", "L2", "L3", "L4", "L5"):
            assert res["levels"][lv]["summary"]["max_lsr"] is not None
        assert res["activities"]


def test_real_dicom_end_to_end_with_seg_and_sr(totalseg_dir, tmp_path):
    out = tmp_path / "dicom"
    r = run_case(totalseg_dir / "example_ct_dicom", out, RunOptions(fe=False), progress=None)
    assert r.exit_code == 0, r.manifest["steps"]
    res = json.loads((out / "results.json").read_text())
    _check_common(out, res)
    assert res["case"]["input_format"] == "dicom"
    if res["steps"]["vertebrae"]["status"] != "ok":
        pytest.skip("vertebra stage not available")
    assert (out / "vertebrae_seg.dcm").exists()
    msgs = " | ".join(w["message"] for w in res["warnings"])
    assert "partial field of view: only" in msgs and "L5" in msgs.split("partial field of view")[1].split("|")[0]
    if res["steps"]["muscles"]["status"] == "ok":
        assert (out / "muscles_seg.dcm").exists()
    if res["steps"]["bone"]["status"] == "ok":
        import highdicom as hd
        import pydicom

        from spinemets.report.dicom_sr import read_measurement_report

        sr = hd.sr.srread(str(out / "report_sr.dcm"))
        seg = pydicom.dcmread(out / "vertebrae_seg.dcm")
        groups = sr.content.get_volumetric_roi_measurement_groups()
        in_view = [lv for lv, d in res["levels"].items() if d["bone"] is not None]
        assert len(groups) == len(in_view) >= 1
        assert all(g.referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID for g in groups)
        back = read_measurement_report(out / "report_sr.dcm")
        for lv in in_view:
            assert back[lv]["Trabecular volumetric bone mineral density (K2HPO4 equivalent)"] == pytest.approx(
                res["levels"][lv]["bone"]["trabecular_bmd_mg_cm3"], rel=1e-4)
        assert sr.StudyInstanceUID == seg.StudyInstanceUID

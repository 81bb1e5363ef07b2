"""QCT and strength on the real TotalSegmentator example CT (3 mm, T11 partial to sacrum)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from spinemets import anatomy
from spinemets.image import CTImage, LabelMap
from spinemets.qct import assess_bone

LUMBAR = ["L1", "L2", "L3", "L4", "L5"]


def _load(totalseg_dir):
    sitk = pytest.importorskip("SimpleITK")
    ct = CTImage.from_sitk(sitk.ReadImage(str(totalseg_dir / "example_ct.nii.gz")))
    seg = sitk.GetArrayFromImage(sitk.ReadImage(str(totalseg_dir / "example_seg_fast_force_split.nii.gz")))
    v = anatomy.from_totalseg_total(seg)
    vert = LabelMap(v.astype(np.uint16), ct.geometry, anatomy.label_table(np.unique(v)))
    rep = totalseg_dir / "spine_report" / "example_ct_report"
    b = sitk.GetArrayFromImage(sitk.ReadImage(str(rep / "totalseg_vertebrae_body.nii.gz")))
    bodies = LabelMap((b == 1).astype(np.uint16), ct.geometry, {1: "vertebral_body"})
    ref = json.loads((rep / "spine_report.json").read_text())["results"]
    return ct, vert, bodies, ref


@pytest.fixture(scope="module")
def real(totalseg_dir):
    ct, vert, bodies, ref = _load(totalseg_dir)
    return assess_bone(ct, vert, bodies, fe=True, fe_element_mm=1.5), ref, (ct, vert, totalseg_dir)


@pytest.mark.slow
def test_trabecular_hu_matches_totalsegmentator(real):
    res, ref, _ = real
    for lv in LUMBAR:
        e = res["levels"][lv]
        assert e["status"] == "ok"
        assert abs(e["trabecular_hu_median"] - ref[f"vertebrae_{lv}_intensity_median"]) <= 15.0, lv
    cal = res["calibration"]
    assert cal["method"].startswith("phantomless")
    th = cal["samples"]["tissue_hu"]
    assert th["air"] < -950 and -130 < th["adipose"] < -70 and 0 < th["blood"] < 80 and 0 < th["muscle"] < 70
    assert res["disclaimer"] and res["spinemets_version"]


@pytest.mark.slow
def test_body_heights_against_totalsegmentator(real):
    """Heights follow the spine report's convention (qct/shape.py). With the issue's inputs
    (vertebrae_body label 1 x vertebra, 18 % larger than TotalSegmentator's own refined body
    masks) and with the refined masks the report itself measured on (its L1-L5 volumes match
    them), every height agrees within 3 mm."""
    res, ref, (ct, vert, d) = real
    diffs = [abs(res["levels"][lv][f"height_{p}_mm"] - ref[f"vertebrae_{lv}_height_{p}_mm"])
             for lv in LUMBAR for p in ("anterior", "middle", "posterior")]
    assert max(diffs) <= 5.0, diffs
    sitk = pytest.importorskip("SimpleITK")
    pp = sitk.GetArrayFromImage(sitk.ReadImage(str(d / "spine_report" / "test_result" /
                                                   "totalseg_vertebrae_pp_refined.nii.gz")))
    own = LabelMap(pp.astype(np.uint16), ct.geometry, {})  # vertebrae_pp ids = VerSe ids
    res2 = assess_bone(ct, vert, own, fe=False)
    diffs2 = [abs(res2["levels"][lv][f"height_{p}_mm"] - ref[f"vertebrae_{lv}_height_{p}_mm"])
              for lv in LUMBAR for p in ("anterior", "middle", "posterior")]
    assert np.median(diffs2) <= 1.5 and max(diffs2) <= 3.0, diffs2
    assert res["levels"]["L5"]["wedge_ratio"] > 1.0  # lordotic L5: taller in front


@pytest.mark.slow
def test_strengths_plausible_and_rising_caudally(real):
    res, _, _ = real
    t12 = res["levels"]["T12"]
    # T12 is cut by the scan's top edge: its last slice holds a full cross-section (no end plate),
    # so heights and strengths, which need the whole body, are null with the reason
    assert t12["status"] == "warning" and "field of view" in " ".join(t12["warnings"])
    assert all(v is None for v in t12["strength_N"].values()) and t12["height_middle_mm"] is None
    assert t12["trabecular_bmd_mg_cm3"] is not None
    for lv in LUMBAR:
        for m, f in res["levels"][lv]["strength_N"].items():
            assert 2000.0 <= f <= 10000.0, (lv, m, f)
        assert res["levels"][lv]["strength_inputs"]["rigidity"]["section_rule"] == "between_end_plates"
    for m in ("density_area", "fe"):
        f = [res["levels"][lv]["strength_N"][m] for lv in LUMBAR]
        assert spearmanr(range(len(f)), f).statistic >= 0.9, (m, f)
    fe = [res["levels"][lv]["strength_N"]["fe"] for lv in LUMBAR]
    assert fe[-1] / fe[0] > 1.1  # L5 stronger than L1 (science.md 2.4: +23 %)


@pytest.mark.slow
def test_body_heights_issue_target_3mm(real):
    res, ref, _ = real
    diffs = [abs(res["levels"][lv][f"height_{p}_mm"] - ref[f"vertebrae_{lv}_height_{p}_mm"])
             for lv in LUMBAR for p in ("anterior", "middle", "posterior")]
    assert max(diffs) <= 3.0, diffs


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 5 target not met for T12 only: T12's body is cut by the "
                   "scan's top edge (last slice = 102 % of its median cross-section, trabecular HU, no "
                   "end plate), so its strengths are null by design (visible part: DA 4.3, CTRA 2.6, "
                   "FE 4.6 kN); L1-L5 are 3.6-8.3 kN in all three methods")
def test_t12_to_l5_strengths_issue_range(real):
    res, _, _ = real
    for lv in ["T12"] + LUMBAR:
        for m, f in res["levels"][lv]["strength_N"].items():
            assert f is not None and 2000.0 <= f <= 10000.0, (lv, m, f)

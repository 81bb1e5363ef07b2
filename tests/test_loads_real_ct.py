"""Subject model and loads from a real CT spine (TotalSegmentator example: T12-L5 labels of a
real abdominal CT, model outputs) through ``SubjectModel.from_ct_outputs``."""

from __future__ import annotations

import numpy as np
import pytest

from spinemets.mechanics import SubjectModel, compute_loads, compute_risk, load_activities

TS_IDS = {"T12": 32, "L1": 31, "L2": 30, "L3": 29, "L4": 28, "L5": 27}


@pytest.fixture(scope="module")
def real_vertebrae(totalseg_dir):
    nib = pytest.importorskip("nibabel")
    from scipy import ndimage as ndi

    img = nib.load(str(totalseg_dir / "example_seg_fast_force_split.nii.gz"))
    lab = np.asarray(img.dataobj).astype(np.int32)
    levels = {}
    for lv, i in TS_IDS.items():
        ijk = np.array(ndi.center_of_mass(lab == i))
        ras = img.affine[:3, :3] @ ijk + img.affine[:3, 3]
        levels[lv] = {"label": i, "centroid_lps_mm": [-ras[0], -ras[1], ras[2]],
                      "status": "ok"}
    return {"levels": levels}


def test_real_ct_subject_and_loads(real_vertebrae):
    s = SubjectModel.from_ct_outputs(real_vertebrae, None, sex="male")
    assert all(s.provenance["levels"][lv]["geometry"] == "ct" for lv in TS_IDS)
    assert s.provenance["levels"]["T1"]["geometry"] == "default_filled"
    assert 150 <= s.height_cm <= 200, s.height_cm  # adult stature from the lumbar spacing
    # CT vertebral spacing is kept: adjacent centroid distances equal the CT ones
    ct = np.array([real_vertebrae["levels"][lv]["centroid_lps_mm"] for lv in TS_IDS])
    idx = [s.levels.index(lv) for lv in TS_IDS]
    np.testing.assert_allclose(np.linalg.norm(np.diff(s.centroids_mm[idx], axis=0), axis=1),
                               np.linalg.norm(np.diff(ct, axis=0), axis=1), atol=1e-6)
    acts = [a for a in load_activities() if a.id in ("standing", "flexion_45", "lift_stoop_20kg")]
    out = compute_loads(s, acts)["activities"]
    st = {lv: out["standing"]["levels"][lv]["compression_N"] for lv in TS_IDS}
    assert all(v is not None for v in st.values())
    assert 0.5 * s.weight_kg * 9.81 < st["L3"] < 1.3 * s.weight_kg * 9.81
    r45 = out["flexion_45"]["levels"]["L4"]["compression_N"] / st["L4"]
    rlift = out["lift_stoop_20kg"]["levels"]["L4"]["compression_N"] / st["L4"]
    assert 1.5 < r45 < rlift

    bone = {"levels": {lv: {"strength_N": {"fe": 4000.0, "rigidity": None, "density_area": None}}
                       for lv in TS_IDS}}
    bone["levels"]["L2"]["strength_N"]["fe"] = 2000.0  # a lytic L2
    risk = compute_risk(compute_loads(s, acts), bone)
    lsr = {lv: risk["activities"]["lift_stoop_20kg"]["levels"][lv]["lsr"] for lv in TS_IDS}
    assert lsr["L2"] > lsr["L1"] and lsr["L2"] > lsr["L3"]

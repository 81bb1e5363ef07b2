"""Phantom study folder (DICOM CT + SEG, NIfTI, JSON), CLI, follow-ups and configuration errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinemets import DISCLAIMER
from spinemets.errors import InputError


def test_study_files(phantom_study_dir, phantom_small):
    d = phantom_study_dir
    for name in ("ct.nii.gz", "vertebrae.nii.gz", "vertebral_bodies.nii.gz", "muscles.nii.gz", "lesions.nii.gz",
                 "labels.nii.gz", "truth.json", "clinical.json", "vertebrae.labels.json", "muscles.labels.json"):
        assert (d / name).is_file(), name
    truth = json.loads((d / "truth.json").read_text())
    for key in ("seed", "config", "coordinate_system", "hu_bmd_law", "subject", "tissue_hu", "vertebrae", "lesions",
                "muscles", "calibration_rods", "followups", "notes", "disclaimer", "spinemets_version"):
        assert key in truth, key
    assert truth["coordinate_system"] == "LPS" and truth["disclaimer"] == DISCLAIMER
    assert truth["vertebrae"]["L1"]["label"] == 20
    clin = json.loads((d / "clinical.json").read_text())
    assert clin["vertebrae"]["L1"]["lesion_class"] == "lytic"
    assert clin["vertebrae"]["T12"]["lesion_class"] == "blastic"
    assert clin["vertebrae"]["L3"]["lesion_class"] == "none"
    assert clin["sex"] in ("F", "M") and clin["synthetic"] is True
    labels = json.loads((d / "vertebrae.labels.json").read_text())
    assert labels["20"] == "vertebrae_L1"


def test_nifti_round_trip(phantom_study_dir, phantom_small):
    from spinemets.io import read_ct, read_label_map

    ct = read_ct(phantom_study_dir / "ct.nii.gz")
    assert np.array_equal(ct.array.astype(np.int16), phantom_small.ct.array)
    assert ct.geometry.is_same_grid(phantom_small.ct.geometry)
    vert = read_label_map(phantom_study_dir / "vertebrae.nii.gz")
    assert np.array_equal(vert.array, phantom_small.vertebrae.array)
    assert vert.labels[20] == "vertebrae_L1"


def test_dicom_ct_and_seg_round_trip(phantom_study_dir, phantom_small):
    from spinemets.io import read_ct, read_seg

    ct = read_ct(phantom_study_dir / "dicom" / "CT")
    assert ct.metadata.get("modality") == "CT"
    assert ct.geometry.is_same_grid(phantom_small.ct.geometry, tol_mm=0.01)
    assert np.abs(ct.array.astype(np.int32) - phantom_small.ct.array.astype(np.int32)).max() <= 1
    seg = read_seg(phantom_study_dir / "dicom" / "SEG" / "vertebrae_seg.dcm", ct)
    assert np.array_equal(seg.array, phantom_small.vertebrae.array)
    import pydicom

    ds = pydicom.dcmread(sorted((phantom_study_dir / "dicom" / "CT").glob("*.dcm"))[0], stop_before_pixels=True)
    assert str(ds.PatientID).startswith("PHANTOM-")
    assert "PatientBirthDate" not in ds or not ds.PatientBirthDate


def test_followups_transforms_recover_positions(phantom_factory):
    ph = phantom_factory(5, followup_months=(3, 12), lesions=[("L2", "lytic", "body", 9.0), ("T9", "blastic", "body", 6.0)])
    assert len(ph.followups) == 2 and len(ph.truth["followups"]) == 2
    geo = ph.ct.geometry
    for fu, entry in zip(ph.followups, ph.truth["followups"]):
        assert fu.truth["months"] == entry["months"]
        pose = entry["pose"]
        moved = abs(pose["roll_deg"]) > 0.5 or np.linalg.norm(pose["shift_mm"]) > 1 or pose["phi_offset_deg"] != 0
        assert moved
        errs, naive = [], []
        for lv, T in entry["transforms_lps"].items():
            b, f = ph.truth["vertebrae"].get(lv), fu.truth["vertebrae"].get(lv)
            if not b or not f or f["fracture"] or b["touches_border"] or f["touches_border"]:
                continue
            T = np.asarray(T)
            assert np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-6)  # rigid
            for key in ("body_centroid_lps_mm", "centroid_lps_mm"):
                p = np.r_[b[key], 1.0]
                errs.append(np.linalg.norm((T @ p)[:3] - np.asarray(f[key])))
            naive.append(np.linalg.norm(np.asarray(b["body_centroid_lps_mm"]) - f["body_centroid_lps_mm"]))
        assert len(errs) >= 20
        assert max(errs) < 1.0 * max(geo.spacing_mm), max(errs)  # within one voxel
        assert max(naive) > 3.0  # the pose really changed
        # lesion changes recorded and visible in the volumes
        base_vol = {e["id"]: e["volume_mm3"] for e in ph.truth["lesions"]}
        for ch in entry["lesion_changes"]:
            lid = ch["lesion_id"]
            fvol = {e["id"]: e["volume_mm3"] for e in fu.truth["lesions"]}[lid]
            if ch["change"] == "growth":
                assert fvol > base_vol[lid] * 0.95
            elif ch["change"] == "response":
                assert fvol < base_vol[lid]
            elif ch["change"] == "new":
                assert lid not in base_vol and fvol > 0
    assert any(c["change"] == "new" for c in ph.truth["followups"][1]["lesion_changes"])


def test_pathological_fracture(phantom_factory):
    ph = phantom_factory(8, fracture_levels=("L1",), lesions=[])
    ref = phantom_factory(8, lesions=[])
    f, r = ph.truth["vertebrae"]["L1"], ref.truth["vertebrae"]["L1"]
    assert f["fracture"] is not None and r["fracture"] is None
    assert f["height_anterior_mm"] < 0.8 * r["height_anterior_mm"]
    assert f["height_middle_mm"] < r["height_middle_mm"] - 2.0
    assert f["height_posterior_mm"] == pytest.approx(r["height_posterior_mm"], abs=2.5 * ph.ct.geometry.spacing_mm[2])
    # a pathological fracture carries a lytic lesion
    assert any(e["level"] == "L1" and e["class"] == "lytic" for e in ph.truth["lesions"])


def test_partial_fov_and_rods(phantom_factory):
    ph = phantom_factory(2, fov_levels=("T10", "L3"), calibration_rods=True, lesions=[])
    v = ph.truth["vertebrae"]
    assert {"T10", "T11", "T12", "L1", "L2", "L3"} <= {lv for lv, t in v.items() if t["in_fov"]}
    assert "T5" not in v and "L5" not in v
    assert any(t["touches_border"] for t in v.values())
    rods = ph.truth["calibration_rods"]
    assert [r["bmd_mg_cm3"] for r in rods] == [0.0, 50.0, 100.0, 200.0]
    law = ph.truth["hu_bmd_law"]
    geo = ph.ct.geometry
    measured = []
    for r in rods:
        c = geo.lps_to_index_zyx(np.asarray(r["center_lps_mm"]))
        j, i = int(round(c[1])), int(round(c[2]))
        rr = int((r["radius_mm"] - 3.0) / geo.spacing_mm[0])
        roi = ph.ct.array[:, j - rr:j + rr + 1, i - rr:i + rr + 1].astype(float)
        measured.append(roi.mean())
    fit = np.polyfit([r["bmd_mg_cm3"] for r in rods], measured, 1)
    assert fit[0] == pytest.approx(law["slope_hu_per_mg_cm3"], rel=0.05)
    assert fit[1] == pytest.approx(law["intercept_hu"], abs=4.0)


def test_config_errors():
    from spinemets.phantom import PhantomConfig

    with pytest.raises(InputError):
        PhantomConfig(size="huge").resolved()
    with pytest.raises(InputError):
        PhantomConfig(fov_levels=("C2", "L5")).resolved()
    with pytest.raises(InputError):
        PhantomConfig(lesions=[("L1", "cystic", "body", 5.0)]).resolved()
    with pytest.raises(InputError):
        PhantomConfig(slice_mm=10.0).resolved()
    c = PhantomConfig(size="clinical").resolved()
    assert c.pixel_mm <= 0.8 and c.slice_mm <= 1.25 and c.fov_levels == ("T1", "L5")


def test_cli(tmp_path, capsys):
    from spinemets.cli import main

    out = tmp_path / "study"
    rc = main(["phantom", "-o", str(out), "--size", "small", "--seed", "3", "--fov", "T11-L5", "--no-dicom",
               "--lesions", "L2:lytic:body:8,L4:blastic", "--preview"])
    assert rc == 0
    assert (out / "truth.json").is_file() and (out / "preview.png").is_file()
    assert not (out / "dicom").exists()
    t = json.loads((out / "truth.json").read_text())
    assert [(e["level"], e["class"]) for e in t["lesions"]] == [("L2", "lytic"), ("L4", "blastic")]
    assert t["config"]["fov_levels"] == ["T11", "L5"]
    assert "generated in" in capsys.readouterr().out
    assert main(["phantom", "-o", str(tmp_path / "bad"), "--fov", "X1-L5"]) == 2
    assert main(["phantom", "-o", str(tmp_path / "bad"), "--size", "small", "--lesions", "L1:weird"]) == 2
    assert "error" in capsys.readouterr().err


def test_preview_png(phantom_small, tmp_path):
    from spinemets.phantom.preview import write_preview

    p = write_preview(phantom_small, tmp_path / "p.png")
    import matplotlib.image as mpimg

    img = mpimg.imread(p)
    assert img.shape[0] > 300 and img.shape[1] > 600
    assert img[..., :3].std() > 0.05  # not blank


def test_followup_studies_written(phantom_factory, tmp_path):
    from spinemets.phantom import write_study

    ph = phantom_factory(5, followup_months=(3, 12), lesions=[("L2", "lytic", "body", 9.0), ("T9", "blastic", "body", 6.0)])
    out = write_study(ph, tmp_path / "s", dicom=False)
    base = json.loads((out / "truth.json").read_text())
    assert [f["months"] for f in base["followups"]] == [3.0, 12.0]
    for m in (3, 12):
        fu = json.loads((out / f"followup_{m:02d}m" / "truth.json").read_text())
        assert fu["months"] == float(m) and fu["seed"] == base["seed"]
        assert fu["subject"] == base["subject"]
        assert (out / f"followup_{m:02d}m" / "vertebrae.nii.gz").is_file()
        clin = json.loads((out / f"followup_{m:02d}m" / "clinical.json").read_text())
        assert clin["months_from_baseline"] == float(m) and clin["patient_id"] == f"PHANTOM-{base['seed']:05d}"

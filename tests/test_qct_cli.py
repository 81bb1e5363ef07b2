"""``spinemets bone`` end to end on a small phantom (no FE, to stay fast)."""

from __future__ import annotations

import json

import numpy as np

from spinemets import anatomy
from spinemets.cli import main
from spinemets.image import LabelMap
from spinemets.io import write_image, write_label_map


def test_bone_verb_writes_bone_json(phantom_factory, tmp_path):
    ph = phantom_factory(5, calibration_rods=True, lesions=[("L2", "lytic", "body", 8.0)],
                         fov_levels=("L1", "L3"))
    ids = [anatomy.vertebra_id(lv) for lv in ("L1", "L2", "L3")]
    vert = LabelMap(np.where(np.isin(ph.labels.array, ids), ph.labels.array, 0).astype(np.uint16),
                    ph.labels.geometry, anatomy.label_table(ids))
    write_image(ph.ct, tmp_path / "ct.nii.gz")
    write_label_map(vert, tmp_path / "v.nii.gz")
    write_label_map(ph.vertebral_bodies, tmp_path / "b.nii.gz")
    write_label_map(ph.lesions, tmp_path / "l.nii.gz")
    rods = [{"density_mg_cm3": r["bmd_mg_cm3"]} for r in ph.truth["calibration_rods"]]
    (tmp_path / "rods.json").write_text(json.dumps({"rods": rods}))
    out = tmp_path / "out"
    rc = main(["bone", str(tmp_path / "ct.nii.gz"), "--vertebrae", str(tmp_path / "v.nii.gz"),
               "--bodies", str(tmp_path / "b.nii.gz"), "--lesions", str(tmp_path / "l.nii.gz"),
               "--calibration", "phantom", "--rods-json", str(tmp_path / "rods.json"), "--no-fe",
               "-o", str(out)])
    assert rc == 0
    bone = json.loads((out / "bone.json").read_text())
    assert bone["disclaimer"] and bone["spinemets_version"]
    assert bone["calibration"]["method"] == "phantom"
    l2 = bone["levels"]["L2"]
    for key in ("trabecular_bmd_mg_cm3", "integral_bmd_mg_cm3", "trabecular_hu_median", "height_anterior_mm",
                "height_middle_mm", "height_posterior_mm", "wedge_ratio", "biconcavity_ratio",
                "genant_grade", "lesion_fraction", "strength_N", "strength_inputs", "status", "warnings"):
        assert key in l2, key
    assert l2["lesion_fraction"] > 0 and l2["strength_N"]["fe"] is None
    assert l2["strength_inputs"]["fe"]["status"] == "skipped"
    t = ph.truth["vertebrae"]["L2"]["trabecular_bmd_mg_cm3"]
    assert abs(bone["levels"]["L1"]["trabecular_bmd_mg_cm3"] / ph.truth["vertebrae"]["L1"]["trabecular_bmd_mg_cm3"] - 1) < 0.05
    assert t > 0


def test_bone_verb_bad_input_exits_2(tmp_path, capsys):
    rc = main(["bone", str(tmp_path / "missing.nii.gz"), "--vertebrae", "x", "--bodies", "y",
               "-o", str(tmp_path)])
    assert rc == 2
    assert "error" in capsys.readouterr().err


def test_bone_verb_fixed_law_needs_two_numbers(phantom_factory, tmp_path):
    ph = phantom_factory(5, calibration_rods=True, lesions=[("L2", "lytic", "body", 8.0)],
                         fov_levels=("L1", "L3"))
    write_image(ph.ct, tmp_path / "ct.nii.gz")
    write_label_map(ph.vertebral_bodies, tmp_path / "b.nii.gz")
    rc = main(["bone", str(tmp_path / "ct.nii.gz"), "--vertebrae", str(tmp_path / "b.nii.gz"),
               "--bodies", str(tmp_path / "b.nii.gz"), "--calibration", "fixed", "--fixed-law", "0.7",
               "-o", str(tmp_path / "o")])
    assert rc == 2

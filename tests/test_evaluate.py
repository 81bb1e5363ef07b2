"""Dice, HD95 and identification rate on synthetic label maps with known answers."""

import json

import numpy as np
import pytest

from spinemets import anatomy
from spinemets.cli import main
from spinemets.image import Geometry, LabelMap
from spinemets.io import write_label_map
from spinemets.segment import evaluate_vertebrae

L1, L2, L3 = (anatomy.vertebra_id(x) for x in ("L1", "L2", "L3"))


def boxes(shift_z: int = 0, labels=(L3, L2, L1), spacing=(1.0, 1.0, 2.0)) -> LabelMap:
    a = np.zeros((60, 30, 30), np.uint16)
    for k, lab in enumerate(labels):
        z0 = 5 + 18 * k + shift_z
        a[z0:z0 + 14, 8:22, 8:22] = lab
    return LabelMap(a, Geometry(a.shape, spacing), anatomy.label_table(labels))


def test_identical_maps():
    m = evaluate_vertebrae(boxes(), boxes())
    assert m["identification_rate"] == 1.0
    for lv in ("L1", "L2", "L3"):
        assert m["levels"][lv]["dice"] == 1.0 and m["levels"][lv]["hd95_mm"] == 0.0


def test_shift_gives_known_dice_and_hd95():
    m = evaluate_vertebrae(boxes(shift_z=2), boxes())
    # 14-slice boxes shifted by 2 slices: overlap 12/14
    assert m["levels"]["L2"]["dice"] == pytest.approx(12 / 14, abs=1e-4)
    # slice spacing 2 mm: surfaces 4 mm apart on the end faces, 0 on most side faces
    assert 0.0 < m["levels"]["L2"]["hd95_mm"] <= 4.0 + 1e-6
    assert m["identification_rate"] == 1.0


def test_swapped_labels_are_not_identified():
    m = evaluate_vertebrae(boxes(labels=(L2, L3, L1)), boxes())
    assert m["levels"]["L3"]["identified"] is False
    assert m["levels"]["L1"]["identified"] is True
    assert m["identification_rate"] == pytest.approx(1 / 3)


def test_far_prediction_is_not_identified():
    m = evaluate_vertebrae(boxes(shift_z=11), boxes())  # 22 mm away
    assert m["identification_rate"] == 0.0


def test_missing_vertebra_counts_against_rate():
    m = evaluate_vertebrae(boxes(labels=(L3, L2, 0)), boxes())
    assert m["levels"]["L1"]["dice"] == 0.0 and m["levels"]["L1"]["hd95_mm"] is None
    assert m["identification_rate"] == pytest.approx(2 / 3)


def test_totalseg_convention_and_cli(tmp_path):
    ref = boxes()
    ts = np.zeros_like(ref.array)
    inv = {v: k for k, v in anatomy.TOTALSEG_TOTAL_TO_SPINEMETS.items() if k != 26}
    for vid in (L1, L2, L3):
        ts[ref.array == vid] = inv[vid]
    write_label_map(LabelMap(ts, ref.geometry, {}), tmp_path / "ts.nii.gz")
    write_label_map(ref, tmp_path / "ref.nii.gz")
    rc = main(["evaluate", str(tmp_path / "ts.nii.gz"), str(tmp_path / "ref.nii.gz"), "-o",
               str(tmp_path / "m.json"), "--pred-convention", "totalseg"])
    assert rc == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["identification_rate"] == 1.0 and "disclaimer" in m
    assert all(v["dice"] == 1.0 for v in m["levels"].values())


def test_unknown_convention_is_input_error():
    from spinemets.errors import InputError

    with pytest.raises(InputError):
        evaluate_vertebrae(boxes(), boxes(), ref_convention="nonsense")


def test_missing_file_exits_2(tmp_path):
    write_label_map(boxes(), tmp_path / "a.nii.gz")
    rc = main(["evaluate", str(tmp_path / "a.nii.gz"), str(tmp_path / "missing.nii.gz"), "-o",
               str(tmp_path / "m.json")])
    assert rc == 2


def test_error_breakdown_counts_each_category():
    """Truth: L2 box with a rib stub, L1 above; prediction: L2 grown by one rim voxel on one face,
    a neighbour's slab and the rib stub included, and an interior hole."""
    from spinemets.segment.evaluate import error_breakdown

    t = np.zeros((40, 30, 30), np.uint16)
    t[5:15, 8:22, 8:22] = L2
    t[17:27, 8:22, 8:22] = L1
    rib = anatomy.BY_NAME["rib_left_12"].id
    t[8:10, 10:12, 22:26] = rib
    p = np.where(t == L1, L1, 0).astype(np.uint16)
    p[5:15, 8:22, 8:22] = L2
    p[15, 8:22, 8:22] = L2          # rim: 14 x 14 voxels above the true top face (disc/soft)
    p[17, 8:22, 8:22] = L2          # one slab of L1 given to L2 (not touching L2's truth)
    p[8:10, 10:12, 22:26] = L2      # the rib stub
    p[9:11, 12:14, 12:14] = 0       # an interior hole
    geo = Geometry(t.shape, (1.0, 1.0, 1.0))
    b = error_breakdown(LabelMap(p, geo, {}), LabelMap(t, geo, {}))
    assert b["L2"]["fp_border"] == 14 * 14
    assert b["L2"]["fp_neighbour"] == 14 * 14 and b["L1"]["fn_neighbour"] == 14 * 14
    assert b["L2"]["fp_rib"] == 2 * 2 * 4
    assert b["L2"]["fn_missed"] == 2 * 2 * 2 and b["L2"]["fn_border"] == 0
    assert b["L2"]["fp_other"] == 0

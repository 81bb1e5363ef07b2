import json

import nibabel as nib
import numpy as np
import pytest

from spinemets import anatomy


def test_verse_ids():
    assert anatomy.vertebra_id("C1") == 1
    assert anatomy.vertebra_id("T1") == 8
    assert anatomy.vertebra_id("T12") == 19
    assert anatomy.vertebra_id("L1") == 20
    assert anatomy.vertebra_id("L5") == 24
    assert anatomy.vertebra_id("L6") == 25
    assert anatomy.vertebra_id("T13") == 28
    assert anatomy.level_of(20) == "L1"
    assert anatomy.structure("vertebrae_L1").segment_label == "L1 vertebra"
    assert anatomy.structure(20).type_code[1] == "66794005"


def test_ids_and_names_unique_and_muscles_complete():
    ids = [s.id for s in anatomy.STRUCTURES]
    assert len(ids) == len(set(ids))
    for g in anatomy.MUSCLE_GROUPS:
        for side in ("left", "right"):
            s = anatomy.BY_NAME[f"{g}_{side}"]
            assert s.group == "muscle" and s.laterality is not None
            assert s.laterality[2].lower() == side
    assert len(anatomy.MUSCLE_GROUPS) == 11


def test_totalseg_converter_table():
    m = anatomy.TOTALSEG_TOTAL_TO_SPINEMETS
    assert m[27] == anatomy.vertebra_id("L5")
    assert m[31] == anatomy.vertebra_id("L1")
    assert m[32] == anatomy.vertebra_id("T12")
    assert m[43] == anatomy.vertebra_id("T1")
    assert m[44] == anatomy.vertebra_id("C7")
    assert m[50] == anatomy.vertebra_id("C1")
    assert m[25] == anatomy.SACRUM_ID


def test_spinemets_ct_seg_converter():
    arr = np.arange(18).reshape(1, 1, 18)
    out = anatomy.from_spinemets_ct_seg(arr)
    assert out[0, 0, 1] == anatomy.vertebra_id("T1")
    assert out[0, 0, 17] == anatomy.vertebra_id("L5")
    assert out[0, 0, 0] == 0


def test_totalseg_converter_on_real_map(totalseg_dir):
    """Voxel counts per vertebra survive the conversion (README lists them)."""
    arr = np.asarray(nib.load(totalseg_dir / "example_seg_fast_force_split.nii.gz").dataobj)
    out = anatomy.from_totalseg_total(arr)
    for ts_id, level in [(27, "L5"), (28, "L4"), (29, "L3"), (30, "L2"), (31, "L1"), (32, "T12")]:
        assert np.count_nonzero(out == anatomy.vertebra_id(level)) == np.count_nonzero(arr == ts_id) > 1000
    # sacrum and S1 both become sacrum
    assert np.count_nonzero(out == anatomy.SACRUM_ID) == np.count_nonzero((arr == 25) | (arr == 26))
    # muscles and organs are dropped
    assert set(np.unique(out)) <= {0, anatomy.SACRUM_ID} | set(anatomy.VERSE_ID.values())


def test_label_table_names():
    t = anatomy.label_table([0, 20, 101])
    assert t == {20: "vertebrae_L1", 101: "erector_spinae_left"}
    json.dumps(t)
    with pytest.raises(KeyError):
        anatomy.structure("vertebrae_X9")

"""TotalSegmentator backend: output readers on real TotalSegmentator files, and the run paths
(not installed / weights missing / weights present) with a stand-in module, because
TotalSegmentator and its weights are not part of the environment."""

import shutil
import sys
import types

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from spinemets import anatomy
from spinemets.errors import MissingDependencyError
from spinemets.image import CTImage
from spinemets.segment.backends import (load_totalseg_output, run_totalseg_muscles,
                                        run_totalseg_vertebrae)
from spinemets.segment.backends.totalseg import nifti_label_names

LEVELS = ["T11", "T12", "L1", "L2", "L3", "L4", "L5"]


# --- readers on TotalSegmentator's own test files ---------------------------------------------
def test_multilabel_file_vertebrae(totalseg_dir):
    path = totalseg_dir / "example_seg_fast_force_split.nii.gz"
    lm = load_totalseg_output(path, structures="vertebrae")
    raw = np.asarray(nib.load(str(path)).dataobj).astype(int)  # RAS x,y,z order, read independently
    names = nifti_label_names(path)
    assert names[27] == "vertebrae_L5" and names[25] == "sacrum" and names[86] == "autochthon_left"
    for lv in LEVELS:
        ts_id = next(k for k, n in names.items() if n == f"vertebrae_{lv}")
        assert lm.volume_mm3(anatomy.vertebra_id(lv)) == pytest.approx(
            np.count_nonzero(raw == ts_id) * 27.0), lv
    assert np.count_nonzero(lm.array == anatomy.SACRUM_ID) == \
        np.count_nonzero(raw == 25) + np.count_nonzero(raw == 26)  # S1 folds into the sacrum
    assert set(lm.present_ids()) == {anatomy.vertebra_id(lv) for lv in LEVELS} | {anatomy.SACRUM_ID}
    # geometry: our LPS centroid of L1 == nibabel's RAS centroid with x, y negated
    ijk = np.argwhere(raw == 31).mean(axis=0)
    ras = nib.load(str(path)).affine @ np.r_[ijk, 1.0]
    lps = lm.geometry.index_zyx_to_lps(np.argwhere(lm.array == anatomy.vertebra_id("L1")).mean(axis=0))
    np.testing.assert_allclose(lps, [-ras[0], -ras[1], ras[2]], atol=1e-3)


def test_same_voxels_in_mask_folder_and_multilabel_file(totalseg_dir):
    folder = load_totalseg_output(totalseg_dir / "example_seg_fast")
    multi = load_totalseg_output(totalseg_dir / "example_seg_fast.nii.gz")
    assert folder.geometry.is_same_grid(multi.geometry)
    vert = [anatomy.vertebra_id(lv) for lv in ("T11", "T12", "L1", "L2")]
    assert set(vert) <= set(folder.present_ids())
    for vid in vert:
        np.testing.assert_array_equal(folder.array == vid, multi.array == vid)
    np.testing.assert_array_equal(folder.array, multi.array)
    # and the mask file itself, read independently
    l1 = np.asarray(nib.load(str(totalseg_dir / "example_seg_fast" / "vertebrae_L1.nii.gz")).dataobj)
    assert folder.volume_mm3(anatomy.vertebra_id("L1")) == pytest.approx(np.count_nonzero(l1) * 27.0)


def test_file_without_names_uses_total_ids(totalseg_dir, tmp_path):
    img = sitk.ReadImage(str(totalseg_dir / "example_seg_fast_force_split.nii.gz"))
    bare = tmp_path / "bare.nii.gz"
    sitk.WriteImage(img, str(bare))  # SimpleITK drops the name extension
    assert nifti_label_names(bare) == {}
    lm = load_totalseg_output(bare)
    ref = load_totalseg_output(totalseg_dir / "example_seg_fast_force_split.nii.gz", structures="vertebrae")
    np.testing.assert_array_equal(lm.array, ref.array)


# --- run paths ----------------------------------------------------------------------------
@pytest.fixture()
def ct(totalseg_dir):
    return CTImage.from_sitk(sitk.ReadImage(str(totalseg_dir / "example_ct.nii.gz")))


def test_not_installed(ct, monkeypatch):
    monkeypatch.setitem(sys.modules, "totalsegmentator", None)
    with pytest.raises(MissingDependencyError) as e:
        run_totalseg_vertebrae(ct)
    assert str(e.value) == "TotalSegmentator is not installed: pip install TotalSegmentator"
    with pytest.raises(MissingDependencyError, match="not installed"):
        run_totalseg_muscles(ct)


class FakeTotalSegmentator:
    """Stands in for the totalsegmentator package: records calls, writes a given result file."""

    def __init__(self, monkeypatch, result_file=None, class_map=None):
        self.calls, self.config = [], {}
        self.result_file = result_file
        pkg = types.ModuleType("totalsegmentator")
        api = types.ModuleType("totalsegmentator.python_api")
        cfg = types.ModuleType("totalsegmentator.config")
        m2b = types.ModuleType("totalsegmentator.map_to_binary")
        api.totalsegmentator = self.run
        cfg.setup_totalseg = lambda: self.config.setdefault("send_usage_stats", True)
        cfg.set_config_key = lambda k, v: self.config.__setitem__(k, v)
        m2b.class_map = class_map or {}
        for name, mod in [("totalsegmentator", pkg), ("totalsegmentator.python_api", api),
                          ("totalsegmentator.config", cfg), ("totalsegmentator.map_to_binary", m2b)]:
            monkeypatch.setitem(sys.modules, name, mod)

    def run(self, input, output, **kw):
        self.calls.append(dict(kw, input=input, output=output))
        assert self.config.get("send_usage_stats") is False, "usage stats must be off before the run"
        shutil.copy(self.result_file, output)


@pytest.mark.parametrize("fast,dataset", [(True, 297), (False, 291)])
def test_weights_missing_says_where_without_running(ct, monkeypatch, tmp_path, fast, dataset):
    fake = FakeTotalSegmentator(monkeypatch)
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path / "weights"))
    with pytest.raises(MissingDependencyError) as e:
        run_totalseg_vertebrae(ct, fast=fast)
    msg = str(e.value)
    assert "\n" not in msg and f"Dataset{dataset}_" in msg and str(tmp_path / "weights") in msg
    assert fake.calls == []


def test_weights_missing_home_dir(ct, monkeypatch, tmp_path):
    FakeTotalSegmentator(monkeypatch)
    monkeypatch.delenv("TOTALSEG_WEIGHTS_PATH", raising=False)
    monkeypatch.setenv("TOTALSEG_HOME_DIR", str(tmp_path / "tshome"))
    with pytest.raises(MissingDependencyError,
                       match=r"abdominal_muscles.*Dataset952_\*, Dataset300_\* in .*tshome/nnunet/results"):
        run_totalseg_muscles(ct)


def test_run_vertebrae_with_weights(ct, monkeypatch, tmp_path, totalseg_dir):
    fake = FakeTotalSegmentator(monkeypatch, totalseg_dir / "example_seg_fast_force_split.nii.gz")
    (tmp_path / "w" / "Dataset297_TotalSegmentator_total_3mm_1559subj").mkdir(parents=True)
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path / "w"))
    lm = run_totalseg_vertebrae(ct, fast=True, device="cuda")
    (call,) = fake.calls
    assert call["ml"] is True and call["fast"] is True and call["task"] == "total"
    assert call["device"] == "gpu"
    assert lm.geometry.is_same_grid(ct.geometry)
    assert set(lm.present_ids()) == {anatomy.vertebra_id(lv) for lv in LEVELS} | {anatomy.SACRUM_ID}
    ref = load_totalseg_output(totalseg_dir / "example_seg_fast_force_split.nii.gz", structures="vertebrae")
    np.testing.assert_array_equal(lm.array, ref.array)


def test_run_muscles_with_weights(ct, monkeypatch, tmp_path):
    # a stand-in abdominal_muscles result on the CT grid: two boxes, TS ids 15/16 (erector spinae R/L)
    ts_names = {15: "erector_spinae_right", 16: "erector_spinae_left", 19: "psoas_major_right"}
    arr = np.zeros(ct.geometry.shape_zyx, np.uint8)
    arr[40:60, 20:30, 30:40] = 15
    arr[40:60, 20:30, 60:70] = 16
    res = tmp_path / "res.nii.gz"
    sitk.WriteImage(ct.geometry.apply_to_sitk(sitk.GetImageFromArray(arr)), str(res))
    fake = FakeTotalSegmentator(monkeypatch, res, class_map={"abdominal_muscles": ts_names})
    (tmp_path / "w" / "Dataset952_TotalSegmentator_abdominal_muscles").mkdir(parents=True)
    (tmp_path / "w" / "Dataset300_body_6mm_1559subj").mkdir(parents=True)
    monkeypatch.setenv("TOTALSEG_WEIGHTS_PATH", str(tmp_path / "w"))
    lm = run_totalseg_muscles(ct)
    assert fake.calls[0]["task"] == "abdominal_muscles" and fake.calls[0]["device"] == "cpu"
    es_l, es_r = anatomy.BY_NAME["erector_spinae_left"].id, anatomy.BY_NAME["erector_spinae_right"].id
    np.testing.assert_array_equal(lm.array == es_r, arr == 15)
    np.testing.assert_array_equal(lm.array == es_l, arr == 16)
    assert lm.labels == {es_l: "erector_spinae_left", es_r: "erector_spinae_right"}


def test_segment_verb_reports_missing_totalsegmentator_in_one_line(totalseg_dir, tmp_path, monkeypatch, capsys):
    from spinemets import cli

    monkeypatch.setitem(sys.modules, "totalsegmentator", None)
    rc = cli.main(["segment", str(totalseg_dir / "example_ct.nii.gz"), "-o", str(tmp_path / "o"),
                   "--backend", "totalseg"])
    err = capsys.readouterr().err.strip()
    assert rc == 3
    assert err == "spinemets: missing dependency: TotalSegmentator is not installed: pip install TotalSegmentator"

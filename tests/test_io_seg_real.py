"""DICOM SEG round trip on real data: TotalSegmentator's output on the JPEG-2000 example series."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from spinemets import anatomy
from spinemets.image import LabelMap
from spinemets.io import read_ct, read_seg, write_seg


@pytest.fixture(scope="module")
def real(totalseg_dir: Path):
    d = totalseg_dir / "example_ct_dicom"
    seg_nii = totalseg_dir / "example_seg_dicom.nii.gz"
    if not d.is_dir() or not seg_nii.exists():
        pytest.skip("example_ct_dicom / example_seg_dicom.nii.gz missing")
    ct = read_ct(d)
    ts = sitk.ReadImage(str(seg_nii))
    # same world grid, different axis order (the NIfTI runs j anterior): nearest-neighbour resampling
    # onto the CT grid is an exact permutation here
    on_ct = sitk.Resample(ts, ct.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    ts_arr = sitk.GetArrayFromImage(on_ct)
    assert np.array_equal(np.sort(np.unique(ts_arr)), np.sort(np.unique(sitk.GetArrayFromImage(ts))))
    lab = anatomy.from_totalseg_total(ts_arr)
    # TotalSegmentator's autochthon (86/87, patient's left/right) ~ erector spinae, for a lateral pair
    lab[ts_arr == 86] = anatomy.BY_NAME["erector_spinae_left"].id
    lab[ts_arr == 87] = anatomy.BY_NAME["erector_spinae_right"].id
    lm = LabelMap(lab, ct.geometry, anatomy.label_table(np.unique(lab)))
    return ct, lm, d


def test_real_seg_round_trip(real, tmp_path):
    ct, lm, _ = real
    assert set(lm.labels.values()) == {"vertebrae_T11", "vertebrae_T12", "erector_spinae_left",
                                       "erector_spinae_right"}
    out = write_seg(lm, ct.metadata["source_files"], tmp_path / "seg.dcm",
                    clinical_trial_time_point_id="baseline")
    ds = pydicom.dcmread(out)
    assert ds.SegmentationType == "BINARY"
    assert {s.SegmentLabel for s in ds.SegmentSequence} == {"T11 vertebra", "T12 vertebra",
                                                           "Left erector spinae", "Right erector spinae"}
    t12 = [s for s in ds.SegmentSequence if s.SegmentLabel == "T12 vertebra"][0]
    assert t12.SegmentedPropertyTypeCodeSequence[0].CodeValue == anatomy.BY_NAME["vertebrae_T12"].type_code[1]
    ref = ds.ReferencedSeriesSequence[0]
    assert ref.SeriesInstanceUID == ct.metadata["series_instance_uid"]
    assert {i.ReferencedSOPInstanceUID for i in ref.ReferencedInstanceSequence} == \
        set(ct.metadata["sop_instance_uids"])
    back = read_seg(out, ct)
    assert back.geometry.is_same_grid(ct.geometry)
    assert np.array_equal(back.array, lm.array)
    assert back.labels == lm.labels


def test_seg_with_frames_for_some_slices_and_unknown_segment(real, tmp_path):
    """Like Spine-Mets-CT-SEG: frames only where a segment is present; an unknown segment label."""
    ct, lm, _ = real
    out = write_seg(lm, ct.metadata["source_files"], tmp_path / "seg.dcm")
    ds = pydicom.dcmread(out)
    n_slices_with_frames = len({tuple(f.PlanePositionSequence[0].ImagePositionPatient)
                                for f in ds.PerFrameFunctionalGroupsSequence})
    item = [s for s in ds.SegmentSequence if s.SegmentLabel == "Left erector spinae"][0]
    item.SegmentLabel = "Some other structure"
    item.TrackingID = "site-specific"
    item.SegmentedPropertyTypeCodeSequence[0].CodeValue = "999999999"
    ds.save_as(tmp_path / "edited.dcm")
    back = read_seg(tmp_path / "edited.dcm", ct)
    es_l = anatomy.BY_NAME["erector_spinae_left"].id
    assert back.labels[200] == "Some other structure"
    assert np.array_equal(back.array == 200, lm.array == es_l)
    assert np.array_equal(np.where(back.array == 200, 0, back.array), np.where(lm.array == es_l, 0, lm.array))
    assert n_slices_with_frames <= ct.geometry.shape_zyx[0]


def test_seg_from_zip_sources(real, tmp_path):
    ct, lm, d = real
    zp = tmp_path / "ct.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        for f in sorted(d.iterdir()):
            zf.write(f, f.name)
    zct = read_ct(zp)
    out = write_seg(LabelMap(lm.array, zct.geometry, lm.labels), zct.metadata["source_files"], tmp_path / "z.dcm")
    assert np.array_equal(read_seg(out, zct).array, lm.array)


def test_ct_folder_with_its_seg_inside(real, tmp_path):
    """A study folder holding the CT series and a SEG: read_ct still reads the CT."""
    import shutil

    ct, lm, d = real
    folder = tmp_path / "study"
    shutil.copytree(d, folder / "ct")
    write_seg(lm, ct.metadata["source_files"], folder / "seg" / "seg.dcm")
    again = read_ct(folder)
    assert np.array_equal(again.array, ct.array) and again.metadata["n_series_found"] == 2
    assert {s["modality"] for s in again.metadata["series_found"]} == {"CT", "SEG"}

"""DICOM CT series writer and DICOM SEG writer/reader on small synthetic volumes."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from spinemets import anatomy
from spinemets.errors import InputError
from spinemets.image import CTImage, Geometry, LabelMap
from spinemets.io import read_seg, write_ct_series, write_seg


@pytest.fixture()
def small_ct() -> CTImage:
    rng = np.random.default_rng(1)
    arr = rng.integers(-1100, 2500, (5, 24, 30)).astype(np.int16)
    # oblique-free but non-trivial geometry: anisotropic spacing, offset origin
    g = Geometry((5, 24, 30), (0.7, 0.8, 2.5), (-12.5, -30.25, -410.0))
    return CTImage(arr, g)


def test_ct_series_is_valid_and_exact(small_ct, tmp_path):
    files = write_ct_series(small_ct, tmp_path / "ct", series_description="phantom",
                            clinical_trial_time_point_id="baseline", study_date="20240102")
    assert len(files) == 5
    ds = [pydicom.dcmread(f) for f in files]
    assert len({d.SeriesInstanceUID for d in ds}) == 1
    assert len({d.StudyInstanceUID for d in ds}) == 1
    assert len({d.FrameOfReferenceUID for d in ds}) == 1
    assert len({d.SOPInstanceUID for d in ds}) == 5
    assert all(d.SOPClassUID == pydicom.uid.CTImageStorage for d in ds)
    assert ds[0].PatientIdentityRemoved == "YES" and ds[0].PatientID == "ANON"
    assert ds[0].ClinicalTrialTimePointID == "baseline" and ds[0].StudyDate == "20240102"
    assert float(ds[0].RescaleIntercept) == -1024.0
    # an independent reader (ITK/GDCM) sees the same HU and geometry
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in files])
    img = reader.Execute()
    assert np.array_equal(sitk.GetArrayFromImage(img), small_ct.array)
    assert np.allclose(img.GetSpacing(), small_ct.geometry.spacing_mm)
    assert np.allclose(img.GetOrigin(), small_ct.geometry.origin_lps_mm)
    assert np.allclose(img.GetDirection(), small_ct.geometry.direction)


def test_seg_round_trip_with_laterality(small_ct, tmp_path):
    files = write_ct_series(small_ct, tmp_path / "ct")
    lab = np.zeros(small_ct.array.shape, np.uint16)
    l1, es_l, es_r = anatomy.vertebra_id("L1"), anatomy.BY_NAME["erector_spinae_left"].id, \
        anatomy.BY_NAME["erector_spinae_right"].id
    lab[1:4, 3:10, 3:12] = l1
    lab[0:3, 12:20, 2:10] = es_l
    lab[2:5, 12:20, 15:25] = es_r
    lm = LabelMap(lab, small_ct.geometry, anatomy.label_table([l1, es_l, es_r]))
    out = write_seg(lm, files, tmp_path / "seg.dcm")
    seg = pydicom.dcmread(out)
    assert seg.Modality == "SEG" and seg.SegmentationType == "BINARY"
    labels = {s.SegmentLabel for s in seg.SegmentSequence}
    assert labels == {"L1 vertebra", "Left erector spinae", "Right erector spinae"}
    right = [s for s in seg.SegmentSequence if s.SegmentLabel == "Right erector spinae"][0]
    mod = right.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0]
    assert mod.CodeValue == anatomy.RIGHT[1]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == pydicom.dcmread(files[0]).SeriesInstanceUID
    back = read_seg(out, small_ct)
    assert np.array_equal(back.array, lab)
    assert back.geometry.is_same_grid(small_ct.geometry)
    assert back.labels == lm.labels


def test_seg_lesion_names(small_ct, tmp_path):
    files = write_ct_series(small_ct, tmp_path / "ct")
    lab = np.zeros(small_ct.array.shape, np.uint16)
    lab[1:3, 2:6, 2:6] = 1
    lab[3:5, 10:14, 10:14] = 2
    names = {i: f"lesion_{c}" for i, c in anatomy.LESION_CLASSES.items()}
    out = write_seg(LabelMap(lab, small_ct.geometry, names), files, tmp_path / "lesions.dcm")
    seg = pydicom.dcmread(out)
    assert {s.SegmentLabel for s in seg.SegmentSequence} == {"Lytic lesion", "Blastic lesion"}
    back = read_seg(out, small_ct)
    assert np.array_equal(back.array, lab)
    assert back.labels == {1: "lesion_lytic", 2: "lesion_blastic"}


def test_seg_rejects_off_grid_or_empty(small_ct, tmp_path):
    files = write_ct_series(small_ct, tmp_path / "ct")
    empty = LabelMap(np.zeros(small_ct.array.shape, np.uint16), small_ct.geometry, {})
    with pytest.raises(InputError, match="empty"):
        write_seg(empty, files, tmp_path / "x.dcm")
    g = small_ct.geometry
    shifted = Geometry(g.shape_zyx, g.spacing_mm, (g.origin_lps_mm[0] + 0.35, *g.origin_lps_mm[1:]))
    lab = np.ones(g.shape_zyx, np.uint16) * anatomy.vertebra_id("L2")
    with pytest.raises(InputError, match="grid"):
        write_seg(LabelMap(lab, shifted, {}), files, tmp_path / "x.dcm")
    with pytest.raises(InputError, match="slices"):
        write_seg(LabelMap(lab, g, {}), files[:-1], tmp_path / "x.dcm")


def test_seg_compressed_round_trip(tmp_path):
    g = Geometry((3, 40, 48), (0.9, 0.9, 3.0), (5.0, -7.0, 12.0))
    small_ct = CTImage(np.full(g.shape_zyx, -1000, np.int16), g)
    files = write_ct_series(small_ct, tmp_path / "ct")
    lab = np.zeros(small_ct.array.shape, np.uint16)
    lab[1:4, 3:20, 3:25] = anatomy.vertebra_id("L3")
    lm = LabelMap(lab, small_ct.geometry, anatomy.label_table([anatomy.vertebra_id("L3")]))
    out = write_seg(lm, files, tmp_path / "seg.dcm", compress=True)
    assert pydicom.dcmread(out).file_meta.TransferSyntaxUID == pydicom.uid.JPEG2000Lossless
    assert np.array_equal(read_seg(out, small_ct).array, lab)


def test_float_hu_rounded_and_negative_direction(tmp_path):
    """Float HU are rounded; a left-handed grid (k against the normal) is read back as the same image."""
    from spinemets.io import read_ct

    arr = np.linspace(-1000.4, 1500.6, 4 * 10 * 12).reshape(4, 10, 12).astype(np.float32)
    d = np.diag([1.0, 1.0, -1.0])  # slices stacked downwards
    g = Geometry(arr.shape, (1.0, 1.0, 2.0), (0.0, 0.0, 100.0), tuple(d.ravel()))
    write_ct_series(CTImage(arr, g), tmp_path / "ct")
    ct = read_ct(tmp_path / "ct")
    assert np.array_equal(ct.array, np.rint(arr[::-1]).astype(np.int16))
    assert np.allclose(ct.geometry.origin_lps_mm, (0.0, 0.0, 94.0))
    assert np.allclose(ct.geometry.direction_matrix, np.eye(3))


def test_seg_labelmap_type_round_trip(small_ct, tmp_path):
    files = write_ct_series(small_ct, tmp_path / "ct")
    lab = np.zeros(small_ct.array.shape, np.uint16)
    ids = [anatomy.vertebra_id("L4"), anatomy.vertebra_id("L5"), anatomy.BY_NAME["psoas_major_left"].id]
    lab[0:2, 2:10, 2:10] = ids[0]
    lab[2:5, 2:10, 2:10] = ids[1]
    lab[1:4, 12:20, 5:25] = ids[2]
    lm = LabelMap(lab, small_ct.geometry, anatomy.label_table(ids))
    out = write_seg(lm, files, tmp_path / "lm.dcm", segmentation_type="LABELMAP")
    ds = pydicom.dcmread(out)
    assert ds.SegmentationType == "LABELMAP" and int(ds.NumberOfFrames) <= 5
    back = read_seg(out, small_ct)
    assert np.array_equal(back.array, lab) and back.labels == lm.labels


def test_read_fractional_seg_and_errors(small_ct, tmp_path):
    """A FRACTIONAL SEG made by highdicom directly (not by write_seg) is thresholded at 50 %."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    files = write_ct_series(small_ct, tmp_path / "ct")
    sources = [pydicom.dcmread(f) for f in files]
    prob = np.zeros(small_ct.array.shape, np.float32)
    prob[1:4, 5:15, 5:15] = 0.8
    prob[1:4, 15:20, 5:15] = 0.3
    s = anatomy.BY_NAME["vertebrae_L2"]
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="L2 vertebra",
        segmented_property_category=hd.sr.CodedConcept(s.category[1], s.category[0], s.category[2]),
        segmented_property_type=hd.sr.CodedConcept(s.type_code[1], s.type_code[0], s.type_code[2]),
        algorithm_type="AUTOMATIC",
        algorithm_identification=hd.AlgorithmIdentificationSequence("x", codes.cid7162.ArtificialIntelligence, "1"))
    seg = hd.seg.Segmentation(sources, prob, "FRACTIONAL", [desc], hd.UID(), 5, hd.UID(), 1, "test", "test", "1", "1")
    seg.save_as(tmp_path / "frac.dcm")
    back = read_seg(tmp_path / "frac.dcm", small_ct)
    assert back.labels == {s.id: "vertebrae_L2"}
    assert np.array_equal(back.array == s.id, prob >= 0.5)
    with pytest.raises(InputError, match="not a DICOM SEG"):
        read_seg(files[0], small_ct)
    g = small_ct.geometry
    other = CTImage(small_ct.array, Geometry(g.shape_zyx, (1.0, 1.0, 2.5), g.origin_lps_mm))
    with pytest.raises(InputError, match="pixel spacing"):
        read_seg(tmp_path / "frac.dcm", other)
    far = CTImage(small_ct.array, Geometry(g.shape_zyx, g.spacing_mm, (0.0, 0.0, 900.0)))
    with pytest.raises(InputError, match="grid|inside"):
        read_seg(tmp_path / "frac.dcm", far)

"""read_ct on the real TotalSegmentator example data and on broken copies of its DICOM series."""

from __future__ import annotations

import random
import shutil
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from spinemets.errors import InputError, NotCTError
from spinemets.image import CTImage, Geometry
from spinemets.io import read_ct, write_ct_series


@pytest.fixture(scope="module")
def dicom_dir(totalseg_dir: Path) -> Path:
    d = totalseg_dir / "example_ct_dicom"
    if not d.is_dir():
        pytest.skip("example_ct_dicom missing")
    return d


@pytest.fixture(scope="module")
def dicom_ct(dicom_dir: Path) -> CTImage:
    return read_ct(dicom_dir)


def _copy(src: Path, dst: Path) -> list[Path]:
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for f in sorted(src.iterdir()):
        shutil.copy(f, dst / f.name)
        out.append(dst / f.name)
    return out


def _sorted_by_z(files: list[Path]) -> list[Path]:
    return sorted(files, key=lambda f: float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]))


# --- real data ---------------------------------------------------------------------------------
def test_nifti_geometry_lps_and_hu(totalseg_dir):
    path = totalseg_dir / "example_ct.nii.gz"
    ct = read_ct(path)
    assert ct.geometry.shape_zyx == (112, 101, 122)
    assert ct.geometry.spacing_mm == pytest.approx((3.0, 3.0, 3.0))
    # nibabel gives the RAS affine; LPS = diag(-1, -1, 1) @ RAS
    aff = nib.load(str(path)).affine
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff
    assert np.allclose(ct.geometry.affine_lps, lps, atol=1e-3)
    assert ct.geometry.direction_matrix[0, 0] == pytest.approx(-1.0)  # i runs to patient's Right
    assert ct.array.min() == -1207 and ct.array.max() == 3382
    assert ct.metadata["input_format"] == "nifti" and ct.metadata["modality"] == "CT"
    # voxel values identical to nibabel's (after the [z,y,x] transpose)
    ref = np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)
    assert np.array_equal(ct.array, ref)


def test_jpeg2000_series_matches_simpleitk(dicom_dir, dicom_ct):
    ct = dicom_ct
    assert ct.geometry.shape_zyx == (20, 512, 512)
    assert ct.geometry.spacing_mm == pytest.approx((0.9765625, 0.9765625, 2.0))
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(dicom_dir)))
    img = r.Execute()
    assert np.array_equal(sitk.GetArrayFromImage(img).astype(np.int32), ct.array.astype(np.int32))
    assert np.allclose(img.GetOrigin(), ct.geometry.origin_lps_mm)
    assert np.allclose(img.GetDirection(), ct.geometry.direction)
    m = ct.metadata
    assert m["modality"] == "CT" and m["input_format"] == "dicom"
    assert m["transfer_syntax_uid"] == "1.2.840.10008.1.2.4.90"
    assert m["kvp"] == 120.0 and m["contrast_agent"] == "APPLIED"
    assert m["slice_thickness_mm"] == 3.0 and m["slice_gap_mm"] == pytest.approx(-1.0)
    assert len(m["source_files"]) == 20 and m["n_series_found"] == 1
    assert m["series_instance_uid"] and m["study_instance_uid"]  # derived: blank in these files
    assert any("blank" in w for w in m["warnings"])
    z = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in m["source_files"]]
    assert z == sorted(z)
    assert ct.array.min() == -1024 and ct.array.max() == 1839


def test_zip_of_series(dicom_dir, dicom_ct, tmp_path):
    zp = tmp_path / "series.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        for f in sorted(dicom_dir.iterdir()):
            zf.write(f, f"study/ct/{f.name}")
    ct = read_ct(zp)
    assert ct.metadata["input_format"] == "zip"
    assert np.array_equal(ct.array, dicom_ct.array)
    assert ct.geometry.is_same_grid(dicom_ct.geometry)
    assert ct.metadata["series_instance_uid"] == dicom_ct.metadata["series_instance_uid"]
    assert all("::study/ct/" in s for s in ct.metadata["source_files"])


def test_shuffled_renamed_files_keep_order(dicom_dir, dicom_ct, tmp_path):
    files = sorted(dicom_dir.iterdir())
    names = [f"img{i:03d}" for i in range(len(files))]
    random.Random(7).shuffle(names)
    nested = tmp_path / "shuffled"
    for f, n in zip(files, names):
        sub = nested / ("a" if int(n[3:]) % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, sub / n)
    ct = read_ct(nested)
    assert np.array_equal(ct.array, dicom_ct.array)
    assert ct.geometry.is_same_grid(dicom_ct.geometry)


def test_written_series_round_trip_exact(tmp_path):
    rng = np.random.default_rng(3)
    arr = rng.integers(-1024, 3000, (7, 20, 26)).astype(np.int16)
    ang = np.deg2rad(8.0)  # a rotated (oblique in-plane) but right-handed grid
    d = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
    g = Geometry(arr.shape, (0.68, 0.74, 1.25), (-80.2, 33.3, -512.75), tuple(d.ravel()))
    files = write_ct_series(CTImage(arr, g), tmp_path / "ct", series_description="roundtrip")
    ct = read_ct(tmp_path / "ct")
    assert np.array_equal(ct.array, arr) and ct.array.dtype == np.int16
    assert ct.geometry.shape_zyx == g.shape_zyx
    assert np.allclose(ct.geometry.spacing_mm, g.spacing_mm, atol=1e-6)
    assert np.allclose(ct.geometry.origin_lps_mm, g.origin_lps_mm, atol=1e-6)
    assert np.allclose(ct.geometry.direction, g.direction, atol=1e-6)
    assert ct.metadata["source_files"] == [str(f) for f in files]
    assert ct.metadata["series_instance_uid"] == pydicom.dcmread(files[0]).SeriesInstanceUID
    assert not ct.metadata["warnings"]


def test_several_series_choose_largest_or_by_uid(dicom_dir, tmp_path):
    folder = tmp_path / "mixed"
    _copy(dicom_dir, folder / "big")
    small = CTImage(np.full((4, 16, 16), -1000, np.int16), Geometry((4, 16, 16), (1.0, 1.0, 3.0)))
    files = write_ct_series(small, folder / "small")
    uid = pydicom.dcmread(files[0]).SeriesInstanceUID
    ct = read_ct(folder)
    assert ct.geometry.shape_zyx == (20, 512, 512) and ct.metadata["n_series_found"] == 2
    assert any("2 CT series" in w for w in ct.metadata["warnings"])
    ct2 = read_ct(folder, series_uid=uid)
    assert ct2.geometry.shape_zyx == (4, 16, 16)
    with pytest.raises(InputError, match="not found"):
        read_ct(folder, series_uid="1.2.3.4")


# --- broken inputs -------------------------------------------------------------------------------
def test_missing_middle_slice_is_located(dicom_dir, tmp_path):
    files = _sorted_by_z(_copy(dicom_dir, tmp_path / "gap"))
    gone = pydicom.dcmread(files[10], stop_before_pixels=True)
    z_gone = float(gone.ImagePositionPatient[2])
    files[10].unlink()
    with pytest.raises(InputError, match="missing slice") as ei:
        read_ct(tmp_path / "gap")
    msg = str(ei.value)
    assert f"between {z_gone - 2:g} and {z_gone + 2:g} mm" in msg
    assert "4 mm gap" in msg and "instance" in msg


def test_truncated_pixel_data(dicom_dir, tmp_path):
    files = _copy(dicom_dir, tmp_path / "trunc")
    data = files[5].read_bytes()
    files[5].write_bytes(data[: len(data) - 60000])
    with pytest.raises(InputError, match="unreadable pixel data"):
        read_ct(tmp_path / "trunc")


def test_truncated_header(dicom_dir, tmp_path):
    files = _copy(dicom_dir, tmp_path / "trunc_header")
    files[3].write_bytes(files[3].read_bytes()[:700])
    with pytest.raises(InputError, match="unreadable DICOM file"):
        read_ct(tmp_path / "trunc_header")


def test_mr_dicom_is_not_ct(tmp_path):
    from pydicom.data import get_testdata_file

    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "mr.dcm")
    with pytest.raises(NotCTError, match="MR"):
        read_ct(tmp_path)


def test_mr_nifti_is_not_ct(totalseg_dir):
    with pytest.raises(NotCTError, match="does not look like a CT"):
        read_ct(totalseg_dir / "example_mr_sm.nii.gz")


def test_single_slice(dicom_dir, tmp_path):
    (tmp_path / "one").mkdir()
    shutil.copy(sorted(dicom_dir.iterdir())[0], tmp_path / "one" / "x.dcm")
    with pytest.raises(InputError, match="single 2-D slice"):
        read_ct(tmp_path / "one")


def _edit(files: list[Path], fn) -> None:
    for k, f in enumerate(files):
        ds = pydicom.dcmread(f)
        if fn(k, ds):
            ds.save_as(f)


def test_mixed_orientation(dicom_dir, tmp_path):
    files = _sorted_by_z(_copy(dicom_dir, tmp_path / "orient"))
    c, s = np.cos(np.deg2rad(20)), np.sin(np.deg2rad(20))

    def rot(k, ds):
        if k == 7:
            ds.ImageOrientationPatient = [c, s, 0, -s, c, 0]
            return True
        return False
    _edit(files, rot)
    with pytest.raises(InputError, match="mixed image orientations"):
        read_ct(tmp_path / "orient")


def test_inconsistent_spacing(dicom_dir, tmp_path):
    files = _sorted_by_z(_copy(dicom_dir, tmp_path / "spacing"))

    def shift(k, ds):
        if k >= 12:
            ipp = [float(v) for v in ds.ImagePositionPatient]
            ds.ImagePositionPatient = [ipp[0], ipp[1], ipp[2] + 0.7]
            return True
        return False
    _edit(files, shift)
    with pytest.raises(InputError, match="inconsistent slice spacing"):
        read_ct(tmp_path / "spacing")


def test_gantry_tilt_refused(dicom_dir, tmp_path):
    files = _sorted_by_z(_copy(dicom_dir, tmp_path / "tilt"))
    t = np.tan(np.deg2rad(15.0))

    def tilt(k, ds):
        ipp = [float(v) for v in ds.ImagePositionPatient]
        ds.ImagePositionPatient = [ipp[0], ipp[1] + k * 2.0 * t, ipp[2]]
        ds.GantryDetectorTilt = "15"
        return True
    _edit(files, tilt)
    with pytest.raises(InputError, match=r"gantry tilt of 15\.0 degrees.*refuses"):
        read_ct(tmp_path / "tilt")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is empty"):
        read_ct(tmp_path / "empty")


def test_folder_of_junk(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not an image\n")
    (junk / "data.bin").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputError, match="no readable DICOM images"):
        read_ct(junk)


def test_missing_path_and_bad_zip(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_ct(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(InputError, match="not a CT file spinemets can read"):
        read_ct(tmp_path / "notes.txt")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(InputError):
        read_ct(bad)

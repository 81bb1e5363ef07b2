"""Other encodings and file formats: JPEG-LS / RLE DICOM, NRRD, MHA, 2-D and label images."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from spinemets.errors import InputError, NotCTError
from spinemets.image import CTImage, Geometry
from spinemets.io import read_ct, write_ct_series, write_image


def _ct(shape=(5, 40, 48)) -> CTImage:
    rng = np.random.default_rng(5)
    arr = rng.integers(-1024, 2000, shape).astype(np.int16)
    arr[:, :4, :] = -1000  # air
    return CTImage(arr, Geometry(shape, (0.8, 0.8, 1.5), (-20.0, -15.0, 300.0)))


@pytest.mark.parametrize("syntax", [pydicom.uid.JPEGLSLossless, pydicom.uid.RLELossless,
                                    pydicom.uid.JPEG2000Lossless])
def test_compressed_dicom_series(tmp_path, syntax):
    ct = _ct()
    files = write_ct_series(ct, tmp_path / "ct")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.compress(syntax)
        ds.save_as(f)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == syntax
    back = read_ct(tmp_path / "ct")
    assert back.metadata["transfer_syntax_uid"] == syntax
    assert np.array_equal(back.array, ct.array)


@pytest.mark.parametrize("suffix,fmt", [(".nrrd", "nrrd"), (".mha", "mha"), (".nii.gz", "nifti")])
def test_image_files(tmp_path, suffix, fmt):
    ct = _ct()
    path = write_image(ct, tmp_path / f"ct{suffix}")
    back = read_ct(path)
    assert back.metadata["input_format"] == fmt
    assert np.array_equal(back.array, ct.array) and back.geometry.is_same_grid(ct.geometry)


def test_rescaled_float_dicom(tmp_path):
    """RescaleSlope != 1 gives float32 HU = stored * slope + intercept."""
    ct = _ct()
    files = write_ct_series(ct, tmp_path / "ct")
    for f in files:
        ds = pydicom.dcmread(f)
        ds.RescaleSlope = "0.5"
        ds.save_as(f)
    back = read_ct(tmp_path / "ct")
    assert back.array.dtype == np.float32
    assert np.allclose(back.array, (ct.array.astype(np.float32) + 1024) * 0.5 - 1024)


def test_single_slice_and_label_image(tmp_path):
    img = sitk.GetImageFromArray(np.full((1, 32, 32), -1000, np.int16))
    sitk.WriteImage(img, str(tmp_path / "one.nii.gz"))
    with pytest.raises(InputError, match="single 2-D slice"):
        read_ct(tmp_path / "one.nii.gz")
    lab = sitk.GetImageFromArray(np.random.default_rng(0).integers(0, 25, (8, 16, 16)).astype(np.uint8))
    sitk.WriteImage(lab, str(tmp_path / "labels.nii.gz"))
    with pytest.raises(NotCTError):
        read_ct(tmp_path / "labels.nii.gz")
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match="cannot read image file"):
        read_ct(tmp_path / "broken.nii.gz")

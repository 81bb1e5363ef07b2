"""Write a CT volume as a de-identified DICOM CT Image Storage series (one file per slice).

Pixel data are stored as signed 16-bit integers with ``RescaleIntercept = -1024`` and
``RescaleSlope = 1``: ``HU = stored - 1024``. HU values are rounded to the nearest integer and
clipped to the range int16 allows (-33792 .. 31743 HU). Geometry follows DICOM/LPS:
``ImageOrientationPatient`` = the LPS directions of the voxel i (column) and j (row) axes,
``ImagePositionPatient`` of slice k = ``origin + k * spacing_z * direction[:, 2]``.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import __version__
from ..image import CTImage
from .atomic import atomic_path

#: Stored value = HU - HU_INTERCEPT.
HU_INTERCEPT = -1024
_INT16 = np.iinfo(np.int16)


def _ds(values: Sequence[float]) -> list[str]:
    """Format floats as DICOM DS strings (at most 16 characters, round-trip exact where possible)."""
    from pydicom.valuerep import format_number_as_ds

    return [format_number_as_ds(float(v)) for v in values]


def _date_str(d: str | _dt.date | None) -> str:
    if d is None:
        return _dt.date.today().strftime("%Y%m%d")
    if isinstance(d, (_dt.date, _dt.datetime)):
        return d.strftime("%Y%m%d")
    s = str(d).replace("-", "")
    if len(s) != 8 or not s.isdigit():
        raise ValueError(f"study_date must be YYYYMMDD or a date, got {d!r}")
    return s


def write_ct_series(
    ct: CTImage,
    out_dir: str | os.PathLike[str],
    *,
    patient_id: str = "ANON",
    patient_name: str = "Anonymous",
    study_instance_uid: str | None = None,
    series_instance_uid: str | None = None,
    series_description: str = "",
    series_number: int = 1,
    study_date: str | _dt.date | None = None,
    study_description: str = "",
    clinical_trial_time_point_id: str | None = None,
    body_part: str = "SPINE",
    manufacturer: str = "spinemets phantom",
) -> list[Path]:
    """Write ``ct`` (HU) as a CT Image Storage series into ``out_dir``; return the files in slice order.

    Files are named ``CT_00001.dcm`` ... (slice k = 0 first, InstanceNumber = k + 1), each written
    atomically. UIDs not given are generated with :func:`pydicom.uid.generate_uid`; one
    FrameOfReferenceUID is shared by all slices. No identifying data are written beyond
    ``patient_id``/``patient_name`` (``PatientIdentityRemoved = YES``).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    geom = ct.geometry
    nz, ny, nx = geom.shape_zyx
    sx, sy, sz = geom.spacing_mm
    d = geom.direction_matrix
    row_dir, col_dir, slice_dir = d[:, 0], d[:, 1], d[:, 2]
    origin = np.asarray(geom.origin_lps_mm, dtype=float)

    hu = np.asarray(ct.array)
    stored = np.rint(hu.astype(np.float64) - HU_INTERCEPT) if np.issubdtype(hu.dtype, np.floating) \
        else hu.astype(np.int64) - HU_INTERCEPT
    stored = np.clip(stored, _INT16.min, _INT16.max).astype(np.int16)

    study_uid = study_instance_uid or generate_uid()
    series_uid = series_instance_uid or generate_uid()
    for_uid = generate_uid()
    date = _date_str(study_date)
    now = _dt.datetime.now().strftime("%H%M%S")
    # slice location along the slice normal (the axis the IPP advances on)
    normal = np.cross(row_dir, col_dir)

    paths: list[Path] = []
    for k in range(nz):
        meta = FileMetaDataset()
        sop_uid = generate_uid()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = now
        ds.AccessionNumber = ""
        ds.Modality = "CT"
        ds.Manufacturer = manufacturer
        ds.ManufacturerModelName = "spinemets"
        ds.SoftwareVersions = f"spinemets {__version__}"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = study_description
        ds.SeriesDescription = series_description
        # a single-component name gets a trailing "^" (DICOM PN: family name only)
        ds.PatientName = patient_name if "^" in patient_name or not patient_name else patient_name + "^"
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "spinemets writer: no identifying data written"
        if clinical_trial_time_point_id is not None:
            ds.ClinicalTrialTimePointID = str(clinical_trial_time_point_id)
        ds.BodyPartExamined = body_part
        ds.SliceThickness = _ds([sz])[0]
        ds.KVP = "120"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = int(series_number)
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ipp = origin + k * sz * slice_dir
        ds.ImagePositionPatient = _ds(ipp)
        ds.ImageOrientationPatient = _ds(list(row_dir) + list(col_dir))
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds([float(ipp @ normal)])[0]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ny
        ds.Columns = nx
        ds.PixelSpacing = _ds([sy, sx])  # (row spacing, column spacing)
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.WindowCenter = "400"
        ds.WindowWidth = "1800"
        ds.RescaleIntercept = str(HU_INTERCEPT)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()

        path = out_dir / f"CT_{k + 1:05d}.dcm"
        with atomic_path(path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
        paths.append(path)
    return paths

"""Small DICOM helpers shared by the CT reader and the SEG writer/reader.

* Source files may be plain paths or zip members written ``ARCHIVE.zip::MEMBER`` (what
  :func:`spinemets.io.read_ct` records as ``source_files`` for zipped input).
* Some exported series carry blank UIDs (the public TotalSegmentator example has empty
  Study/Series/SOP Instance UIDs). :func:`effective_uids` derives deterministic replacements so that
  the reader and the SEG writer agree on them (the SOP Instance UID falls back to the file meta
  ``MediaStorageSOPInstanceUID``, which is usually present).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

ZIP_SEP = "::"


def open_dataset(source: str | Path, stop_before_pixels: bool = False) -> Any:
    """``pydicom.dcmread`` of a path or of ``ARCHIVE.zip::MEMBER``."""
    import pydicom

    s = str(source)
    if ZIP_SEP in s:
        archive, member = s.split(ZIP_SEP, 1)
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(member)
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=stop_before_pixels)
    return pydicom.dcmread(s, stop_before_pixels=stop_before_pixels)


def _get(ds: Any, name: str) -> str:
    v = getattr(ds, name, None)
    return "" if v is None else str(v).strip()


def series_key(ds: Any) -> str:
    """The SeriesInstanceUID, or a deterministic UID derived from frame of reference, number, description."""
    from pydicom.uid import generate_uid

    uid = _get(ds, "SeriesInstanceUID")
    if uid:
        return uid
    return str(generate_uid(entropy_srcs=["spinemets-series", _get(ds, "FrameOfReferenceUID"),
                                          _get(ds, "SeriesNumber"), _get(ds, "SeriesDescription"),
                                          _get(ds, "Modality")]))


def effective_uids(ds: Any) -> dict[str, str]:
    """Study/Series/SOP Instance UIDs and SOP class of ``ds``, with deterministic fallbacks for blanks."""
    from pydicom.uid import generate_uid

    meta = getattr(ds, "file_meta", None)
    series = series_key(ds)
    study = _get(ds, "StudyInstanceUID") or str(generate_uid(
        entropy_srcs=["spinemets-study", series, _get(ds, "StudyDate"), _get(ds, "StudyTime")]))
    sop = _get(ds, "SOPInstanceUID") or (_get(meta, "MediaStorageSOPInstanceUID") if meta else "")
    if not sop:
        sop = str(generate_uid(entropy_srcs=["spinemets-sop", series, _get(ds, "ImagePositionPatient"),
                                             _get(ds, "InstanceNumber")]))
    sop_class = _get(ds, "SOPClassUID") or (_get(meta, "MediaStorageSOPClassUID") if meta else "")
    return {"study": study, "series": series, "sop": sop, "sop_class": sop_class}


def uids_were_derived(ds: Any) -> bool:
    return not (_get(ds, "StudyInstanceUID") and _get(ds, "SeriesInstanceUID") and _get(ds, "SOPInstanceUID"))


def fill_missing_uids(ds: Any) -> Any:
    """Write the effective UIDs into ``ds`` (in memory) where the file left them blank."""
    u = effective_uids(ds)
    ds.StudyInstanceUID = u["study"]
    ds.SeriesInstanceUID = u["series"]
    ds.SOPInstanceUID = u["sop"]
    if u["sop_class"]:
        ds.SOPClassUID = u["sop_class"]
    return ds

"""Read a CT into a :class:`~spinemets.image.CTImage` (HU, LPS geometry) from DICOM, zip or an image file.

Accepted inputs:

* a **DICOM folder** (searched recursively; several series allowed: the axial CT series with the
  most slices is taken unless ``series_uid`` names one). Slices are sorted by their position along
  the slice normal (``ImagePositionPatient . (row x col)``), never by file name or InstanceNumber.
  ``RescaleSlope``/``RescaleIntercept`` are applied per slice; compressed transfer syntaxes are
  decoded by pydicom's pixel handlers (pylibjpeg: JPEG, JPEG-LS, JPEG 2000; RLE).
* a **.zip** of such files (read without leaving files behind; ``source_files`` are then written
  ``ARCHIVE.zip::MEMBER``);
* one **image file** (NIfTI, NRRD, MetaImage) read by SimpleITK, which converts NIfTI's RAS
  convention to LPS. Such files carry no modality, so they are accepted as CT only if their values
  look like HU: a CT of the body contains air (or lung) at about -1000 HU, so at least 0.1 % of the
  voxels must lie below -500 HU, a value neither MR intensities nor unscaled stored values reach.

Refused series (:class:`~spinemets.errors.InputError`, one sentence each): nothing readable; not
CT; a single 2-D slice; mixed orientations; differing image sizes or pixel spacings; duplicate
slice positions; missing slices (gap located); irregular slice spacing; **gantry tilt** (refused,
not resampled: interpolating a sheared stack would smear the bone we measure; correct it first,
e.g. ``dcm2niix`` writes tilt-corrected NIfTI); undecodable pixel data; multi-frame (enhanced) CT.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, NotCTError
from ..image import CTImage, Geometry
from .dicom_common import ZIP_SEP, series_key, uids_were_derived

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".nii": "nifti", ".nii.gz": "nifti", ".nrrd": "nrrd", ".nhdr": "nrrd",
                  ".mha": "mha", ".mhd": "mha"}
#: A CT of the body contains air/lung: this fraction of voxels must be below AIR_HU.
AIR_HU = -500.0
MIN_AIR_FRACTION = 0.001
#: Slice positions may deviate from a regular step by this much (mm, or fraction of the step).
SPACING_TOL_MM = 0.01
SPACING_TOL_REL = 0.01
#: In-plane drift of the slice stack (as a fraction of the pixel size) tolerated before calling it tilt.
TILT_TOL_PIXELS = 0.1


@dataclass
class DicomSlice:
    """Header facts of one single-frame DICOM image."""

    path: str  # file path, or ARCHIVE.zip::MEMBER
    local_path: str  # where it can be read now
    instance: int | None
    ipp: np.ndarray
    iop: np.ndarray
    rows: int
    cols: int
    pixel_spacing: tuple[float, float]  # (row spacing, column spacing) mm
    header: Any


@dataclass
class DicomSeries:
    """One series found while scanning (slices unsorted)."""

    uid: str
    uid_derived: bool
    modality: str
    description: str
    number: str
    slices: list[DicomSlice] = field(default_factory=list)
    localizers: int = 0
    multiframe: int = 0
    no_geometry: int = 0

    @property
    def normal(self) -> np.ndarray | None:
        if not self.slices:
            return None
        iop = self.slices[0].iop
        n = np.cross(iop[:3], iop[3:])
        return n / np.linalg.norm(n)

    @property
    def is_axial(self) -> bool:
        n = self.normal
        return n is not None and abs(n[2]) >= np.cos(np.deg2rad(45.0))

    def summary(self) -> dict[str, Any]:
        return {"series_instance_uid": self.uid, "uid_derived": self.uid_derived,
                "modality": self.modality, "series_description": self.description,
                "series_number": self.number, "n_images": len(self.slices),
                "n_multiframe_objects": self.multiframe, "n_localizers": self.localizers,
                "orientation": ("axial" if self.is_axial else "non-axial") if self.slices else None}


@dataclass
class DicomScan:
    series: list[DicomSeries]
    n_files: int
    unreadable: list[tuple[str, str]]  # (path, reason) of files that look like DICOM but fail to parse


def _is_dicom_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _one_line(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return s[0] if s else type(exc).__name__


def scan_dicom(root: Path, display: dict[str, str] | None = None) -> DicomScan:
    """Read the headers of every DICOM file below ``root`` and group them into series.

    ``display`` optionally maps local paths to the names to record (zip members).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    by_uid: dict[str, DicomSeries] = {}
    unreadable: list[tuple[str, str]] = []
    n_files = 0
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    for p in files:
        n_files += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(str(p), stop_before_pixels=True)
        except InvalidDicomError:
            continue  # not DICOM at all: ignored
        except Exception as exc:  # truncated/corrupt headers raise many types
            if _is_dicom_magic(p):
                unreadable.append((str(p), _one_line(exc)))
            continue
        if "Rows" not in ds:  # DICOMDIR, SR, presentation states ... or a truncated image header
            sop_class = getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
            if sop_class is not None and "Image Storage" in getattr(sop_class, "name", ""):
                unreadable.append((str(p), f"{sop_class.name} file without image attributes (truncated header)"))
            continue
        uid = series_key(ds)
        s = by_uid.get(uid)
        if s is None:
            s = by_uid[uid] = DicomSeries(uid, not str(getattr(ds, "SeriesInstanceUID", "") or "").strip(),
                                          str(getattr(ds, "Modality", "") or "").upper(),
                                          str(getattr(ds, "SeriesDescription", "") or ""),
                                          str(getattr(ds, "SeriesNumber", "") or ""))
        image_type = [str(v).upper() for v in (getattr(ds, "ImageType", None) or [])]
        if "LOCALIZER" in image_type:
            s.localizers += 1
            continue
        if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
            s.multiframe += 1
            continue
        try:
            ipp = np.asarray([float(v) for v in ds.ImagePositionPatient], dtype=float)
            iop = np.asarray([float(v) for v in ds.ImageOrientationPatient], dtype=float)
            ps = tuple(float(v) for v in ds.PixelSpacing)
            assert ipp.shape == (3,) and iop.shape == (6,) and len(ps) == 2 and min(ps) > 0
            r, c = iop[:3], iop[3:]
            assert abs(np.linalg.norm(r) - 1) < 0.01 and abs(np.linalg.norm(c) - 1) < 0.01 and abs(r @ c) < 0.01
        except Exception:
            s.no_geometry += 1
            continue
        inst = getattr(ds, "InstanceNumber", None)
        name = display.get(str(p), str(p)) if display else str(p)
        s.slices.append(DicomSlice(name, str(p), int(inst) if inst not in (None, "") else None, ipp, iop,
                                   int(ds.Rows), int(ds.Columns), ps, ds))  # type: ignore[arg-type]
    return DicomScan(list(by_uid.values()), n_files, unreadable)


def _select_series(scan: DicomScan, where: str, series_uid: str | None) -> DicomSeries:
    if scan.unreadable:
        p, why = scan.unreadable[0]
        more = f" (and {len(scan.unreadable) - 1} more)" if len(scan.unreadable) > 1 else ""
        raise InputError(f"unreadable DICOM file {Path(p).name}{more}: {why} (truncated or corrupt?)")
    if series_uid:
        for s in scan.series:
            if s.uid == series_uid:
                break
        else:
            have = ", ".join(f"{s.uid} ({s.modality}, {len(s.slices)} images)" for s in scan.series) or "none"
            raise InputError(f"series {series_uid} not found in {where}; series present: {have}")
        if s.modality != "CT":
            raise NotCTError(f"series {series_uid} is {s.modality or 'of unknown modality'}, not CT")
    else:
        ct = [s for s in scan.series if s.modality == "CT" and (s.slices or s.multiframe)]
        if not ct:
            others = sorted({s.modality or "unknown" for s in scan.series if s.slices or s.multiframe})
            if others:
                raise NotCTError(f"{where} holds {', '.join(others)} images, not CT; spinemets needs a CT series")
            if any(s.localizers for s in scan.series):
                raise InputError(f"{where} holds only localizer (scout) images, no CT volume")
            if scan.n_files == 0:
                raise InputError(f"{where} is empty: no files to read")
            raise InputError(f"no readable DICOM images found in {where} ({scan.n_files} file(s) checked, "
                             "none is a DICOM image)")
        ct.sort(key=lambda s: (s.is_axial, len(s.slices)), reverse=True)
        s = ct[0]
    if not s.slices and s.multiframe:
        raise InputError("multi-frame (enhanced) DICOM CT is not supported; export the series as "
                         "single-frame images")
    if not s.slices:
        raise InputError(f"series {s.uid} has no images with a valid patient position, orientation "
                         "and pixel spacing")
    return s


def _fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _sort_and_check(series: DicomSeries) -> tuple[list[DicomSlice], float, list[str]]:
    """Sort slices along the normal and refuse what cannot form a regular 3-D grid."""
    sl = series.slices
    warnings: list[str] = []
    if len(sl) == 1:
        raise InputError(f"series {series.uid} has a single 2-D slice; a 3-D CT volume is needed "
                         "(pass the folder holding all slices of the series)")
    iops = np.stack([s.iop for s in sl])
    if np.max(np.abs(iops - iops[0])) > 1e-3:
        kinds = {tuple(np.round(i, 2)) for i in iops}
        raise InputError(f"mixed image orientations in series {series.uid} ({len(kinds)} different "
                         "ImageOrientationPatient values); one stack must have one orientation")
    sizes = {(s.rows, s.cols) for s in sl}
    if len(sizes) > 1:
        raise InputError(f"images of different sizes in one series: {sorted(sizes)} (rows, columns)")
    ps = np.asarray([s.pixel_spacing for s in sl])
    if np.max(np.abs(ps - ps[0])) > 1e-4 * max(1.0, float(ps[0].max())):
        raise InputError(f"inconsistent pixel spacing within the series (from {_fmt(ps.min())} to "
                         f"{_fmt(ps.max())} mm)")
    normal = series.normal
    assert normal is not None
    pos = np.asarray([float(s.ipp @ normal) for s in sl])
    order = np.argsort(pos, kind="stable")
    sl = [sl[i] for i in order]
    pos = pos[order]
    d = np.diff(pos)

    def _inst(s: DicomSlice) -> str:
        return f"instance {s.instance}" if s.instance is not None else Path(s.path).name

    dup = np.nonzero(d < 1e-3)[0]
    if dup.size:
        a, b = sl[dup[0]], sl[dup[0] + 1]
        raise InputError(f"{dup.size + 1} images share slice position {_fmt(pos[dup[0]])} mm ({_inst(a)}, "
                         f"{_inst(b)}); the folder mixes acquisitions - pass --series-uid or separate them")
    # gantry tilt: the stack advances off the slice normal
    travel = sl[-1].ipp - sl[0].ipp
    along = float(travel @ normal)
    inplane = float(np.linalg.norm(travel - along * normal))
    if inplane > TILT_TOL_PIXELS * float(ps[0].min()):
        angle = float(np.degrees(np.arctan2(inplane, abs(along))))
        raise InputError(f"gantry tilt of {angle:.1f} degrees (slices shift {_fmt(inplane)} mm in-plane over "
                         "the stack); spinemets refuses tilted series rather than resampling them - "
                         "correct the tilt first (e.g. dcm2niix) and pass the NIfTI")
    step = float(np.median(d))
    tol = max(SPACING_TOL_MM, SPACING_TOL_REL * step)
    ratio = d / step
    gaps = np.nonzero((np.abs(ratio - np.round(ratio)) * step <= max(tol, 0.1 * step)) & (np.round(ratio) >= 2))[0]
    if gaps.size:
        g = int(gaps[0])
        n_missing = int(round(ratio[g])) - 1
        more = f"; {gaps.size} gaps in all" if gaps.size > 1 else ""
        raise InputError(f"missing slice: {_fmt(d[g])} mm gap between {_fmt(pos[g])} and {_fmt(pos[g + 1])} mm "
                         f"along the slice normal ({_inst(sl[g])} and {_inst(sl[g + 1])}), about {n_missing} "
                         f"slice(s) of the {_fmt(step)} mm spacing missing{more}")
    bad = np.nonzero(np.abs(d - step) > tol)[0]
    if bad.size:
        b = int(bad[0])
        raise InputError(f"inconsistent slice spacing: steps from {_fmt(d.min())} to {_fmt(d.max())} mm "
                         f"(first irregular step {_fmt(d[b])} mm between {_inst(sl[b])} and {_inst(sl[b + 1])}); "
                         "a regular grid is needed")
    step = float((pos[-1] - pos[0]) / (len(sl) - 1))
    gt = getattr(sl[0].header, "GantryDetectorTilt", None)
    if gt not in (None, "") and abs(float(gt)) > 0.01:
        warnings.append(f"GantryDetectorTilt is {float(gt):g} degrees but the slices are not sheared "
                        "(already corrected by the scanner); read as is")
    return sl, step, warnings


def _multi(v: Any) -> str | None:
    """A possibly multi-valued DICOM string as one string (values joined by backslash)."""
    if v in (None, ""):
        return None
    if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue":
        return "\\".join(str(x) for x in v)
    return str(v)


def _decode(sl: list[DicomSlice]) -> tuple[np.ndarray, str]:
    """Pixel data of the sorted slices in HU; int16 when exact, else float32 (filled slice by slice)."""
    import pydicom

    def _rescale(h: Any) -> tuple[float, float]:
        return float(getattr(h, "RescaleSlope", 1) or 1), float(getattr(h, "RescaleIntercept", 0) or 0)

    integral = all(a == round(a) and b == round(b) for a, b in (_rescale(s.header) for s in sl))
    vol = np.empty((len(sl), sl[0].rows, sl[0].cols), dtype=np.int16 if integral else np.float32)
    ts = ""
    for k, s in enumerate(sl):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(s.local_path)
                px = ds.pixel_array
        except Exception as exc:
            raise InputError(f"unreadable pixel data in {Path(s.path).name}: {_one_line(exc)}") from None
        if px.shape != (s.rows, s.cols):
            raise InputError(f"unexpected pixel array shape {px.shape} in {Path(s.path).name} "
                             f"(expected {s.rows}x{s.cols}, one sample per pixel)")
        if k == 0:
            ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
        slope, inter = _rescale(ds)
        if vol.dtype == np.int16:
            plane = px.astype(np.int64) * int(slope) + int(inter)
            if plane.min(initial=0) < -32768 or plane.max(initial=0) > 32767:
                vol = vol.astype(np.float32)  # rare: HU beyond int16
                vol[k] = plane
            else:
                vol[k] = plane
        else:
            vol[k] = px.astype(np.float32) * np.float32(slope) + np.float32(inter)
    return vol, ts


def _read_dicom_dir(root: Path, series_uid: str | None, input_format: str, where: str,
                    display: dict[str, str] | None = None) -> CTImage:
    scan = scan_dicom(root, display)
    series = _select_series(scan, where, series_uid)
    sl, step, warnings = _sort_and_check(series)
    arr, ts = _decode(sl)
    first = sl[0]
    iop = first.iop
    row_dir, col_dir = iop[:3] / np.linalg.norm(iop[:3]), iop[3:] / np.linalg.norm(iop[3:])
    normal = series.normal
    direction = np.column_stack([row_dir, col_dir, normal])
    spacing = (first.pixel_spacing[1], first.pixel_spacing[0], step)
    geom = Geometry(arr.shape, spacing, tuple(first.ipp), tuple(direction.ravel()))
    from .dicom_common import effective_uids

    h = first.header
    uids = effective_uids(h)
    if uids_were_derived(h):
        warnings.append("the files have blank Study/Series/SOP Instance UIDs; deterministic replacements "
                        "were derived (DICOM SEG outputs reference those)")
    n_ct = sum(1 for s in scan.series if s.modality == "CT" and s.slices)
    if n_ct > 1 and not series_uid:
        warnings.append(f"{n_ct} CT series found; took the {'axial ' if series.is_axial else ''}series with "
                        f"the most slices ({series.uid}); choose another with --series-uid")
    if not series.is_axial:
        warnings.append("the series is not axial")
    thick = getattr(h, "SliceThickness", None)
    thick_mm = float(thick) if thick not in (None, "") else None
    contrast = str(getattr(h, "ContrastBolusAgent", "") or "").strip() or None
    kvp = getattr(h, "KVP", None)
    meta = {
        "modality": series.modality,
        "input_format": input_format,
        "path": where,
        "series_instance_uid": uids["series"],
        "study_instance_uid": uids["study"],
        "frame_of_reference_uid": str(getattr(h, "FrameOfReferenceUID", "") or "") or None,
        "series_description": series.description,
        "series_number": series.number,
        "source_files": [s.path for s in sl],  # in slice order (k = 0 first)
        "sop_instance_uids": [effective_uids(s.header)["sop"] for s in sl],
        "instance_numbers": [s.instance for s in sl],
        "n_series_found": len(scan.series),
        "series_found": [s.summary() for s in scan.series],
        "transfer_syntax_uid": ts,
        "kvp": float(kvp) if kvp not in (None, "") else None,
        "contrast_agent": contrast,
        "manufacturer": str(getattr(h, "Manufacturer", "") or "") or None,
        "convolution_kernel": _multi(getattr(h, "ConvolutionKernel", None)),
        "slice_thickness_mm": thick_mm,
        "slice_spacing_mm": step,
        # spacing minus thickness: > 0 means tissue between slices is not imaged, < 0 overlap
        "slice_gap_mm": (step - thick_mm) if thick_mm is not None else None,
        "missing_slices": [],  # series with missing slices are refused (InputError names the gap)
        "warnings": warnings,
    }
    for w in warnings:
        log.info("read_ct: %s", w)
    return CTImage(arr, geom, meta)


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> dict[str, str]:
    """Extract members that stay inside ``dest``; return local path -> ``ARCHIVE::MEMBER``."""
    mapping: dict[str, str] = {}
    root = dest.resolve()
    for info in zf.infolist():
        if info.is_dir():
            continue
        target = (dest / info.filename).resolve()
        if root not in target.parents:
            continue  # absolute or ../ member: skipped
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)
        mapping[str(target)] = info.filename
    return mapping


def _read_zip(path: Path, series_uid: str | None) -> CTImage:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"cannot open zip archive {path}: {_one_line(exc)}") from None
    with zf, tempfile.TemporaryDirectory(prefix="spinemets_zip_") as tmp:
        try:
            mapping = _safe_extract(zf, Path(tmp))
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(f"corrupt zip archive {path}: {_one_line(exc)}") from None
        display = {local: f"{path}{ZIP_SEP}{member}" for local, member in mapping.items()}
        return _read_dicom_dir(Path(tmp).resolve(), series_uid, "zip", str(path), display)


def _image_format(path: Path) -> str | None:
    name = path.name.lower()
    for suf, fmt in IMAGE_SUFFIXES.items():
        if name.endswith(suf):
            return fmt
    return None


def check_hu_plausible(arr: np.ndarray, where: str) -> dict[str, float]:
    """Refuse an image whose values do not look like a body CT in HU (see module docstring)."""
    sample = arr[:: max(1, arr.shape[0] // 64), ::2, ::2] if arr.size > 4_000_000 else arr
    sample = np.asarray(sample, dtype=np.float32)
    air_fraction = float(np.mean(sample <= AIR_HU))
    lo, hi = float(sample.min()), float(sample.max())
    if air_fraction < MIN_AIR_FRACTION:
        raise NotCTError(f"{where} does not look like a CT in HU: {100 * air_fraction:.2g} % of voxels are below "
                         f"{AIR_HU:g} HU (a body CT has air near -1000 HU), values {lo:g}..{hi:g}; "
                         "MR or unscaled data?")
    return {"air_fraction": air_fraction}


def _read_image_file(path: Path, fmt: str) -> CTImage:
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        msg = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise InputError(f"cannot read image file {path.name}: {msg[-1] if msg else 'unknown error'}") from None
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{path.name} has {img.GetNumberOfComponentsPerPixel()} components per voxel; "
                         "a grey-value CT is needed")
    dim = img.GetDimension()
    if dim == 4 and img.GetSize()[3] == 1:
        img = img[:, :, :, 0]
        dim = 3
    if dim == 2 or (dim == 3 and img.GetSize()[2] == 1):
        raise InputError(f"{path.name} is a single 2-D slice; a 3-D CT volume is needed")
    if dim != 3:
        raise InputError(f"{path.name} is a {dim}-D image; a 3-D CT volume is needed")
    arr = sitk.GetArrayFromImage(img)
    check_hu_plausible(arr, path.name)
    if np.issubdtype(arr.dtype, np.integer) or np.array_equal(arr, np.round(arr)):
        if arr.min() >= -32768 and arr.max() <= 32767:
            arr = arr.astype(np.int16, copy=False)
    if arr.dtype != np.int16:
        arr = arr.astype(np.float32)
    geom = Geometry.from_sitk(img)
    meta = {
        "modality": "CT",
        "modality_source": "value heuristic (air near -1000 HU present); image files carry no modality",
        "input_format": fmt,
        "path": str(path),
        "series_instance_uid": None,
        "study_instance_uid": None,
        "source_files": [str(path)],
        "n_series_found": 1,
        "kvp": None,
        "contrast_agent": None,
        "slice_thickness_mm": None,
        "slice_spacing_mm": geom.spacing_mm[2],
        "slice_gap_mm": None,
        "missing_slices": [],
        "warnings": [],
    }
    return CTImage(arr, geom, meta)


def read_ct(path: str | os.PathLike[str], series_uid: str | None = None) -> CTImage:
    """Read a CT (DICOM folder or file, .zip of DICOM, NIfTI/NRRD/MHA) as HU with LPS geometry.

    ``series_uid`` picks one series of a multi-series DICOM folder/zip. For DICOM input
    ``metadata["source_files"]`` lists the slice files in slice order (k = 0 first), as DICOM SEG/SR
    writers need them. Raises
    :class:`~spinemets.errors.InputError` (or :class:`~spinemets.errors.NotCTError`) with one
    sentence for unusable input. See the module docstring for the rules.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"input not found: {p}")
    if p.is_dir():
        return _read_dicom_dir(p, series_uid, "dicom", str(p))
    fmt = _image_format(p)
    if fmt is not None:
        return _read_image_file(p, fmt)
    if p.suffix.lower() == ".zip" or zipfile.is_zipfile(p):
        return _read_zip(p, series_uid)
    # a single DICOM file (or something unreadable)
    if not _is_dicom_magic(p):
        import pydicom

        try:
            pydicom.dcmread(str(p), stop_before_pixels=True)
        except Exception:
            raise InputError(f"{p.name} is not a CT file spinemets can read (neither DICOM, zip, NIfTI, "
                             "NRRD nor MetaImage)") from None
    return _read_dicom_dir(p, series_uid, "dicom", str(p))

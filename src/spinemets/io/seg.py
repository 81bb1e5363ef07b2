"""DICOM SEG (highdicom) for spinemets label maps, and reading any DICOM SEG back onto a CT grid.

Writing: one BINARY multi-class SEG per label map, referencing the source CT series. Each label id
present becomes one segment whose SegmentLabel, SNOMED CT category/type codes, laterality modifier
and display colour come from :mod:`spinemets.anatomy` (looked up by the label map's *names*,
``LabelMap.labels``). Lesion label maps use the names ``lesion_lytic``, ``lesion_blastic``,
``lesion_mixed`` (ids from ``anatomy.LESION_CLASSES``). Our own name is stored as the segment's
``TrackingID`` so that our SEGs read back exactly.

Reading: frames are placed by their ImagePositionPatient on the reference CT grid (so SEGs whose
frames cover only some slices, e.g. Spine-Mets-CT-SEG, load correctly). Segments map to spinemets
ids by TrackingID, then SegmentLabel ("T1 vertebra"), then SNOMED type code + laterality;
segments we cannot identify get ids from 200 upwards and keep their SegmentLabel as name.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .. import __version__, anatomy
from ..errors import InputError
from ..image import CTImage, LabelMap
from .atomic import atomic_path
from .dicom_common import fill_missing_uids, open_dataset

log = logging.getLogger(__name__)

#: First id given to SEG segments that match nothing in the anatomy table.
UNKNOWN_ID_START = 200

LESION_COLORS = {"lytic": (255, 70, 70), "blastic": (70, 150, 255), "mixed": (230, 120, 255)}
_GENERIC = ("SCT", "85756007", "Tissue")


@dataclass(frozen=True)
class SegmentSpec:
    """What a label becomes in a SEG: label text, codes, laterality, colour, our name."""

    name: str
    segment_label: str
    category: tuple[str, str, str]
    type_code: tuple[str, str, str]
    laterality: tuple[str, str, str] | None
    color_rgb: tuple[int, int, int]


def lesion_name(cls: str) -> str:
    return f"lesion_{cls}"


def segment_spec(label_id: int, name: str | None) -> SegmentSpec:
    """SEG description of label ``label_id`` called ``name`` (anatomy name or ``lesion_<class>``)."""
    if name and name.startswith("lesion_") and name[7:] in anatomy.LESION_CLASSES.values():
        cls = name[7:]
        return SegmentSpec(name, f"{cls.capitalize()} lesion", anatomy.CAT_ALTERED, anatomy.LESION_CODE,
                           None, LESION_COLORS[cls])
    s = anatomy.BY_NAME.get(name) if name else None
    if s is None and not name:
        s = anatomy.BY_ID.get(int(label_id))
    if s is not None:
        return SegmentSpec(s.name, s.segment_label, s.category, s.type_code, s.laterality, s.color_rgb)
    label = name or f"label {label_id}"
    return SegmentSpec(label, label.replace("_", " "), _GENERIC, _GENERIC, None, (200, 200, 200))


def _code(t: tuple[str, str, str]) -> Any:
    from highdicom.sr import CodedConcept

    scheme, value, meaning = t
    return CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _load_sources(source_files: Sequence[Any]) -> list[Any]:
    out = []
    for f in source_files:
        if hasattr(f, "SOPClassUID") or hasattr(f, "file_meta"):  # already a Dataset
            ds = f
        else:
            try:
                ds = open_dataset(f, stop_before_pixels=True)
            except Exception as exc:  # pydicom raises several types
                raise InputError(f"cannot read source DICOM file {f}: {exc}") from None
        out.append(fill_missing_uids(ds))
    if not out:
        raise InputError("write_seg needs the source CT series files; none were given")
    return out


def _frame_indices(label_map: LabelMap, sources: list[Any]) -> list[int]:
    """Slice index k of every source dataset on the label-map grid (checks that the grids agree)."""
    g = label_map.geometry
    nz, ny, nx = g.shape_zyx
    d = g.direction_matrix
    ks = []
    for ds in sources:
        iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
        if not (np.allclose(iop[:3], d[:, 0], atol=1e-3) and np.allclose(iop[3:], d[:, 1], atol=1e-3)):
            raise InputError("the label map's orientation differs from the source series'; "
                             "a SEG can only be written on the grid of the source CT")
        if int(ds.Rows) != ny or int(ds.Columns) != nx:
            raise InputError(f"the label map is {nx}x{ny} in-plane but the source images are "
                             f"{ds.Columns}x{ds.Rows}")
        kji = g.lps_to_index_zyx(np.asarray([float(v) for v in ds.ImagePositionPatient]))
        k = int(round(kji[0]))
        if abs(kji[0] - k) > 0.05 or abs(kji[1]) > 0.05 or abs(kji[2]) > 0.05 or not 0 <= k < nz:
            raise InputError("a source image does not lie on a slice of the label map grid "
                             f"(index {np.round(kji, 2).tolist()}); the SEG must use the CT's own grid")
        ks.append(k)
    if sorted(ks) != list(range(nz)):
        raise InputError(f"the source series has {len(ks)} images for {len(set(ks))} distinct slices but "
                         f"the label map has {nz} slices; pass exactly the files of the CT series")
    return ks


def write_seg(
    label_map: LabelMap,
    source_files: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    series_description: str = "spinemets segmentation",
    algorithm_name: str = "spinemets",
    algorithm_version: str = __version__,
    series_number: int = 100,
    clinical_trial_time_point_id: str | None = None,
    algorithm_family: str = "ArtificialIntelligence",
    compress: bool = False,
    segmentation_type: str = "BINARY",
) -> Path:
    """Write ``label_map`` as a BINARY multi-class DICOM SEG referencing ``source_files``.

    ``source_files`` are the CT series files (paths, ``ARCHIVE.zip::MEMBER`` strings as recorded by
    ``read_ct``, or pydicom datasets); the label map must lie on their grid (as ``read_ct`` returns
    it). ``algorithm_family`` is a member name of DICOM CID 7162 (e.g. ``"MorphologicalOperations"``).
    ``compress=True`` stores the frames JPEG 2000 lossless (much smaller for large label maps; the
    default, uncompressed explicit VR little endian, is what every viewer reads).
    ``segmentation_type="LABELMAP"`` writes the newer Label Map Segmentation (one frame per slice,
    pixel value = segment number; far smaller, but fewer viewers read it yet).
    Returns ``out_path``. Raises :class:`InputError` if the label map is empty or off-grid.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

    sources = _load_sources(source_files)
    ks = _frame_indices(label_map, sources)
    ids = label_map.present_ids()
    if not ids:
        raise InputError("the label map is empty; there is nothing to write into a DICOM SEG")

    family = getattr(codes.cid7162, algorithm_family)
    algo = hd.AlgorithmIdentificationSequence(name=algorithm_name, family=family, version=algorithm_version)
    descriptions = []
    lut = np.zeros(int(max(ids)) + 1, dtype=np.uint16)
    for n, lid in enumerate(ids, start=1):
        spec = segment_spec(lid, label_map.labels.get(lid))
        lut[lid] = n
        desc = hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=spec.segment_label[:64],
            segmented_property_category=_code(spec.category),
            segmented_property_type=_code(spec.type_code),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algo,
            tracking_uid=generate_uid(),
            tracking_id=spec.name[:64],
            display_color=hd.color.CIELabColor.from_rgb(*spec.color_rgb),
        )
        if spec.laterality is not None:
            desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                _code(spec.laterality)]
        descriptions.append(desc)

    frames = lut[label_map.array[ks]]  # frame f <-> sources[f]
    if segmentation_type.upper() not in ("BINARY", "LABELMAP"):
        raise ValueError(f"segmentation_type must be BINARY or LABELMAP, not {segmentation_type!r}")
    if compress and min(frames.shape[1:]) < 32:  # openjpeg cannot encode smaller frames
        log.warning("frames under 32 pixels cannot be JPEG 2000 coded; writing the SEG uncompressed")
        compress = False
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=frames,
        segmentation_type=hd.seg.SegmentationTypeValues(segmentation_type.upper()),
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=int(series_number),
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="spinemets",
        manufacturer_model_name="spinemets",
        software_versions=__version__,
        device_serial_number="0",
        content_label="SEGMENTATION",
        content_description=series_description[:64] or None,
        transfer_syntax_uid=JPEG2000Lossless if compress else ExplicitVRLittleEndian,
    )
    seg.SeriesDescription = series_description
    if clinical_trial_time_point_id is not None:
        seg.ClinicalTrialTimePointID = str(clinical_trial_time_point_id)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        seg.save_as(tmp)
    return out_path


# --- reading ------------------------------------------------------------------------------------
_LEVEL_RE = re.compile(r"^\s*(?:vertebrae?[_ ])?([CTL]\d{1,2})(?:[_ ]vertebra)?\s*$", re.IGNORECASE)


def _code_tuple(item: Any) -> tuple[str, str]:
    return (str(getattr(item, "CodingSchemeDesignator", "")), str(getattr(item, "CodeValue", "")))


def match_segment(item: Any) -> str | None:
    """spinemets name for one SegmentSequence item, or None when nothing matches unambiguously."""
    tid = str(getattr(item, "TrackingID", "") or "").strip()
    if tid in anatomy.BY_NAME or (tid.startswith("lesion_") and tid[7:] in anatomy.LESION_CLASSES.values()):
        return tid
    label = str(getattr(item, "SegmentLabel", "") or "").strip()
    low = label.lower()
    for s in anatomy.STRUCTURES:
        if s.segment_label.lower() == low or s.name.lower() == low:
            return s.name
    for cls in anatomy.LESION_CLASSES.values():
        if low in (f"{cls} lesion", f"lesion_{cls}", f"{cls} metastasis"):
            return lesion_name(cls)
    m = _LEVEL_RE.match(label)
    if m and f"vertebrae_{m.group(1).upper()}" in anatomy.BY_NAME:
        return f"vertebrae_{m.group(1).upper()}"
    seq = getattr(item, "SegmentedPropertyTypeCodeSequence", None)
    if seq:
        tcode = _code_tuple(seq[0])
        mods = getattr(seq[0], "SegmentedPropertyTypeModifierCodeSequence", None) or []
        lat = _code_tuple(mods[0]) if mods else None
        hits = [s for s in anatomy.STRUCTURES if not s.code_is_parent and s.type_code[:2] == tcode
                and (s.laterality[:2] if s.laterality else None) == lat]
        if len(hits) == 1:
            return hits[0].name
    return None


def _name_to_id(name: str) -> int | None:
    if name in anatomy.BY_NAME:
        return anatomy.BY_NAME[name].id
    for lid, cls in anatomy.LESION_CLASSES.items():
        if name == lesion_name(cls):
            return lid
    return None


def _frame_positions(ds: Any) -> tuple[list[np.ndarray], list[int], np.ndarray, tuple[float, float]]:
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    per = ds.PerFrameFunctionalGroupsSequence

    def _find(group: str, idx: int) -> Any:
        item = per[idx]
        if group in item:
            return getattr(item, group)[0]
        if shared is not None and group in shared:
            return getattr(shared, group)[0]
        raise InputError(f"the DICOM SEG lacks {group} for frame {idx + 1}")

    ipps, segnums = [], []
    for f in range(int(ds.NumberOfFrames)):
        ipps.append(np.asarray([float(v) for v in _find("PlanePositionSequence", f).ImagePositionPatient]))
        if "SegmentIdentificationSequence" in per[f] or (
                shared is not None and "SegmentIdentificationSequence" in shared):
            segnums.append(int(_find("SegmentIdentificationSequence", f).ReferencedSegmentNumber))
        else:  # LABELMAP segmentations have no per-frame segment
            segnums.append(0)
    iop = np.asarray([float(v) for v in _find("PlaneOrientationSequence", 0).ImageOrientationPatient])
    ps = _find("PixelMeasuresSequence", 0).PixelSpacing
    return ipps, segnums, iop, (float(ps[0]), float(ps[1]))


def read_seg(seg_path: str | os.PathLike[str], reference: CTImage) -> LabelMap:
    """Read a DICOM SEG into a :class:`LabelMap` on ``reference``'s grid.

    Frames are placed by position (they may cover any subset of slices); BINARY, FRACTIONAL
    (>= 50 % of the maximum value) and LABELMAP segmentations are read. Where segments overlap, the
    higher segment number wins (logged as a warning).
    """
    import pydicom

    seg_path = Path(seg_path)
    try:
        ds = pydicom.dcmread(str(seg_path))
    except Exception as exc:
        raise InputError(f"cannot read DICOM SEG {seg_path}: {str(exc).splitlines()[0]}") from None
    if str(getattr(ds, "Modality", "")) != "SEG" or "SegmentSequence" not in ds:
        raise InputError(f"{seg_path} is not a DICOM SEG (Modality {getattr(ds, 'Modality', 'missing')})")

    # segment number -> spinemets id and name
    seg_to_id: dict[int, int] = {}
    labels: dict[int, str] = {}
    next_unknown = UNKNOWN_ID_START
    for item in ds.SegmentSequence:
        num = int(item.SegmentNumber)
        if num == 0:  # LABELMAP background segment
            continue
        name = match_segment(item)
        lid = _name_to_id(name) if name else None
        if lid is None or (lid in labels and labels[lid] != name):
            name = name or str(getattr(item, "SegmentLabel", "") or f"segment {num}")
            lid = next_unknown
            next_unknown += 1
        seg_to_id[num] = lid
        labels[lid] = name

    g = reference.geometry
    nz, ny, nx = g.shape_zyx
    d = g.direction_matrix
    ipps, segnums, iop, (row_sp, col_sp) = _frame_positions(ds)
    if not (np.allclose(iop[:3], d[:, 0], atol=1e-3) and np.allclose(iop[3:], d[:, 1], atol=1e-3)):
        raise InputError("the SEG's image orientation differs from the reference CT's; "
                         "load the CT series the SEG was made on")
    if not np.allclose([col_sp, row_sp], g.spacing_mm[:2], rtol=1e-3, atol=1e-4):
        raise InputError(f"the SEG's pixel spacing {row_sp:g}/{col_sp:g} mm differs from the reference CT's "
                         f"{g.spacing_mm[1]:g}/{g.spacing_mm[0]:g} mm")
    try:
        pix = np.asarray(ds.pixel_array)
    except Exception as exc:
        raise InputError(f"cannot decode the pixel data of DICOM SEG {seg_path}: "
                         f"{str(exc).splitlines()[0]}") from None
    if pix.ndim == 2:
        pix = pix[None]
    seg_type = str(getattr(ds, "SegmentationType", "BINARY")).upper()
    if seg_type == "FRACTIONAL":
        pix = pix.astype(np.float32) >= 0.5 * float(getattr(ds, "MaximumFractionalValue", 255))

    out = np.zeros(g.shape_zyx, dtype=np.uint16)
    placed = outside = overlap = 0
    for f, (ipp, snum) in enumerate(zip(ipps, segnums)):
        kji = g.lps_to_index_zyx(ipp)
        k, j0, i0 = (int(round(v)) for v in kji)
        if np.max(np.abs(kji - np.round(kji))) > 0.05:
            raise InputError(f"SEG frame {f + 1} at {np.round(ipp, 2).tolist()} mm does not lie on the "
                             "reference CT grid")
        if not 0 <= k < nz:
            outside += 1
            continue
        fr = pix[f]
        rows, cols = fr.shape
        ja, jb = max(j0, 0), min(j0 + rows, ny)
        ia, ib = max(i0, 0), min(i0 + cols, nx)
        if ja >= jb or ia >= ib:
            outside += 1
            continue
        sub = fr[ja - j0:jb - j0, ia - i0:ib - i0]
        target = out[k, ja:jb, ia:ib]
        if seg_type == "LABELMAP":
            vals = np.unique(sub)
            for v in vals[vals > 0]:
                target[sub == v] = seg_to_id.get(int(v), 0)
        else:
            m = sub.astype(bool)
            lid = seg_to_id.get(snum)
            if lid is None:
                continue
            overlap += int(np.count_nonzero(m & (target != 0) & (target != lid)))
            target[m] = lid
        placed += 1
    if placed == 0:
        raise InputError(f"no frame of DICOM SEG {seg_path} lies inside the reference CT volume")
    if outside:
        log.warning("%d SEG frame(s) lie outside the reference CT and were ignored", outside)
    if overlap:
        log.warning("%d voxels belong to more than one SEG segment; the later segment was kept", overlap)
    return LabelMap(out, g, dict(labels))

"""DICOM Structured Report of the per-vertebra results: TID 1500 Measurement Report (highdicom).

One Comprehensive 3D SR per case. Each vertebra with a result is one measurement group:
TID 1411 (volumetric ROI) referencing the vertebra's segment in the vertebrae DICOM SEG when one
exists, otherwise TID 1501 with the vertebra as finding site. Measurements: trabecular vBMD
(mg/cm3), vertebral strength (N) and the LSR of every activity (no units). Concepts without a
standard code use the private coding scheme ``99SPINEMETS`` (defined in the SR's
CodingSchemeIdentificationSequence). The SR references the source CT series as evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from .. import DISCLAIMER, __version__, anatomy
from .results import lsr_value, primary_strength

SCHEME = "99SPINEMETS"
ALGORITHM_NAME = "spinemets"


def _cc(value: str, scheme: str, meaning: str) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def concept_trabecular_bmd() -> Any:
    return _cc("TRABVBMD", SCHEME, "Trabecular volumetric bone mineral density (K2HPO4 equivalent)")


def concept_strength() -> Any:
    return _cc("VSTRENGTH", SCHEME, "Vertebral compressive strength")


def short_code(prefix: str, name: str) -> str:
    """A CodeValue of at most 16 characters (DICOM SH): ``prefix-name``, or ``prefix-<hash>`` when
    too long (readers such as highdicom expect CodeValue, not LongCodeValue, in SR groups)."""
    import hashlib

    value = f"{prefix}-{name}"
    if len(value) <= 16:
        return value
    return f"{prefix}-{hashlib.sha256(name.encode()).hexdigest()[:15 - len(prefix)]}"


def concept_lsr(activity: str) -> Any:
    return _cc(short_code("LSR", activity), SCHEME, f"Load-to-strength ratio, activity {activity}")


def _vertebra_concept(level: str) -> Any:
    s = anatomy.BY_NAME[f"vertebrae_{level}"]
    return _cc(s.type_code[1], s.type_code[0], s.type_code[2])


def _seg_segment_numbers(seg_ds: Any) -> dict[str, int]:
    """Level name -> segment number in a vertebrae SEG (matched by label, then by code)."""
    out = {}
    by_label = {anatomy.BY_NAME[f"vertebrae_{lv}"].segment_label.lower(): lv for lv in anatomy.VERSE_ID}
    by_code = {anatomy.BY_NAME[f"vertebrae_{lv}"].type_code[1]: lv for lv in anatomy.TARGET_LEVELS}
    for item in seg_ds.SegmentSequence:
        lv = by_label.get(str(getattr(item, "SegmentLabel", "")).lower())
        if lv is None and "SegmentedPropertyTypeCodeSequence" in item:
            lv = by_code.get(str(item.SegmentedPropertyTypeCodeSequence[0].CodeValue))
        if lv is not None:
            out[lv] = int(item.SegmentNumber)
    return out


def write_measurement_report(results: Mapping[str, Any], source_files: Sequence[str | Path],
                             out_path: str | Path, seg_path: str | Path | None = None) -> Path:
    """Write the TID 1500 SR for ``results`` (``results.json`` content) referencing the source CT."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    from ..io.atomic import atomic_path

    if not source_files:
        raise ValueError("a DICOM SR needs the source CT files")
    evidence = [_evidence(pydicom.dcmread(str(f), stop_before_pixels=True)) for f in source_files]
    seg_ds = pydicom.dcmread(str(seg_path)) if seg_path else None
    seg_numbers = _seg_segment_numbers(seg_ds) if seg_ds is not None else {}

    algo = hd.sr.AlgorithmIdentification(name=ALGORITHM_NAME, version=__version__)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=ALGORITHM_NAME, manufacturer_name="spinemets (research software)",
            model_name=__version__))
    ctx = hd.sr.ObservationContext(observer_device_context=observer)

    groups = []
    for lv, d in results.get("levels", {}).items():
        if f"vertebrae_{lv}" not in anatomy.BY_NAME:
            continue
        measurements = []
        bmd = (d.get("bone") or {}).get("trabecular_bmd_mg_cm3")
        if isinstance(bmd, (int, float)):
            measurements.append(hd.sr.Measurement(
                name=concept_trabecular_bmd(), value=float(bmd),
                unit=_cc("mg/cm3", "UCUM", "milligram per cubic centimeter"), algorithm_id=algo))
        strength, method = primary_strength(d.get("bone"))
        if strength is not None:
            measurements.append(hd.sr.Measurement(
                name=concept_strength(), value=float(strength), unit=codes.UCUM.Newton
                if hasattr(codes.UCUM, "Newton") else _cc("N", "UCUM", "Newton"),
                method=_cc(short_code("STR", method), SCHEME, f"strength method {method}") if method else None,
                algorithm_id=algo))
        for act, entry in (d.get("risk") or {}).items():
            v = lsr_value(entry)
            if v is not None:
                measurements.append(hd.sr.Measurement(
                    name=concept_lsr(act), value=float(v), unit=codes.UCUM.NoUnits, algorithm_id=algo))
        if not measurements:
            continue
        tracking = hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"vertebra {lv}")
        if lv in seg_numbers:
            ref = hd.sr.ReferencedSegment.from_segmentation(seg_ds, seg_numbers[lv])
            groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking, referenced_segment=ref,
                finding_type=_vertebra_concept(lv), algorithm_id=algo, measurements=measurements))
        else:
            groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking, finding_type=_vertebra_concept(lv),
                finding_sites=[hd.sr.FindingSite(anatomic_location=_vertebra_concept(lv))],
                algorithm_id=algo, measurements=measurements))
    if not groups:
        raise ValueError("no per-vertebra measurements to report")
    report = hd.sr.MeasurementReport(observation_context=ctx,
                                     procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
                                     imaging_measurements=groups)
    all_evidence = evidence + ([seg_ds] if seg_ds is not None else [])
    sr = hd.sr.Comprehensive3DSR(
        evidence=all_evidence, content=report, series_instance_uid=hd.UID(), series_number=901,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="spinemets",
        is_complete=True, is_final=False, is_verified=False,
        series_description="spinemets LSR report (research)")
    sr.ContentLabel = "SPINEMETS"
    sr.ContentDescription = DISCLAIMER[:64]
    sr.CodingSchemeIdentificationSequence = [_coding_scheme_item()]
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        sr.save_as(str(tmp), enforce_file_format=True)
    return out_path


def _evidence(ds: Any) -> Any:
    """A source dataset usable as SR evidence: blank UIDs filled as the SEG writer fills them."""
    try:  # the same effective UIDs as spinemets.io.write_seg uses for its references
        from ..io import fill_missing_uids

        ds = fill_missing_uids(ds)
    except ImportError:
        pass
    meta = getattr(ds, "file_meta", None)
    if not ds.get("SOPClassUID") and meta is not None and meta.get("MediaStorageSOPClassUID"):
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
    if not ds.get("SOPInstanceUID") and meta is not None and meta.get("MediaStorageSOPInstanceUID"):
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    missing = [k for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
               if not ds.get(k)]
    if missing:
        raise ValueError(f"the source CT lacks {', '.join(missing)}, so an SR cannot reference it")
    return ds


def _coding_scheme_item() -> Any:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = "spinemets private concepts"
    item.CodingSchemeResponsibleOrganization = "spinemets project"
    return item


def read_measurement_report(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a spinemets SR back: ``{level: {concept meaning: value}}`` (for tests and users)."""
    import highdicom as hd

    sr = hd.sr.srread(str(path))
    out: dict[str, dict[str, float]] = {}
    for group in sr.content.get_planar_roi_measurement_groups() + \
            sr.content.get_volumetric_roi_measurement_groups() + _plain_groups(sr):
        ident = str(group.tracking_identifier)
        lv = ident.replace("vertebra ", "")
        for m in group.get_measurements():
            out.setdefault(lv, {})[m.name.meaning] = float(m.value)
    return out


def _plain_groups(sr: Any) -> list[Any]:
    try:
        return list(sr.content.get_image_measurement_groups())
    except AttributeError:
        return []

"""Writing the muscle stage's outputs: muscles.nii.gz (+ .labels.json), muscles.json, DICOM SEG."""

from __future__ import annotations

import logging
from pathlib import Path

from ..image import CTImage
from ..io import write_json_atomic, write_label_map
from .core import MusclesResult

log = logging.getLogger(__name__)


def write_muscle_outputs(result: MusclesResult, ct: CTImage, out_dir: str | Path) -> dict[str, Path]:
    """Write ``OUT/muscles.nii.gz``, ``OUT/muscles.labels.json``, ``OUT/muscles.json`` and, for
    DICOM input, ``OUT/muscles_seg.dcm`` (a DICOM SEG referencing the source series)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"labels": write_label_map(result.labels, out / "muscles.nii.gz"),
             "json": write_json_atomic(out / "muscles.json", result.summary)}
    if ct.metadata.get("input_format") == "dicom" and ct.metadata.get("source_files"):
        if not result.labels.present_ids():
            log.warning("no muscle voxels: DICOM SEG not written")
        else:
            from ..io import write_seg

            paths["seg"] = write_seg(result.labels, ct.metadata["source_files"], out / "muscles_seg.dcm",
                                      series_description="spinemets trunk muscles",
                                      algorithm_name=f"spinemets muscles ({result.summary['backend']})",
                                      series_number=102)
    return paths

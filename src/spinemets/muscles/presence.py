"""Which trunk muscle groups can appear at which vertebral level (anatomical prior).

Ranges are the cranio-caudal extents of the muscle bellies at the mid-vertebral levels, from
standard anatomy (origins/insertions): psoas major arises from T12-L4 bodies and transverse
processes; quadratus lumborum spans the 12th rib to the iliac crest; rectus abdominis runs from
the 5th-7th costal cartilages (the lower sternum: T6-T7 vertebral levels in supine CT) to the pubis; the external oblique arises
from ribs 5-12, the internal oblique from the thoracolumbar fascia/iliac crest up to ribs 10-12;
latissimus dorsi from T7 spinous processes to the iliac crest (its humeral part crosses the
axilla at upper-thoracic levels); trapezius to the T12 spinous process; pectoralis major covers
the anterior chest down to the 6th costal cartilage and, by its abdominal part, the upper
rectus sheath (T6-T7); serratus anterior the lateral
ribs 1-9 (whose lateral parts lie at the T10 vertebral level in axial CT). A group outside its range is reported as ``not_present`` (null values); inside it, the
segmentation decides (an empty result is reported as ``not_found``).
"""

from __future__ import annotations

from .. import anatomy

GROUP_LEVEL_RANGE: dict[str, tuple[str, str]] = {
    "erector_spinae": ("T1", "L5"),
    "transversospinalis": ("T1", "L5"),
    "psoas_major": ("T12", "L5"),
    "quadratus_lumborum": ("T12", "L5"),
    "rectus_abdominis": ("T6", "L5"),
    "external_oblique": ("T6", "L5"),
    "internal_oblique": ("T11", "L5"),
    "latissimus_dorsi": ("T3", "L4"),
    "trapezius": ("T1", "T12"),
    "pectoralis_major": ("T1", "T7"),
    "serratus_anterior": ("T1", "T10"),
}


def expected(group: str, level: str) -> bool:
    """True when ``group`` can appear at the mid-vertebral plane of ``level``."""
    lo, hi = GROUP_LEVEL_RANGE[group]
    i = anatomy.level_index(level)
    return anatomy.level_index(lo) <= i <= anatomy.level_index(hi)

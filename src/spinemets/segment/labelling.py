"""Level labelling of a chain of vertebral segments from the anatomical anchors in the field of view.

Input: per-segment findings ordered caudal -> cranial (sacrum-like shape, rib on the left/right,
lung fraction of the body cross-section at its level). Anchors, in order of reliability:

* ``sacrum``: L5 is the last free vertebra above the sacrum;
* ``last_rib``: the lowest rib-bearing vertebra with a rib-free vertebra below it is T12;
* ``first_rib``: the highest rib-bearing vertebra with a rib-free vertebra above it is T1;
* ``last_rib_at_fov_edge``: the lowest vertebra in view (a partial sliver below it aside) bears
  ribs and lies at the lung bases (little lung in its cross-section): assumed to be T12, with low
  confidence.

When two anchors are present their counts are compared: six rib-free lumbar vertebrae above the
sacrum give L6, four give "T13 or lumbar rib"; other disagreements are reported as warnings and
the affected levels get ``uncertain_label``, never silently relabelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import anatomy

#: Lung area fraction (of the body cross-section) below which a rib-bearing level is taken to be
#: at the lung bases (T11-T12); mid-thoracic levels have 0.3-0.6.
LUNG_BASE_FRACTION = 0.12
#: Lung area fraction above which a level is taken to be at lung level (ribs there are ribs, not
#: iliac bone; bowel gas in the pelvis stays below it).
LUNG_PRESENT_FRACTION = 0.01
#: Confidence ceiling when a sacrum-like segment lies above a free vertebra.
MISPLACED_SACRUM_CONFIDENCE = 0.3


@dataclass
class SegmentFinding:
    sacral: bool = False
    rib_left: bool = False
    rib_right: bool = False
    lung_fraction: float | None = None
    #: rib-like bone near (not touching) the vertebra: weak evidence, used only at the FOV edge
    rib_near: bool = False
    #: only a sliver of the vertebra is in the field of view
    partial: bool = False
    #: sacrum-like width but above a segment that is not sacral: the sacrum is the caudal end of
    #: the column, so this is not a sacrum (contrast-filled heart or aorta, pelvis-like overlap)
    sacral_misplaced: bool = False

    @property
    def rib(self) -> bool:
        return self.rib_left or self.rib_right


@dataclass
class Labelling:
    """``names[i]``: level name of segment i ("L1", "sacrum", "L6", "T13") or None (not assessed)."""

    names: list[str | None]
    anchor: str
    confidence: float
    anchors_found: list[str]
    transitional: str | None = None
    uncertain: set[int] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"anchor": self.anchor, "confidence": round(self.confidence, 2),
                "anchors_found": self.anchors_found, "transitional": self.transitional}


_ORDER = anatomy.CERVICAL + anatomy.THORACIC + anatomy.LUMBAR  # cranial -> caudal


def _names_from(anchor_idx: int, anchor_level: str, n: int, lowest: int) -> list[str | None]:
    """Name segments ``lowest..n-1`` counting from ``anchor_idx`` = ``anchor_level``."""
    pos = _ORDER.index(anchor_level)
    out: list[str | None] = [None] * n
    for i in range(lowest, n):
        p = pos - (i - anchor_idx)
        out[i] = _ORDER[p] if 0 <= p < len(_ORDER) else None
    return out


def label_levels(findings: list[SegmentFinding]) -> Labelling:
    n = len(findings)
    warnings: list[str] = []
    # sacrum: the highest sacrum-like segment (wide, fused with the alae); everything below it is
    # sacrum or coccyx (remnant sacral discs split it into narrower pieces)
    top_sacral = max((i for i in range(n) if findings[i].sacral), default=-1)
    misplaced = [i for i in range(n) if findings[i].sacral_misplaced]
    # the sacrum is the caudal end of the free column: a rib-bearing vertebra at lung level below a
    # sacrum-like segment means that segment is not a sacrum (e.g. a contrast-filled heart above
    # T12); iliac bone beside the lower sacral pieces is rib-like but has no lung beside it
    if top_sacral >= 0 and any(findings[i].rib and not findings[i].partial
                               and (findings[i].lung_fraction or 0.0) >= LUNG_PRESENT_FRACTION
                               for i in range(top_sacral)):
        misplaced.append(top_sacral)
        top_sacral = -1
    if misplaced:
        warnings.append(f"{len(misplaced)} sacrum-like segment(s) above a free vertebra are not a sacrum; "
                        "the anatomy does not fit a normal column, labels are uncertain")
    first_vert = top_sacral + 1
    ribs = [f.rib for f in findings]
    verts = list(range(first_vert, n))
    # a transition needs a rib-free neighbour that is mostly in view (a sliver at the edge of the
    # field of view may have its rib outside it)
    free = [not f.rib and not f.partial for f in findings]
    last_rib = next((i for i in verts if ribs[i] and i - 1 >= first_vert and free[i - 1]), None)
    first_rib = next((i for i in reversed(verts) if ribs[i] and i + 1 < n and free[i + 1]), None)
    anchors = []
    if top_sacral >= 0:
        anchors.append("sacrum")
    if last_rib is not None:
        anchors.append("last_rib")
    if first_rib is not None:
        anchors.append("first_rib")
    uncertain: set[int] = set()
    transitional = None

    def finish(names: list[str | None], anchor: str, conf: float) -> Labelling:
        for i in range(0, first_vert):
            names[i] = "sacrum"
        if misplaced:
            # evidence that contradicts a normal column: never a confident label
            uncertain.update(range(first_vert, n))
            conf = min(conf, MISPLACED_SACRUM_CONFIDENCE)
        return Labelling(names, anchor, conf, anchors, transitional, uncertain, warnings)

    if top_sacral >= 0 and first_vert < n:
        names = _names_from(first_vert, "L5", n, first_vert)
        conf = 0.85
        if last_rib is not None:
            n_lumbar = last_rib - first_vert
            if n_lumbar == 5:
                conf = 0.95
            elif n_lumbar == 6:
                transitional = "L6: six rib-free lumbar-type vertebrae above the sacrum"
                names = _names_from(last_rib, "T12", n, first_vert)
                names[first_vert] = "L6"
                conf = 0.7
                warnings.append("transitional anatomy: six lumbar-type vertebrae; the lowest is labelled L6")
            elif n_lumbar == 4:
                transitional = "T13 or lumbar rib: only four rib-free vertebrae above the sacrum"
                uncertain.add(last_rib)
                conf = 0.6
                warnings.append("the vertebra labelled L1 from the sacrum bears a rib (T13 or lumbar rib?)")
            else:
                conf = 0.4
                uncertain.update(range(first_vert, n))
                warnings.append(f"sacrum and last rib disagree ({n_lumbar} rib-free vertebrae between them); "
                                "labels counted from the sacrum")
        return finish(names, "sacrum", conf)
    if last_rib is not None:
        names = _names_from(last_rib, "T12", n, first_vert)
        conf = 0.85
        if first_rib is not None:
            if first_rib - last_rib == 11:
                conf = 0.95
            else:
                conf = 0.5
                uncertain.update(range(first_vert, n))
                warnings.append(f"{first_rib - last_rib + 1} rib-bearing vertebrae between the first and the "
                                "last rib; labels counted from the last rib")
        return finish(names, "last_rib", conf)
    if first_rib is not None:
        return finish(_names_from(first_rib, "T1", n, first_vert), "first_rib", 0.8)
    # the lowest vertebra mostly in view (a sliver below it, cut by the field of view, may have its
    # rib outside the field of view or be the rib-free L1 below T12)
    low = next((i for i in verts if not findings[i].partial), verts[0] if verts else None)
    if low is not None and all(not ribs[i] for i in verts if i < low) and (ribs[low] or findings[low].rib_near):
        lf = findings[low].lung_fraction
        if lf is not None and lf <= LUNG_BASE_FRACTION:
            warnings.append("no vertebra below the lowest rib-bearing one is in view; it is assumed to be T12 "
                            f"because it lies at the lung bases (lung fraction {lf:.2f})")
            uncertain.update(i for i in verts if i <= low)
            conf = 0.5 if ribs[low] else 0.35
            return finish(_names_from(low, "T12", n, first_vert), "last_rib_at_fov_edge", conf)
    # no anchor: keep the segmentation, label counting up from L5 and mark everything uncertain
    warnings.append("no labelling anchor (sacrum or rib transition) in the field of view; "
                    "levels are a guess and marked uncertain_label")
    uncertain.update(range(first_vert, n))
    guess = "T12" if verts and ribs[verts[0]] else "L5"
    return finish(_names_from(first_vert, guess, n, first_vert), "none", 0.1)

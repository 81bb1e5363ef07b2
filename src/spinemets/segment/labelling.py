"""Level labelling of a chain of vertebral segments from the anatomical anchors in the field of view.

Input: per-segment findings ordered caudal -> cranial (sacrum-like shape, rib on the left/right,
lung fraction of the body cross-section at its level). Anchors, in order of reliability:

* ``sacrum``: L5 is the last free vertebra above the sacrum;
* ``last_rib``: the lowest rib-bearing vertebra with a rib-free vertebra below it is T12 (a
  segment cut by the lower edge of the field of view is rib-free evidence only when at least the
  upper half of its level, where ribs 10-12 articulate, is in view);
* ``first_rib``: the highest rib-bearing vertebra with a rib-free vertebra above it is T1 (weak, with
  low confidence, when that rib-free vertebra is cut by the field of view: the first rib
  articulates with the top of T1 and may lie outside it; or when rib-like bone lies near it
  without touching it: a T1 whose short, curved first rib was not seen at its joint);
* ``last_rib_at_fov_edge``: the lowest vertebra in view (a partial sliver below it aside) bears
  ribs and lies at the lung bases (little lung in its cross-section): assumed to be T12, with low
  confidence, and every level counted from it is ``uncertain_label``.

When two anchors are present their counts are compared: six rib-free lumbar vertebrae above the
sacrum give L6, four give "T13 or lumbar rib"; other disagreements are reported as warnings and
the affected levels get ``uncertain_label``, never silently relabelled.

Plausibility checks that hold whatever the anchor:

* the sacrum is the caudal end of the column: a sacrum-like (wide) segment at the top of the field
  of view or above a rib-bearing level at lung level is not a sacrum; one counted as T1 is the
  first rib pair beside T1 (normal anatomy), any other caps the confidence (contrast-filled heart);
* the first rib lies above the last rib;
* ribs are thoracic: a rib on a segment counted as cervical (C6 or above; the first rib's head at
  the top of T1 touches the segment counted as C7) means an extra segment
  or a cervical rib, and the thoracic labels become uncertain; a rib at lung level on a segment
  counted as lumbar means a broken count, and every label becomes uncertain;
* level heights (disc to disc) change smoothly along the column: a segment much longer than its
  neighbours (two merged), or two adjacent short ones that add up to about one level (a vertebra
  split in two), make every label counted across them from the anchor uncertain;
* lumbar levels are 0.9-1.7x as tall as T10-T12, and without a sacrum in view no complete free segment
  lies below the one counted as L5 (else: extra segments or L6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import anatomy

#: Lung area fraction (of the body cross-section) below which a rib-bearing level is taken to be
#: at the lung bases (T11-T12); mid-thoracic levels have 0.3-0.6.
LUNG_BASE_FRACTION = 0.12
#: Lung area fraction above which a level is taken to be at lung level (ribs there are ribs, not
#: iliac bone; bowel gas in the pelvis stays below it).
LUNG_PRESENT_FRACTION = 0.01
#: Confidence ceiling when a sacrum-like segment lies above a free vertebra.
MISPLACED_SACRUM_CONFIDENCE = 0.3
#: A segment whose disc-to-disc height exceeds this ratio to the median of its neighbours (up to
#: two on each side, complete segments above the sacrum only) holds two levels: adjacent levels
#: differ by < 20 % in height.
HEIGHT_RATIO_MAX = 1.6
#: Two adjacent segments each shorter than this ratio and together shorter than HEIGHT_RATIO_MAX
#: are one level split in two: a crush fracture removes at most ~half of the body height and the
#: discs stay, so a fractured level keeps >= ~0.65 of its neighbours' height, next to a normal one.
SPLIT_PART_MAX = 0.75
#: Lumbar level heights (disc to disc) exceed the T10-T12 ones (L1-L5 ~30-40 mm, T10-T12 ~24-30 mm
#: in adults); segments named lumbar with a median height below this fraction of the segments
#: named T10-T12 are split vertebrae, not lumbar levels.
LUMBAR_THORACIC_MIN = 0.9
#: ... and by less than this factor (T12 ~27 mm vs L3 ~37 mm; a thoracic level split in two gives
#: >= 2).
LUMBAR_THORACIC_MAX = 1.7
#: Confidence at most this when a plausibility check fails.
CONFIDENCE_IMPLAUSIBLE = 0.5


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
    #: the segment is cut by the field of view (its height is not a level height)
    at_fov_edge: bool = False
    #: disc-to-disc height along the body column (mm), and the width (mm) of the continuous bone
    #: across the body row (the sacrum test); None when not measured
    height_mm: float | None = None
    width_mm: float | None = None

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
    # sacrum or coccyx (remnant sacral discs split it into narrower pieces).
    # The sacrum is the caudal end of the free column: a rib-bearing vertebra at lung level below a
    # sacrum-like segment means that segment is not a sacrum (e.g. a contrast-filled heart above
    # T12, the first ribs beside T1); iliac bone beside the lower sacral pieces is rib-like but has
    # no lung beside it. The highest sacrum-like segment without one below is the sacrum.
    misplaced = [i for i in range(n) if findings[i].sacral_misplaced]
    top_sacral = -1
    for i in range(n):
        if not findings[i].sacral:
            continue
        if any(findings[j].rib and not findings[j].partial
               and (findings[j].lung_fraction or 0.0) >= LUNG_PRESENT_FRACTION for j in range(i)):
            misplaced.append(i)
        else:
            top_sacral = i
    first_vert = top_sacral + 1
    ribs = [f.rib for f in findings]
    verts = list(range(first_vert, n))
    # a transition needs a rib-free neighbour that is mostly in view (a sliver at the edge of the
    # field of view may have its rib outside it)
    # ... and a segment cut by the lower edge shows only its upper part: it is rib-free evidence only
    # when that part holds where the rib defining the transition would articulate
    shows_rib_zone = _shows_rib_zone(findings)
    free = [not f.rib and not f.partial and shows_rib_zone[i] for i, f in enumerate(findings)]
    last_rib = next((i for i in verts if ribs[i] and i - 1 >= first_vert and free[i - 1]), None)
    # (the first rib lies above the last rib)
    first_rib = next((i for i in reversed(verts) if ribs[i] and i + 1 < n and free[i + 1]
                      and (last_rib is None or i > last_rib)), None)
    # the first rib articulates with the top of T1: a rib-free segment cut by the upper edge of
    # the field of view may be a T1 whose first rib lies outside it (a weak first-rib anchor)
    # ... and a complete rib-free segment above it with rib-like bone near it (not touching) may be
    # a T1 whose short, curved first rib is seen beside it but not at its joint
    first_rib_weak = first_rib is not None and (findings[first_rib + 1].at_fov_edge
                                                or findings[first_rib + 1].rib_near)
    anchors = []
    if top_sacral >= 0:
        anchors.append("sacrum")
    if last_rib is not None:
        anchors.append("last_rib")
    if first_rib is not None:
        anchors.append("first_rib")
    uncertain: set[int] = set()
    transitional = None

    def finish(names: list[str | None], anchor: str, conf: float, anchor_idx: int | None = None) -> Labelling:
        for i in range(0, first_vert):
            names[i] = "sacrum"
        if anchor_idx is not None:
            conf = _plausibility(findings, names, anchor_idx, first_vert, conf, uncertain, warnings)
        # a sacrum-like segment counted as T1 is the first rib pair beside T1 (a wide bone row of
        # normal anatomy); any other one contradicts a normal column: never a confident label
        unexplained = [i for i in misplaced if names[i] != "T1"]
        if unexplained:
            warnings.append(f"{len(unexplained)} sacrum-like segment(s) above a free vertebra are not a sacrum; "
                            "the anatomy does not fit a normal column, labels are uncertain")
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
                # (which of the six is the extra one - or whether one is a split vertebra - the
                # image does not tell: the lumbar labels are flagged)
                uncertain.update(range(first_vert, last_rib))
                warnings.append("transitional anatomy: six lumbar-type vertebrae; the lowest is labelled L6")
            elif n_lumbar == 4:
                transitional = "T13 or lumbar rib: only four rib-free vertebrae above the sacrum"
                # (or a sacralised L5, or an L5 taken for the sacrum: the count from the sacrum and
                # the one from the last rib differ by one level, and the image cannot tell which)
                uncertain.update(range(first_vert, n))
                conf = 0.6
                warnings.append("the vertebra labelled L1 from the sacrum bears a rib (T13 or lumbar rib?)")
            else:
                conf = 0.4
                uncertain.update(range(first_vert, n))
                warnings.append(f"sacrum and last rib disagree ({n_lumbar} rib-free vertebrae between them); "
                                "labels counted from the sacrum")
        return finish(names, "sacrum", conf, first_vert)
    if last_rib is not None:
        names = _names_from(last_rib, "T12", n, first_vert)
        conf = 0.85
        if first_rib is not None and not first_rib_weak:
            if first_rib - last_rib == 11:
                conf = 0.95
            else:
                conf = 0.5
                uncertain.update(range(first_vert, n))
                warnings.append(f"{first_rib - last_rib + 1} rib-bearing vertebrae between the first and the "
                                "last rib; labels counted from the last rib")
        # ribs run without a gap from T1 to T12: a rib-free segment between two complete rib-bearing
        # ones is a thoracic vertebra whose rib was missed (a short 12th or 11th rib) or half of a
        # level split by a false disc, not L1; unless a first rib 12 levels up confirms the count
        # (then the rib below is a lumbar rib, judged in ``_plausibility``). Rib-like bone further
        # down (a long L3 transverse process, the iliac crest beside L5) says nothing about L1.
        j = last_rib - 2
        if j >= first_vert and ribs[j] and not findings[j].partial and conf < 0.95:
            conf = min(conf, 0.5)
            uncertain.update(range(first_vert, n))
            warnings.append("the rib-free segment taken as L1 lies between two rib-bearing ones (a missed rib "
                            "or a split level): the count from the last rib is unconfirmed")
        return finish(names, "last_rib", conf, last_rib)
    if first_rib is not None:
        conf = 0.8
        if first_rib_weak:
            conf = 0.5
            uncertain.update(range(first_vert, n))
            why = ("is cut by the field of view (its first rib may lie outside it)"
                   if findings[first_rib + 1].at_fov_edge else
                   "has rib-like bone near it (a first rib not seen at its joint?)")
            warnings.append(f"the rib-free segment above the highest rib-bearing one {why}: the highest "
                            "rib-bearing one is counted as T1 with low confidence")
        return finish(_names_from(first_rib, "T1", n, first_vert), "first_rib", conf, first_rib)
    # the lowest vertebra mostly in view (a sliver below it, cut by the field of view, may have its
    # rib outside the field of view or be the rib-free L1 below T12)
    low = next((i for i in verts if not findings[i].partial and shows_rib_zone[i]), verts[0] if verts else None)
    if low is not None and all(not ribs[i] for i in verts if i < low) and (ribs[low] or findings[low].rib_near):
        lf = findings[low].lung_fraction
        if lf is not None and lf <= LUNG_BASE_FRACTION:
            warnings.append("no vertebra below the lowest rib-bearing one is in view; it is assumed to be T12 "
                            f"because it lies at the lung bases (lung fraction {lf:.2f})")
            # (every level is counted from this assumption: all of them are uncertain; the upper
            # edge of the lung bases is not sharp - a T10 at the lung bases was taken for T12)
            uncertain.update(verts)
            conf = 0.5 if ribs[low] else 0.35
            return finish(_names_from(low, "T12", n, first_vert), "last_rib_at_fov_edge", conf, low)
    # no anchor: keep the segmentation, label counting up from L5 and mark everything uncertain
    warnings.append("no labelling anchor (sacrum or rib transition) in the field of view; "
                    "levels are a guess and marked uncertain_label")
    uncertain.update(range(first_vert, n))
    guess = "T12" if verts and ribs[verts[0]] else "L5"
    return finish(_names_from(first_vert, guess, n, first_vert), "none", 0.1)


#: Ribs 10-12 (the last rib, whose absence below marks L1) articulate with the upper half of their
#: own vertebral body (ribs 2-9 at the disc between two bodies): a segment cut by the lower edge of
#: the field of view shows whether it bears such a rib only when at least this fraction of a level
#: height is in view.
RIB_ZONE_FRACTION = 0.5


def _shows_rib_zone(findings: list[SegmentFinding]) -> list[bool]:
    """Per segment: whether its rib articulation zone is in view. False only for the caudal end
    segment cut by the field of view and shorter than ``RIB_ZONE_FRACTION`` of the level above it
    (the nearest complete segment's disc-to-disc height); such a segment is neither rib-free nor
    rib-bearing evidence for the last-rib count."""
    out = [True] * len(findings)
    if not findings or not findings[0].at_fov_edge or findings[0].height_mm is None:
        return out
    ref = next((f.height_mm for f in findings[1:] if f.height_mm is not None and not f.at_fov_edge
                and not f.partial), None)
    if ref is not None and findings[0].height_mm < RIB_ZONE_FRACTION * ref:
        out[0] = False
    return out


def _height_outliers(findings: list[SegmentFinding], first_vert: int) -> dict[int, float]:
    """Segments (index -> height ratio to the neighbours' median) that are not one level: two
    levels merged (ratio > HEIGHT_RATIO_MAX), or one level split in two (the segment and a
    neighbour both short, HEIGHT_RATIO_MIN..., together about one level). A single short segment
    beside a long one is a displaced disc, which does not change the count."""
    n = len(findings)
    ok = [i for i in range(first_vert, n)
          if findings[i].height_mm is not None and not findings[i].at_fov_edge and not findings[i].partial]
    ratio: dict[int, float] = {}
    for pos, i in enumerate(ok):
        nb = [findings[j].height_mm for j in ok[max(0, pos - 2):pos] + ok[pos + 1:pos + 3]]
        if len(nb) >= 2:
            ratio[i] = float(findings[i].height_mm / np.median(nb))  # type: ignore[operator]
    out = {i: r for i, r in ratio.items() if r > HEIGHT_RATIO_MAX}
    for a, b in zip(ok, ok[1:]):
        if b == a + 1 and a in ratio and b in ratio and max(ratio[a], ratio[b]) < SPLIT_PART_MAX \
                and ratio[a] + ratio[b] < HEIGHT_RATIO_MAX:
            out[a] = ratio[a]
            out[b] = ratio[b]
    return out


def _lumbar_thoracic_ratio(findings: list[SegmentFinding], names: list[str | None]) -> float | None:
    """Median height of the complete segments named L1-L5 over that of those named T10-T12 (None
    when fewer than two of either)."""
    def med(levels: list[str]) -> float | None:
        h = [f.height_mm for f, nm in zip(findings, names) if nm in levels and f.height_mm is not None
             and not f.at_fov_edge and not f.partial]
        return float(np.median(h)) if len(h) >= 2 else None
    lum, tho = med(anatomy.LUMBAR), med(["T10", "T11", "T12"])
    return None if lum is None or tho is None else lum / tho


def _plausibility(findings: list[SegmentFinding], names: list[str | None], anchor_idx: int, first_vert: int,
                  conf: float, uncertain: set[int], warnings: list[str]) -> float:
    """Cross-checks of a labelling counted from ``anchor_idx``; returns the (lowered) confidence
    and adds the levels the failed checks make uncertain to ``uncertain``."""
    n = len(findings)
    # ribs are thoracic: a rib on a complete segment counted as cervical (from C6 up: the head of
    # the first rib sits at the top of T1, within the rib contact distance of the segment counted
    # as C7)
    cervical_rib = [i for i in range(first_vert, n) if findings[i].rib and not findings[i].partial
                    and names[i] is not None and names[i].startswith("C") and names[i] != "C7"]
    if not cervical_rib and anchor_idx < n:
        # counted up past C1: every segment above the column's top is cervical
        cervical_rib = [i for i in range(first_vert, n) if names[i] is None and i > anchor_idx
                        and findings[i].rib and not findings[i].partial]
    if cervical_rib:
        i = cervical_rib[0]
        # the split or the extra rib lies somewhere in the rib-bearing run counted from the anchor
        uncertain.update(k for k in range(max(first_vert, anchor_idx), n)
                         if names[k] is None or not names[k].startswith("L"))
        conf = min(conf, CONFIDENCE_IMPLAUSIBLE)
        warnings.append(f"a rib-bearing segment is counted as {names[i] or 'above C1'}: an extra segment "
                        "(a vertebra split in two) or a cervical rib; thoracic labels are uncertain")
    # ribs at lung level are thoracic: one on a segment counted as lumbar (or below L5) means the
    # count is broken (a split vertebra; iliac bone beside the sacrum has no lung beside it)
    lumbar_rib = [i for i in range(first_vert, n) if findings[i].rib and not findings[i].partial
                  and (findings[i].lung_fraction or 0.0) >= LUNG_PRESENT_FRACTION
                  and (names[i] is None and i < anchor_idx or (names[i] or "").startswith("L"))]
    if lumbar_rib:
        uncertain.update(range(first_vert, n))
        conf = min(conf, CONFIDENCE_IMPLAUSIBLE)
        warnings.append(f"a rib-bearing segment at lung level is counted as {names[lumbar_rib[-1]] or 'below L5'}: "
                        "the count from the anchor is broken (split vertebra?); all labels are uncertain")
    below_l5 = [i for i in range(first_vert, min(anchor_idx, n)) if names[i] is None
                and not findings[i].partial and not findings[i].at_fov_edge]
    if below_l5:
        uncertain.update(k for k in range(first_vert, n) if names[k] is None or names[k].startswith("L")
                         or names[k] == "T12")
        conf = min(conf, CONFIDENCE_IMPLAUSIBLE)
        warnings.append(f"{len(below_l5)} complete free segment(s) below the one counted as L5 and no sacrum: "
                        "extra segments (split vertebrae) or transitional anatomy; lumbar labels are uncertain")
    lt = _lumbar_thoracic_ratio(findings, names)
    if lt is not None and not LUMBAR_THORACIC_MIN <= lt <= LUMBAR_THORACIC_MAX:
        region = "L" if lt < LUMBAR_THORACIC_MIN else "T"
        uncertain.update(k for k in range(first_vert, n) if names[k] is not None and names[k].startswith(region))
        conf = min(conf, CONFIDENCE_IMPLAUSIBLE)
        warnings.append(f"the segments counted as lumbar are {lt:.2f}x as tall as those counted as T10-T12 "
                        f"(expected {LUMBAR_THORACIC_MIN}-{LUMBAR_THORACIC_MAX}x): split vertebrae; "
                        f"{'lumbar' if region == 'L' else 'thoracic'} labels are uncertain")
    for i, ratio in sorted(_height_outliers(findings, first_vert).items()):
        side = range(i, n) if i >= anchor_idx else range(first_vert, i + 1)
        uncertain.update(side)
        conf = min(conf, CONFIDENCE_IMPLAUSIBLE)
        kind = "two levels merged, a missed disc" if ratio > 1 else "one of two parts of a split vertebra"
        warnings.append(f"segment {names[i] or i} is {ratio:.2f}x its neighbours' height ({kind}); "
                        f"labels counted across it from the anchor are uncertain")
    return conf

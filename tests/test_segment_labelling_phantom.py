"""Level labelling on small phantoms outside the five segmentation CASES (issue 3: identification
rate 100 %; transitional anatomy or an implausible count is flagged, never a silent mislabel).

Seeds chosen because they failed before the labelling cross-checks (measured 2026-11-24, small
preset, T1-L5 field of view):

* seed 7 (osteoporotic: trabecular BMD 76-81 mg/cm3, ~100 HU, under the 110 HU bone threshold):
  mid-body bone coverage 0.45-0.56 along the lumbar centreline, so the disc chain took mid-body
  dips as discs (true discs 0.06-0.17) and split T12 and L2-L5 in two (15-20 mm segments); the
  centreline started in L5, so the sacrum was not in the chain. Labels counted from the last rib:
  L1-L5 wrong at confidence 0.5, the lumbar levels not flagged. Since the new coarse column
  (f5fb7aa) the levels are whole: 16/16 (at confidence 0.95 while the chain followed a sacral ala
  into the sacrum; with the midline-weighted chain the centreline starts in L5 again, the sacrum
  is not tracked and the last rib anchors at 0.85);
* seed 21: the T2/T3 disc (4.6 mm, 3 mm slices) leaves no dip in the bone coverage (0.92-0.98,
  detected discs 0.62-0.71): T3 segment 26 mm over T4-T8 20-22 mm, top segment 32 mm holding T1
  and half of T2; T1 labelled T2 at confidence 0.95 (seeds 14 and 15 fail the same way);
* seed 22: the top segment (T1 with the first ribs, a 69+ mm bone row) passed the sacrum width
  test, so every vertebra was called sacrum: 0/16 identified (confidence 0.1);
* seed 19 (BMD 80-92 mg/cm3): the same mid-body dips (0.53-0.57, thoracic discs 0.27-0.54) split
  thoracic and lumbar levels in two (32 segments, 9-15 mm each), taken as L6 with the lumbar labels
  not flagged: 1/16 identified at confidence 0.7. Since f5fb7aa the lumbar spine is right, but
  from T8 up the discs are found half a level out of phase (each segment holds the lower half of
  one level and the upper half of the next, 20-22 mm high like the true levels, a 34 mm T9/T8
  segment below them): T2-T7 not identified (10/16) at confidence 0.95; with the
  midline-weighted chain T2-T6 (11/16) at confidence 0.85 (last-rib anchor);
* seed 3 with a T1-T10 field of view: the T1 cut by the top edge shows no rib, so T2 was taken as
  the first rib: 0/8 identified at confidence 0.8.

Regression cases of f5fb7aa's coarse column (best chain of per-slice distance maxima): the chain
scored the sacral alae / sacroiliac bone 25-35 mm lateral of the midline (inscribed radius 16-22
mm, deeper than the sacral midline) above the sacral midline and entered L5 off-centre, so the
disc profile along the centreline had false dips (a 'disc' inside the sacrum; in seed 8 the whole
lumbar and lower thoracic disc chain half a level out of phase). Candidates now weigh less the
farther they lie from the body outline's lateral midline (``centreline._midline_weight``):

* seed 8 (full field of view): 16/16 at confidence 0.95 before f5fb7aa, 0/16 at 0.4 after it,
  16/16 at 0.95 again;
* seed 7 with a T8-L5 field of view: 10/10 at 0.5 before f5fb7aa, 0/10 at 0.6 after it (an
  extra sacral 'disc'), 10/10 at 0.85 (last-rib anchor) now;
* seed 8 with a T8-L5 field of view fails before and after f5fb7aa alike (0/10 at 0.4, flagged).

Disc chain weighted by valley narrowness (``discs._narrowness``; measured 2026-11-24, third session;
small preset, seeds 1-25 full field of view, seeds 1-12 T8-L5, seed 3 T1-T10, seed 21 T1-T12): a
disc is a narrow valley of the coverage profile between two end plates, an osteoporotic body's
marrow a wide one; and the profile is no longer smoothed (smoothing blurred a one-voxel thin
thoracic disc away between its end plates at 3 mm slices). Before -> after:

* seeds 14, 15, 21: 15/16 at 0.95 (T1/T2 silent) -> 16/16 at 0.95;
* seed 19: 11/16 at 0.85 (unflagged) -> 16/16 at 0.85 (last-rib anchor);
* seed 8 T8-L5: 0/10 at 0.4 (flagged) -> 10/10 at 0.95;
* seed 3 T1-T10 and seed 21 T1-T12: the chain now also finds the C7/T1 disc, so the complete T1
  (16.5 mm, no rib touching it, rib-like bone near it) is a rib-free segment above the highest
  rib-bearing one, and T2 was taken as T1 at confidence 0.8 (silent); the first-rib anchor is now
  weak when that segment has rib-like bone near it: 0/8 and 0/10 at 0.5, all flagged (as before);
* every other case of the sweep: all levels identified before and after.

First rib judged at its contact (measured 2026-11-24, fourth session; ``pipeline._near_other`` returns
the contact point): seed 3 T1-T10 and seed 21 T1-T12 had their first-rib regions touching the
complete T1 (3 mm) but rejected as "in front of the body" (contrast-filled aorta rule): the mean
position of the short, sharply curved first rib within 40 mm of T1 lies 14-16 mm in front of the
body centre, while its contact (the closest voxels) lies beside the body. Ribs are now judged where they
come closest to the vertebra, and bone touching it in front of the body centre is a rib only beyond
the transverse-process tips (``separate.ZONE_RIB_LATERAL_MM``, 38 mm; first-rib contacts lie 42-53 mm
lateral, 4 mm in front to 2 mm behind the centre):

* seed 3 T1-T10: 0/8 at 0.5 -> 8/8 at 0.5 (weak first-rib anchor: the C7 above is cut by the field of
  view), all flagged;
* seed 21 T1-T12: 0/10 at 0.5 -> 0/10 at 0.5, all flagged: T1 now bears ribs, but an extra disc
  splits T11/T12 (13 rib-bearing segments, no rib transition in view);
* T1-T10 seeds 1-12: 0 -> 3 of 12 fully identified (seeds 3, 8, 10, all at 0.5); T1-T12 seeds 1-12:
  8 -> 12 of 12 (seeds 2, 8, 11, 12; at 0.5-0.85); seeds 1-25 full and 1-12 T8-L5: all levels identified before
  and after; no silent mislabel anywhere.
"""

import pytest

from spinemets import anatomy
from spinemets.segment import evaluate_vertebrae, segment_vertebrae

#: (seed, PhantomConfig overrides)
CASES = {
    "seed7": (7, {}),
    "seed19": (19, {}),
    "seed21": (21, {}),
    "seed22": (22, {}),
    "seed3_T1_T10": (3, {"fov_levels": ("T1", "T10")}),
    "seed8": (8, {}),
    "seed7_T8_L5": (7, {"fov_levels": ("T8", "L5")}),
    "seed8_T8_L5": (8, {"fov_levels": ("T8", "L5")}),
    "seed14": (14, {}),
    "seed15": (15, {}),
    "seed21_T1_T12": (21, {"fov_levels": ("T1", "T12")}),
}

#: Identification not yet 100 %: the causes are segmentation errors (here a first rib not seen at
#: T1) that the labelling cannot undo; it flags them (test_wrong_labels_are_flagged).
_ID_XFAIL = {
    "seed21_T1_T12": ("the complete T1 now bears its first ribs (judged at their contact, beyond the "
                      "transverse-process tips), but an extra disc splits T11/T12 in two (13 rib-bearing "
                      "segments, the predicted T11 holds half of T11 and half of T12); since the phantom's "
                      "kidneys lie in perirenal fat (partial volume beside the 12th rib changed) one half "
                      "shows no rib, so a rib-free segment lies between two rib-bearing ones and is taken "
                      "as L1 by the last-rib rule: no level identified; the rib-free-between-ribs check flags "
                      "all at confidence 0.5 (was: no rib transition, lowest rib-bearing segment assumed "
                      "T12 at the lung bases, 0/10)"),
    "seed3_T1_T10": ("the complete T1 now bears its first ribs: 8/8 identified, but the rib-free segment "
                     "above it (C7, 7.5 mm) is cut by the field of view, so the first-rib anchor is weak (a "
                     "T1 sliver whose first rib lies outside the field of view would look the same): "
                     "confidence 0.5, all flagged"),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request, phantom_factory):
    seed, overrides = CASES[request.param]
    ph = phantom_factory(seed, **overrides)
    res = segment_vertebrae(ph.ct)
    return request.param, ph, res, evaluate_vertebrae(res.vertebrae, ph.labels)


@pytest.mark.slow
def test_identification(case, request):
    seed, ph, res, m = case
    if seed in _ID_XFAIL:
        request.applymarker(pytest.mark.xfail(strict=True, reason=_ID_XFAIL[seed]))
    missed = [lv for lv in ph.complete_levels() if not m["levels"][lv].get("identified")]
    assert not missed, (seed, missed, res.summary["labelling"])
    assert res.summary["labelling"]["confidence"] >= 0.8


@pytest.mark.slow
def test_wrong_labels_are_flagged(case):
    """Every predicted level involved in a failed identification (VerSe rule: the true vertebra's
    closest predicted centroid within 20 mm carries its name) - the level predicted under that
    name and the one predicted closest to it - is reported as ``uncertain_label``, and the
    labelling confidence is below 0.8."""
    name, ph, res, m = case
    levels = res.summary["levels"]
    involved = set()
    for lv in ph.complete_levels():
        e = m["levels"][lv]
        if e.get("identified"):
            continue
        involved.add(lv)
        closest = e.get("closest_predicted_label")
        if closest is not None:
            involved.add(anatomy.level_of(int(closest)))
    involved = {lv for lv in involved if lv in levels}
    silent = {lv: levels[lv]["status"] for lv in involved if levels[lv]["status"] != "uncertain_label"}
    assert not silent, (name, silent, res.summary["labelling"])
    if involved:
        assert res.summary["labelling"]["confidence"] < 0.8

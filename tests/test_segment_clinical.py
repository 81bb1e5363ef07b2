"""Classic backend on clinical-resolution phantoms (0.75 x 0.75 mm pixels, 1 mm slices, 512 x 512).

The issue-3 phantom target (every complete level identified, Dice >= 0.95) measured at the
resolution of a clinical CT, where the 3 mm-voxel partial volume of ``test_segment_phantom.py`` no
longer dominates. Each case generates a 512^3 phantom (about 35 s and 4.6 GB peak) and keeps only
its metrics, so one case is in memory at a time.
"""

import gc

import pytest

from spinemets.phantom import PhantomConfig, generate_phantom
from spinemets.segment import evaluate_vertebrae, segment_vertebrae

DICE_TARGET = 0.95

CASES = {
    "seed1_random_lesions": dict(seed=1),
    "seed3_blastic_mixed": dict(seed=3, lesions=[("L3", "blastic", "body", 10.0), ("T10", "mixed", "body", 9.0)]),
    "seed2_lytic": dict(seed=2, lesions=[("L2", "lytic", "body", 12.0), ("T8", "lytic", "body", 9.0)]),
    "seed4_fracture": dict(seed=4, lesions=[], fracture_levels=["L1"]),
}

#: Measured 2026-11-24 (seventh session). Seeds 1 and 3: every complete level T2-L5 >= 0.952 (T1 touches
#: the top of the field of view and is not complete: 0.90 on seed 1); seed 4 (L1 fracture): >= 0.956 (L1
#: 0.956, was 0.877 before lytic.py filled the cavity opened through the wall). The partial field of view
#: T8-L5 (seed 5) is in test_segment_top.py. Ninth session: seed 2 (lytic T8) meets the target, every
#: complete level >= 0.952 (T8 0.953, was 0.932; T7 0.967, was 0.948), since the arch seeds and the
#: CT-grid midline band centre on the arches' mirror plane (``classic/arch_midline.py``) instead of the
#: body centreline, which the lesion in the left half of T8 had pulled 4 mm to the right.
_DICE_XFAIL: dict[str, str] = {}


@pytest.fixture(scope="module", params=list(CASES))
def clinical_case(request):
    cfg = dict(CASES[request.param])
    ph = generate_phantom(PhantomConfig(seed=cfg.pop("seed"), size="clinical", **cfg))
    res = segment_vertebrae(ph.ct)
    m = evaluate_vertebrae(res.vertebrae, ph.labels)
    out = request.param, ph.complete_levels(), m, res.summary["labelling"]
    del ph, res
    gc.collect()
    return out


@pytest.mark.slow
def test_clinical_phantom_identification(clinical_case):
    name, levels, m, labelling = clinical_case
    assert len(levels) >= 15
    missed = [lv for lv in levels if not m["levels"][lv].get("identified")]
    assert not missed, (name, missed, labelling)
    assert labelling["confidence"] >= 0.8


@pytest.mark.slow
def test_clinical_phantom_dice(clinical_case, request):
    name, levels, m, _ = clinical_case
    if name in _DICE_XFAIL:
        request.applymarker(pytest.mark.xfail(strict=True, reason=_DICE_XFAIL[name]))
    low = {lv: m["levels"][lv]["dice"] for lv in levels if m["levels"][lv]["dice"] < DICE_TARGET}
    assert not low, (name, low)

"""Deep posterior abdominal wall muscles (psoas major, quadratus lumborum) of the classic backend:
thin fat planes found as HU valleys, and the issue-4 phantom target on the lean and the other
phantoms beyond the two fixtures of test_muscles.py."""

from __future__ import annotations

import numpy as np
import pytest

from spinemets.muscles import segment_muscles
from spinemets.muscles.valley import fat_valleys, image_noise_hu


# --- thin fat planes as HU valleys ---------------------------------------------------------------
def _two_tissues_with_plane(plane_mm: float, px: float = 1.0, noise: float = 8.0, seed: int = 0):
    """Muscle (40 HU) above, organ (60 HU) below, a fat plane (-100 HU) of ``plane_mm`` between,
    imaged with a 2 mm box (voxel) and 1 mm Gaussian blur and sampled at ``px``; plus noise."""
    from scipy import ndimage as ndi

    fine = 0.1  # mm
    n = int(80 / fine)
    y = (np.arange(n) + 0.5) * fine
    prof = np.where(y < 40.0, 40.0, 60.0)
    prof[(y >= 40.0) & (y < 40.0 + plane_mm)] = -100.0
    prof = ndi.uniform_filter1d(prof, int(2.0 / fine))  # 2 mm voxel
    prof = ndi.gaussian_filter1d(prof, 1.0 / fine)  # scanner blur
    rows = prof[(np.arange(int(80 / px)) * px / fine + 0.5 * px / fine).astype(int)]
    img = np.repeat(rows[:, None], 60, axis=1).astype(np.float32)
    rng = np.random.default_rng(seed)
    return img + rng.normal(0.0, noise, img.shape).astype(np.float32), rows


@pytest.mark.parametrize("plane_mm", [1.6, 2.0])
def test_thin_fat_plane_above_the_muscle_window_is_a_valley(plane_mm):
    """A 1.6 / 2 mm fat plane imaged with 2 mm voxels: its lowest point reads -26 / -38 HU, above
    any fat threshold (partial volume; -26 HU is in the muscle window), yet the valley cuts the
    plane across its whole length; the homogeneous tissues on either side with the same noise hold
    (almost) no valley pixels."""
    from scipy import ndimage as ndi

    img, rows = _two_tissues_with_plane(plane_mm)
    assert rows.min() > -60.0  # the plane never reads as fat (FAT_PLANE_HU)
    h = ndi.gaussian_filter(img, 0.5)
    noise = image_noise_hu(h, np.ones_like(h, bool))
    v = fat_valleys(h, 1.0, -100.0, noise)
    # every column is cut somewhere within 3 mm of the plane's middle (41.6 mm)
    cut = v[38:46, 2:-2].any(axis=0)
    assert cut.all()
    # nothing above or below it (pure tissue with noise): no barrier anywhere else
    assert v[:30].mean() < 0.002 and v[52:].mean() < 0.002
    # the top / bottom half do not connect around the plane
    lab, _ = ndi.label(~v[:, 2:-2])
    assert not set(np.unique(lab[:30])) & set(np.unique(lab[52:]))


def test_no_valley_at_the_edge_of_thick_fat():
    """A muscle bordering thick fat has no valley at its edge (the flanks are not both soft tissue):
    the fat is found by the HU threshold, the valley rule adds nothing there."""
    img = np.full((60, 40), -100.0, np.float32)
    img[:30] = 40.0
    v = fat_valleys(img, 1.0, -100.0, 5.0)
    assert not v.any()


# --- phantoms: psoas and quadratus lumborum --------------------------------------------------------
def _errors(res, truth, group):
    out = []
    for lv, tl in truth["muscles"].items():
        for side in ("left", "right"):
            tv = tl.get(f"{group}_{side}")
            if not tv or tv["csa_mm2"] < 50:
                continue
            got = res.summary["levels"][lv][f"{group}_{side}"]
            if got["csa_mm2"] is None:
                out.append((lv, side, np.inf, np.inf))
                continue
            out.append((lv, side, (got["csa_mm2"] - tv["csa_mm2"]) / tv["csa_mm2"],
                        float(np.linalg.norm(np.subtract(got["centroid_lps_mm"], tv["centroid_lps_mm"])))))
    return out


@pytest.fixture(scope="module")
def lean_and_other(phantom_factory):
    """Seed 23 (lean: 3.2 mm perirenal fat, the liver a thin fat plane from the small right psoas),
    seed 7 and seed 31, full T1-L5 small phantoms without lesions."""
    out = []
    for seed in (23, 7, 31):
        ph = phantom_factory(seed, lesions=[])
        out.append((ph, segment_muscles(ph.ct, ph.vertebrae)))
    return out


def _check(ph, errs, group):
    e = np.array([abs(v[2]) for v in errs])
    c = np.array([v[3] for v in errs])
    worst = errs[int(np.argmax(e))]
    print(f"seed {ph.config.seed} {group}: CSA err median {np.median(e):.3f}, worst {worst[2]:+.3f} "
          f"({worst[0]} {worst[1]}); centroid max {c.max():.1f} mm (n={len(e)})")
    assert len(e) >= 8
    assert np.median(e) <= 0.10 and e.max() <= 0.20 and c.max() <= 5.0, (group, worst)


@pytest.mark.slow
def test_psoas_meets_issue_target_on_lean_and_other_phantoms(lean_and_other):
    """Psoas major at every level where the truth has it meets the issue's full phantom target on
    seeds 23, 7 and 31 (seeds 3 and 11: test_muscles.py). Measured: seed 23 median 1.6 %, worst
    -5 % (was +66 % at L1 right, +56 % T12 right, +23 % L2 right: the region ran across the
    1.6-pixel fat plane into the liver and into the tissue behind the psoas); seed 7 median 2.5 %,
    worst +11 % (T12 right); seed 31 median 1.9 %, worst 5 % (was +27 % at T12 right, centroid
    14 mm: the seed sat on the liver's rim, which the 2 mm smoothing had darkened into the psoas
    range). Not run here: clinical seed 0 median 1.1 %, worst -4 %; seeds 5 / 14 / 19 / 42 worst
    9 / 14 / +20 (T12 right, 52 mm2) / 7 %."""
    for ph, res in lean_and_other:
        _check(ph, _errors(res, ph.truth, "psoas_major"), "psoas_major")


@pytest.mark.slow
def test_quadratus_lumborum_meets_issue_target_on_lean_phantom(lean_and_other):
    """Quadratus lumborum on the lean seed 23 and on seed 31 meets the full target (seed 23 median
    4.3 %, worst +12 % at L4 left, was +21 % at L1 right; seed 31 median 5.3 %, worst 10 %)."""
    for ph, res in (lean_and_other[0], lean_and_other[2]):
        _check(ph, _errors(res, ph.truth, "quadratus_lumborum"), "quadratus_lumborum")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "seed 7 quadratus lumborum worst -38 % at L5 left (median 3.4 %, centroid <= 1.5 mm; unchanged, "
    "re-measured 2026-11-25): the muscle-equivalent area the image holds in our L5 plane (muscle "
    "fraction (HU - fat) / (muscle - fat) summed over the truth label and a 2-pixel ring, muscle "
    "40-50 HU, fat -79 HU) is only 38-41 mm2 (32-34 in the label alone), our 39.5 mm2 matches it: an "
    "imaging limit (slice thickness and taper), not a segmentation error; a "
    "64 mm2 QL at 2 x 2 x 3 mm voxels (truth hu_mean 14.6 HU); the phantom's own label sampled "
    "nearest-neighbour in our L5 plane is already 52 mm2 (-19 %: our L5 plane lies 1.5 mm posterior "
    "and 1 mm cranial of the design origin and is tilted 5 deg less than the design axis, the QL "
    "tapering to the iliac crest within a 3 mm slice); our region (39 pixels) misses its 2-pixel "
    "medial tail whose 1 mm-smoothed HU is below -29. Unseen seed 14 (L2 right, +43 %, was +98 %) has its "
    "own strict xfail below"))
def test_quadratus_lumborum_meets_issue_target_on_seed_7(lean_and_other):
    ph, res = lean_and_other[1]
    _check(ph, _errors(res, ph.truth, "quadratus_lumborum"), "quadratus_lumborum")


# --- phantoms: paraspinal groups at every level ------------------------------------------------------
@pytest.mark.slow
def test_paraspinal_meets_issue_target_on_seed_7(lean_and_other):
    """Erector spinae and transversospinalis at every level T1-L5 of seed 7 meet the full target.
    Measured: ES median 4.2 %, worst +12 % (T3 left), centroid <= 3.4 mm (before: worst -17 % at
    T6 left, centroid 7.5 mm, the lateral iliocostalis over the ribs missed at T5-T9); TS median
    3.8 %, worst +16 % (T5 right), centroid <= 3.9 mm."""
    ph, res = lean_and_other[1]
    for group in ("erector_spinae", "transversospinalis"):
        _check(ph, _errors(res, ph.truth, group), group)


@pytest.mark.slow
def test_paraspinal_meets_issue_target_on_seed_23(lean_and_other):
    """Erector spinae and transversospinalis at every level T1-L5 of the lean seed 23 meet the full
    target. Measured: ES median 3.5 %, worst +19 % (T1 right), centroid <= 2.9 mm (was +26 % at L1
    right: the liver strip lateral to the ES, reached only through the ES region beyond the
    paraspinal zone's lateral limit, is now cut off); TS median 3.2 %, worst +9 % (T11 right)."""
    ph, res = lean_and_other[0]
    for group in ("erector_spinae", "transversospinalis"):
        _check(ph, _errors(res, ph.truth, group), group)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "seed 31 erector spinae median 5.0 %, worst -18 % (T11 right), centroid 6.2 mm at T6 right (-16 %); "
    "was worst -59 % at T2 (patient table taken as the rib angle) and -54 % at L5 left (waisted ES "
    "trimmed as a wing); transversospinalis worst -38 % at T1 left (both sides -37/-38 %, unchanged)"))
def test_paraspinal_meets_issue_target_on_seed_31(lean_and_other):
    ph, res = lean_and_other[2]
    for group in ("erector_spinae", "transversospinalis"):
        _check(ph, _errors(res, ph.truth, group), group)


@pytest.mark.slow
def test_trapezius_meets_issue_target_on_seeds_23_7_31(lean_and_other):
    """The thin lower trapezius (T7-T10, 1-2 mm) and the whole trapezius meet the full target on
    seeds 23, 7 and 31. Measured: seed 23 median 2.5 %, worst +18 % (T10 left; was -40 % at T10
    right); seed 7 median 2.2 %, worst -13 % (T10 left; was -85 %, centroid 21 mm); seed 31 median
    4.6 %, worst -15 % (T2 right). Unseen seed 14: median 1.6 %, worst -15 % (was -73 %)."""
    for ph, res in lean_and_other:
        _check(ph, _errors(res, ph.truth, "trapezius"), "trapezius")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "unseen seed 14 (small, no lesions) quadratus lumborum worst +43 % at L2 right (median 4.5 %, "
    "centroid <= 1.4 mm; was +98 %, centroid 4.2 mm): iso-dense soft tissue (36 HU vs QL 37 HU) lies "
    "lateral and anterior to the QL's tip with no visible fat plane over the last ~6 mm; tissue beyond "
    "the QL bed's lateral limit now competes as an organ marker, the watershed still gives the QL "
    "~6 mm of it lateral to the true tip and a 7-pixel instead of 4-pixel lateral tail"))
def test_quadratus_lumborum_meets_issue_target_on_unseen_seed_14(phantom_factory):
    ph = phantom_factory(14, lesions=[])
    res = segment_muscles(ph.ct, ph.vertebrae)
    _check(ph, _errors(res, ph.truth, "quadratus_lumborum"), "quadratus_lumborum")

"""Thin superficial sheets (``spinemets.muscles.thin_sheet``): a sheet thinner than a CT pixel is
followed along its course through the fat and its area is the partial-volume HU integral across
that course; tissue under its own course is not the sheet. Synthetic sections with a known sheet
area, rendered at 0.25 mm, averaged into 2 mm CT pixels (true partial volume), given noise and
resampled on a 1 mm plane as the pipeline does; and the latissimus dorsi at L1-L3 of a phantom."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from spinemets.muscles.thin_sheet import (beneath_own_sheet, course_area_mm2, depth_normal, follow_course,
                                          ridge_excess, ridge_threshold)

FAT, MUSCLE, AIR = -100.0, 40.0, -1000.0


def _plane(thickness_mm: float, seed: int, radius_mm: float = 45.0, arc_deg: tuple[float, float] = (20.0, 140.0),
           noise_hu: float = 15.0, lung_layer: bool = False):
    """A round trunk (skin radius 55 mm) on a 1 mm plane: fat, and a muscle sheet ``thickness_mm``
    thick centred ``radius_mm`` from the centre over ``arc_deg``. Rendered at 0.25 mm, averaged into
    2 mm CT pixels, noise ``noise_hu`` (SD per CT pixel) added, resampled on 1 mm (linear). With
    ``lung_layer``: air inside 30 mm from the centre with a 3 mm tissue layer on it (a chest wall on
    the lung). Returns (plane HU, body mask, true sheet mask on the plane, true area mm^2)."""
    n_fine, fine = 520, 0.25  # 130 mm
    yy, xx = (np.indices((n_fine, n_fine)) + 0.5) * fine - 65.0
    r = np.hypot(xx, yy)
    ang = np.degrees(np.arctan2(yy, xx)) % 360.0
    img = np.where(r <= 55.0, FAT, AIR)
    sheet = (np.abs(r - radius_mm) <= thickness_mm / 2) & (ang >= arc_deg[0]) & (ang <= arc_deg[1])
    img[sheet] = MUSCLE
    if lung_layer:
        img[(r > 27.0) & (r <= 30.0)] = MUSCLE
        img[r <= 27.0] = AIR
    area = float(sheet.sum()) * fine * fine
    ct = img.reshape(65, 8, 65, 8).mean(axis=(1, 3))  # 2 mm pixels: partial volume
    ct = ct + np.random.default_rng(seed).normal(0.0, noise_hu, ct.shape)
    # the 1 mm plane: linear interpolation at pixel centres 0.5, 1.5, ... mm
    c = (np.arange(130) + 0.5) / 2.0 - 0.5
    plane = ndi.map_coordinates(ct, np.meshgrid(c, c, indexing="ij"), order=1, mode="nearest")
    yy1, xx1 = (np.indices((130, 130)) + 0.5) - 65.0
    r1 = np.hypot(xx1, yy1)
    a1 = np.degrees(np.arctan2(yy1, xx1)) % 360.0
    body = r1 <= 55.0
    truth = (np.abs(r1 - radius_mm) <= max(thickness_mm / 2, 0.5)) & (a1 >= arc_deg[0]) & (a1 <= arc_deg[1])
    return plane.astype(np.float32), body, truth, area, a1


def _follow(plane, body, seed_mask):
    h = ndi.gaussian_filter(plane, 0.5)
    normal = depth_normal(body, 1.0)
    fat = body & (ndi.gaussian_filter(plane, 1.0) < -60.0)
    excess = ridge_excess(h, normal, 1.0)
    add = follow_course(seed_mask, excess, ridge_threshold(excess[0], fat), body, normal, h, 1.0)
    return seed_mask | add


@pytest.mark.parametrize("thickness_mm", [0.75, 1.0, 1.5, 3.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sub_pixel_sheet_area_from_the_hu_integral(thickness_mm, seed):
    """Found from a short piece (the part of the course the rays took: 10 deg of a 120-deg arc),
    the sheet's course is followed to its ends and its area, the HU integral across the course,
    is within 15 % of the true area for sheets 0.75-3 mm thick on 2 mm CT pixels (SD 15 HU per
    pixel); the muscle-window pixel count misses most of a sub-millimetre sheet."""
    plane, body, truth, area, ang = _plane(thickness_mm, seed)
    seed_mask = truth & (ang > 75.0) & (ang < 85.0) & (plane > -60.0)
    assert seed_mask.any()
    course = _follow(plane, body, seed_mask)
    # the course reaches both ends of the arc and stays on it
    a = ang[course]
    assert a.min() < 30.0 and a.max() > 130.0, (a.min(), a.max())
    stray = (course & ~ndi.binary_dilation(truth, iterations=2)).sum()
    assert stray <= 0.03 * course.sum(), (stray, course.sum())
    got = course_area_mm2(course, plane, np.zeros_like(body), 1.0, FAT, MUSCLE)
    assert abs(got - area) / area <= 0.15, (got, area)
    if thickness_mm <= 0.75:
        counted = float(((plane >= -29.0) & ndi.binary_dilation(truth, iterations=2)).sum())
        assert abs(counted - area) / area > 0.3, (counted, area)


def test_pure_fat_adds_nothing():
    """The band's fat counts by its muscle fraction unclipped at 0: over pure fat with noise the
    area of a band without a sheet sums to about nothing (a fraction clipped at 0 would add
    several percent of a pixel per band pixel)."""
    plane, body, truth, area, ang = _plane(0.0001, 0)
    line = truth & body
    got = course_area_mm2(line, plane, np.zeros_like(body), 1.0, FAT, MUSCLE)
    clipped = float(np.clip((plane[ndi.binary_dilation(line, iterations=2)] - FAT) / (MUSCLE - FAT), 0, 1).sum())
    assert abs(got) < 0.04 * line.sum(), (got, line.sum())
    assert clipped > 0.04 * line.sum()


def test_chest_wall_on_the_lung_is_not_followed():
    """A thin tissue layer lying on air (the chest wall on the lung) is as bright a ridge as a sheet
    but is not a superficial sheet: followed from a sheet touching it, the course stays on the
    sheet."""
    plane, body, truth, area, ang = _plane(1.0, 0, radius_mm=40.0, lung_layer=True)
    wall = body & (np.hypot(*(np.indices(body.shape) + 0.5 - 65.0)) < 32.0)
    # a seed on the sheet and one on the chest wall's outer edge at the same angle
    seed_mask = truth & (ang > 75.0) & (ang < 85.0) & (plane > -60.0)
    course = _follow(plane, body, seed_mask)
    assert (course & wall).sum() == 0


def test_tissue_beneath_the_own_course_is_not_the_sheet():
    """A beaded thin sheet (its pieces along the course) and a block 10 mm beneath it that the rays
    reached between the beads: the block is flagged, the beads are not; a thick sheet split by a
    one-pixel fatty streak keeps both parts."""
    n = 130
    yy, xx = (np.indices((n, n)) + 0.5) - 65.0
    r = np.hypot(xx, yy)
    ang = np.degrees(np.arctan2(yy, xx)) % 360.0
    body = r <= 55.0
    normal = depth_normal(body, 1.0)
    beads = (np.abs(r - 45.0) <= 0.7) & (ang > 20.0) & (ang < 140.0) & ((ang // 4) % 2 == 0)
    block = (r > 32.0) & (r < 37.0) & (ang > 70.0) & (ang < 85.0)
    flagged = beneath_own_sheet(beads | block, normal, 1.0)
    assert flagged[block].all() and not flagged[beads].any()
    thick = (r > 38.0) & (r < 46.0) & (ang > 20.0) & (ang < 140.0) & ~((r > 41.5) & (r < 42.5))
    assert not beneath_own_sheet(thick, normal, 1.0).any()


def _wall_band(ang_deg: np.ndarray, r: np.ndarray, a0: float, a1: float, r_out: float, thick: float) -> np.ndarray:
    return (ang_deg >= a0) & (ang_deg < a1) & (r <= r_out) & (r > r_out - thick)


def test_rectus_ends_at_the_linea_semilunaris():
    """A rectus belly 10 mm thick (angles 0-30 deg) continued laterally, without a fat plane, by a
    4 mm oblique sheet (30-50 deg): the part lateral to where the wall thins to less than half the
    belly is cut off the rectus, the belly kept. A rectus only 4 mm thick (its upper end) has no
    belly to tell from the aponeurosis and is left whole."""
    from spinemets.muscles.wall_groups import _beyond_linea_semilunaris

    yy, xx = (np.indices((260, 260)) + 0.5) - 130.0
    r = np.hypot(xx, yy)
    ang = np.degrees(np.arctan2(np.abs(xx), -yy))  # 0 anterior midline, 90 lateral
    belly = _wall_band(ang, r, 0.0, 30.0, 110.0, 10.0)
    tail = _wall_band(ang, r, 30.0, 50.0, 110.0, 4.0)
    cut = _beyond_linea_semilunaris(belly | tail, ang, 1.0)
    assert cut[tail].mean() > 0.9 and cut[belly].mean() < 0.05
    thin = _wall_band(ang, r, 0.0, 30.0, 110.0, 4.0)
    assert not _beyond_linea_semilunaris(thin | tail, ang, 1.0).any()


@pytest.mark.slow
def test_latissimus_aponeurotic_part_on_a_phantom(phantom_factory):
    """Small-preset phantom (2 x 2 x 3 mm, seed 3, T11-L5): at L1-L3 the latissimus dorsi thins from
    ~2 mm to a sub-millimetre sheet over the thoracolumbar fascia, imaged as a chain of beads in the
    fat. Per side and level its CSA is within the issue-4 target (<= 20 % worst, <= 10 % median)
    and its centroid within 5 mm (before the course was followed: -53 % and -79 % at L3)."""
    from spinemets import anatomy
    from spinemets.muscles import segment_muscles

    ph = phantom_factory(3, lesions=[], fov_levels=("T11", "L5"))
    res = segment_muscles(ph.ct, ph.vertebrae)
    errs, cents = [], []
    for lv in ("L1", "L2", "L3"):
        for side in ("left", "right"):
            name = anatomy.muscle_name("latissimus_dorsi", side)
            tv, got = ph.truth["muscles"][lv][name], res.summary["levels"][lv][name]
            assert got["csa_mm2"] is not None, (lv, name)
            errs.append(abs(got["csa_mm2"] - tv["csa_mm2"]) / tv["csa_mm2"])
            cents.append(float(np.linalg.norm(np.subtract(got["centroid_lps_mm"], tv["centroid_lps_mm"]))))
    assert max(errs) <= 0.20 and np.median(errs) <= 0.10, errs
    assert max(cents) <= 5.0, cents


def _radial_normal(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rr, cc = np.indices(shape, dtype=np.float32)
    dr, dc = shape[0] / 2 - rr, shape[1] / 2 - cc
    n = np.maximum(np.hypot(dr, dc), 1e-6)
    return dr / n, dc / n


def test_deep_pectoral_layer_is_the_muscle_beneath_the_pectoralis():
    """``pectoral.beneath_cover``: on a round trunk (1 mm pixels) the pectoralis major is a band
    over 20-70 deg at radius 80-90 mm. A band beneath it (radius 62-68 mm, the pectoralis minor)
    is taken; one beside it at its own depth (90-130 deg, the serratus anterior looking onto the
    subcutaneous fat), one beneath it behind a rib (bone stops the look outwards), one beneath it
    but deeper than DEEP_MAX_MM (radius 40-46 mm) and a speck smaller than MIN_PIECE_MM2 are not."""
    from spinemets.muscles.pectoral import DEEP_MAX_MM, beneath_cover

    shape = (240, 240)
    yy, xx = np.indices(shape) - 120.0
    r = np.hypot(xx, yy)
    ang = np.degrees(np.arctan2(yy, xx)) % 360.0
    band = lambda r0, r1, a0, a1: (r >= r0) & (r < r1) & (ang >= a0) & (ang < a1)  # noqa: E731
    cover = band(80, 90, 20, 70)
    minor = band(62, 68, 30, 60)
    beside = band(80, 88, 90, 130)
    rib = band(72, 76, 140, 170)
    behind_rib = band(62, 68, 145, 165)
    cover2 = band(80, 90, 140, 170)
    too_deep = band(80 - DEEP_MAX_MM - 14, 80 - DEEP_MAX_MM - 8, 200, 240)
    cover3 = band(80, 90, 200, 240)
    speck = band(64, 66, 75, 77)
    pieces = minor | beside | behind_rib | too_deep | speck
    normal = _radial_normal(shape)
    got = beneath_cover(pieces, cover | cover2 | cover3, rib, normal, 1.0)
    assert got[minor].all()
    for other in (beside, behind_rib, too_deep, speck):
        assert not got[other].any()


def test_deep_pectoral_layer_on_the_pleura_is_kept_where_thicker_than_the_chest_wall():
    """``pectoral.off_chest_wall`` via ``beneath_cover``: beneath the pectoralis, a band lying on
    the lung (air inside radius 62) no thicker than the chest wall (4 mm, all of it within
    CHEST_WALL_MM of the lung) is intercostal muscle and is not taken; an 8 mm layer on the lung
    (the pectoralis minor touching the pleura between the ribs) is taken whole, its deep pixels
    within the wall band included; a 4 mm band with an 8 mm belly at one end keeps the belly and
    its own column only, not the thin band beside it."""
    from spinemets.muscles.pectoral import beneath_cover
    from spinemets.muscles.thin_sheet import CHEST_WALL_MM

    shape = (240, 240)
    yy, xx = np.indices(shape) - 120.0
    r = np.hypot(xx, yy)
    ang = np.degrees(np.arctan2(yy, xx)) % 360.0
    cover = (r >= 80) & (r < 90) & (ang >= 20) & (ang < 70)
    off_wall = r >= 62 + CHEST_WALL_MM
    normal = _radial_normal(shape)
    nothing = np.zeros(shape, bool)
    thin = (r >= 62) & (r < 66) & (ang >= 30) & (ang < 60)
    assert not beneath_cover(thin, cover, nothing, normal, 1.0, off_wall=off_wall).any()
    layer = (r >= 62) & (r < 70) & (ang >= 30) & (ang < 60)
    assert beneath_cover(layer, cover, nothing, normal, 1.0, off_wall=off_wall)[layer].all()
    belly = (r >= 62) & (r < 70) & (ang >= 45) & (ang < 60)
    got = beneath_cover(thin | belly, cover, nothing, normal, 1.0, off_wall=off_wall)
    assert got[belly & (ang >= 46) & (ang < 59)].all()
    assert not got[thin & (ang < 40)].any()


@pytest.mark.slow
def test_serratus_upper_slips_and_deep_pectoral_layer_on_a_phantom(phantom_small):
    """Small-preset phantom (seed 11, 2 x 2 x 3 mm): at T2 the serratus anterior's upper slips on
    the ribs are a sheet thinner than a pixel (beads), measured by the HU integral along their
    course (was -52 % / -34 % as thresholded pixels); at T1 the pectoral group has a deep layer
    beneath the pectoralis major (the pectoralis minor), which the wall rays do not reach (was
    -35 % on both sides). Per side within the issue-4 worst-case target (20 %)."""
    from spinemets import anatomy
    from spinemets.muscles import segment_muscles

    ph = phantom_small
    res = segment_muscles(ph.ct, ph.vertebrae)
    for lv, grp in (("T2", "serratus_anterior"), ("T1", "pectoralis_major")):
        for side in ("left", "right"):
            name = anatomy.muscle_name(grp, side)
            tv, got = ph.truth["muscles"][lv][name], res.summary["levels"][lv][name]
            assert got["csa_mm2"] is not None, (lv, name)
            err = (got["csa_mm2"] - tv["csa_mm2"]) / tv["csa_mm2"]
            assert abs(err) <= 0.20, (lv, name, round(err, 3))


def _round_trunk(n: int = 240):
    """A round trunk (radius 110 mm, 1 mm pixels): x (left, mm), y (posterior, mm), body mask and
    the normalised trunk angle (deg) as ``morphology.trunk_angle`` computes it."""
    from spinemets.muscles.morphology import trunk_angle

    yy, xx = np.indices((n, n), dtype=np.float32)
    y, x = yy - n // 2, xx - n // 2
    body = np.hypot(x, y) <= 110.0
    return x, y, body, trunk_angle(x, y, body)[0]


def test_lowest_pectoralis_reaches_no_further_lateral_than_one_level_up():
    """``pectoral.cap_pectoral_reach``: below the chest cap (T7) each side's pectoralis major loses
    what lies lateral to the reach found one level up (that side's own value); at T6 (the chest
    cap) and without a reach from above it is left as found."""
    from spinemets.muscles.pectoral import cap_pectoral_reach

    x, y, body, ang = _round_trunk()
    shell = body & (np.hypot(x, y) >= 95.0) & (y < 0)
    masks = {f"pectoralis_major_{sd}": shell & (ang <= 70.0) & ((x > 0) if sd == "left" else (x < 0))
             for sd in ("left", "right")}
    reach = {"left": 50.0, "right": 60.0}
    for level, from_above in (("T6", reach), ("T7", None)):
        out = {k: v.copy() for k, v in masks.items()}
        cap_pectoral_reach(out, x, y, body, level, from_above)
        assert all((out[k] == masks[k]).all() for k in masks)
    out = {k: v.copy() for k, v in masks.items()}
    cap_pectoral_reach(out, x, y, body, "T7", reach)
    for sd, lim in reach.items():
        m, m0 = out[f"pectoralis_major_{sd}"], masks[f"pectoralis_major_{sd}"]
        assert ang[m].max() <= lim and (m0 & (ang <= lim - 1.0) & ~m).sum() == 0
        assert (m0 & (ang > lim + 1.0)).any()


def test_lowest_pectoralis_piece_joined_to_the_rectus_is_the_rectus():
    """``pectoral.pectoral_off_rectus``: at T7 a piece of the pectoralis mask joined to the rectus
    abdominis of its side (no fat plane between) goes to the rectus; a piece parted from it by a
    one-pixel gap stays pectoralis; the other side and the chest cap (T6) are left alone."""
    from spinemets.muscles.pectoral import pectoral_off_rectus

    x, y, body, ang = _round_trunk()
    shell = body & (np.hypot(x, y) >= 95.0) & (y < 0) & (x < 0)
    rectus = shell & (ang > 12.0) & (ang <= 30.0) & (np.hypot(x, y) < 100.0)
    superficial = shell & (ang <= 12.0)  # the rectus reaching the surface medially, joined to it
    sheet = shell & (ang > 32.0) & (ang <= 55.0)  # the pectoralis over the ribs, apart
    for level, moved in (("T6", False), ("T7", True)):
        out = {"rectus_abdominis_right": rectus.copy(), "pectoralis_major_right": superficial | sheet,
               "pectoralis_major_left": np.fliplr(superficial | sheet)}
        pectoral_off_rectus(out, level)
        assert out["pectoralis_major_right"][sheet].all()
        assert out["pectoralis_major_right"][superficial].any() != moved
        assert out["rectus_abdominis_right"][superficial].all() == moved
        assert (out["pectoralis_major_left"] == np.fliplr(superficial | sheet)).all()


def test_latissimus_ends_where_the_external_oblique_begins():
    """``thin_sheet.same_angle_as``: on a round trunk the external oblique covers trunk angles
    60-100 deg and a latissimus mask covers 95-150 deg (its course followed into the oblique's
    fibres beside it): the latissimus pixels at the oblique's angles (its 2-degree bins) are the
    oblique's, those behind its posterior border stay latissimus."""
    from spinemets.muscles.thin_sheet import same_angle_as

    x, y, body, ang = _round_trunk()
    r = np.hypot(x, y)
    eo = body & (r >= 100) & (r < 104) & (ang >= 60) & (ang < 100)
    ld = body & (r >= 104) & (r < 107) & (ang >= 95) & (ang < 150)
    got = same_angle_as(ld, eo, ang)
    assert got[ld & (ang < 99.0)].all()
    assert not got[ld & (ang >= 101.0)].any()
    assert not same_angle_as(ld, np.zeros_like(eo), ang).any()

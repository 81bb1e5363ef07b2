"""Wall-layer ray casting (``spinemets.muscles.wall``) on synthetic trunk sections with known layers."""

from __future__ import annotations

import numpy as np
import pytest

from spinemets.muscles.wall import wall_layers


def _section(a: float, b: float, n: int = 260):
    """An elliptical trunk section on 1 mm pixels (semi-axes ``a`` x ``b`` mm, +y posterior): pixel
    offsets x, y from the centre (mm), the body mask, the depth below the skin along the ellipse
    normal (mm, approximately) and the polar angle around the centre (deg)."""
    yy, xx = np.indices((n, n)).astype(float)
    x, y = xx - n / 2, yy - n / 2
    rho = np.hypot(x / a, y / b)
    th = np.arctan2(y / b, x / a)
    depth = (1.0 - rho) * np.hypot(a * np.cos(th), b * np.sin(th))
    ang = np.degrees(np.arctan2(y, x)) % 360.0
    return x, y, rho <= 1.0, depth, ang


def _trunk(gap_deg: tuple[float, float] | None = (20.0, 60.0), organ: bool = True):
    """An elliptical trunk (1 mm pixels, semi-axes 110 x 80 mm) with 15 mm of subcutaneous fat, an
    outer (4 mm) and an inner (4 mm) muscle sheet 2 mm apart, and, behind the sheets' gap
    (``gap_deg``: polar angle range around the centre where neither sheet exists, as between the
    obliques' posterior border and the latissimus), an iso-dense organ (kidney) 10 mm inside the
    inner sheet's depth, in fat. Returns body, sat, muscle, the sheet masks and the organ mask."""
    x, y, body, depth, ang = _section(110.0, 80.0)
    in_gap = np.zeros_like(body) if gap_deg is None else (ang >= gap_deg[0]) & (ang <= gap_deg[1])
    outer = body & (depth >= 15.0) & (depth < 19.0) & ~in_gap
    inner = body & (depth >= 21.0) & (depth < 25.0) & ~in_gap
    org = np.zeros_like(body)
    if organ and gap_deg is not None:
        mid = np.radians(0.5 * (gap_deg[0] + gap_deg[1]))
        cx, cy = 58.0 * np.cos(mid), 40.0 * np.sin(mid)
        org = ((x - cx) / 24.0) ** 2 + ((y - cy) / 18.0) ** 2 <= 1.0
        org &= body & (depth >= 35.0)
    muscle = outer | inner | org
    sat = body & ~muscle & (depth < 15.0)
    # the subcutaneous fat runs into the deep fat through the gap (fat connected to the skin)
    deep_fat = body & ~muscle & ~(depth < 15.0)
    from scipy import ndimage as ndi

    sat = ndi.binary_propagation(sat, mask=sat | deep_fat)
    return body, sat, muscle, outer, inner, org


def test_organ_behind_a_gap_in_the_wall_is_not_a_sheet():
    """Where the sheets leave a gap, the subcutaneous fat runs into the extraperitoneal fat and the
    first muscle-window tissue a ray meets is the organ inside the wall: it starts deeper below the
    skin than the wall around it and is no wall layer. The sheets themselves are kept."""
    body, sat, muscle, outer, inner, org = _trunk()
    lay = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, skin_depth_rule=True)
    assert org.sum() > 500
    assert (lay[org] > 0).mean() < 0.02, (lay[org] > 0).sum()
    plain = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, skin_depth_rule=False)
    assert (lay[outer] == 1).mean() > 0.95
    assert ((lay == plain) | org).all()  # the sheets' rays keep what they had


def test_rays_without_the_rule_take_the_organ_rim():
    """The same section with the organ rule off (the trapezius pass): the rays that miss the wall
    reach the organ below the merged fat, so the rule is what removes it."""
    body, sat, muscle, outer, inner, org = _trunk()
    lay = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, skin_depth_rule=False)
    assert (lay[org] > 0).sum() > 50


def test_wall_without_a_gap_is_unchanged_by_the_rule():
    """A continuous wall: every ray meets the sheets at the same depth, nothing is dropped."""
    body, sat, muscle, outer, inner, _ = _trunk(gap_deg=None)
    with_rule = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, skin_depth_rule=True)
    plain = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, skin_depth_rule=False)
    assert (with_rule == plain).all()
    assert (with_rule[outer] == 1).mean() > 0.95 and (with_rule[inner] == 2).mean() > 0.8


def test_front_of_an_open_rib_cage_keeps_the_rectus():
    """Below the xiphoid the rib cage is open in front: the ribs in the plane lie on the flanks of a
    trunk wider than deep, and the cage surface estimated across the front from them (no farther
    from the centre than the farther flanking rib) falls in the subcutaneous fat, where no cage can
    be. The anterior sheet (rectus) under the fat is still found; the sheet on the flank ribs is
    kept and the organ behind the rectus is no wall."""
    a, b = 120.0, 85.0
    x, y, body, depth, ang = _section(a, b)
    sheet = body & (depth >= 12.0) & (depth < 17.0)  # one 5 mm layer all round under 12 mm of fat
    ribs = np.zeros_like(body)
    for deg in (0, 15, 30, 150, 165, 180, 195, 210, 330, 345):  # the flanks only (+y posterior)
        t = np.radians(deg)
        r = 1.0 / np.hypot(np.cos(t) / a, np.sin(t) / b) - 24.0
        ribs |= (x - r * np.cos(t)) ** 2 + (y - r * np.sin(t)) ** 2 <= 4.0 ** 2
    organ = body & (depth >= 22.0) & (np.abs(ang - 270.0) < 40.0)  # liver behind the rectus
    muscle = (sheet | organ) & ~ribs
    sat = body & (depth < 12.0)
    lay = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, ribs=ribs, skin_depth_rule=True)
    front = sheet & (np.abs(ang - 270.0) < 30.0)
    assert (lay[front] > 0).mean() > 0.9
    assert (lay[sheet & (np.abs(ang - 180.0) < 5.0)] > 0).mean() > 0.9  # on the flank rib
    assert (lay[organ] > 0).mean() < 0.05


def test_thin_sheet_taken_for_subcutaneous_fat_is_found():
    """A 1 mm sheet (latissimus at L3) over an arc of the flank, with deep fat beneath it: the
    subcutaneous-fat mask (from 1 mm-smoothed CT numbers) holds it, so the rays start below it.
    It is found as the wall's first layer; scattered muscle-window pixels deeper in the same fat
    (vessels, septa; also taken for fat by the smoothing) form no curve and are left out."""
    _, _, body, depth, ang = _section(120.0, 85.0)
    front = body & (depth >= 12.0) & (depth < 18.0) & ((ang > 200.0) & (ang < 340.0))  # obliques, rectus
    thin = body & (depth >= 12.0) & (depth < 13.0) & (ang > 30.0) & (ang < 70.0)
    rng = np.random.default_rng(0)
    dots = body & (depth > 30.0) & (depth < 45.0) & (ang > 100.0) & (ang < 160.0) & \
        (rng.random(body.shape) < 0.01)
    muscle = front | thin | dots
    sat = body & ~front  # the smoothing took the thin sheet and the dots for fat; deep fat joins it
    from scipy import ndimage as ndi

    sat = ndi.binary_propagation(sat & (depth < 3.0), mask=sat)
    lay = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, skin_depth_rule=True)
    assert (lay[thin] == 1).mean() > 0.8
    assert (lay[dots] > 0).sum() == 0
    plain = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, skin_depth_rule=False)
    assert (plain[thin] > 0).mean() < 0.2  # without the rule the rays start below it


def test_organ_against_the_fat_in_a_gap_is_told_by_its_attenuation():
    """A liver-like organ (60 HU) reaching the subcutaneous fat where the sheets (40 HU) leave a
    gap, and lying against the inner sheet without a fat plane elsewhere. Its runs are longer than
    any sheet and get cut to the neighbours' sheet thickness; with the CT numbers the part kept in
    the gap is seen to be organ (nearer the organ's HU, sampled where the organ continues the run,
    than the sheets' on the neighbouring rays) and dropped, while the sheets lying on the organ
    are kept."""
    _, _, body, depth, ang = _section(110.0, 80.0)
    gap = (ang > 150.0) & (ang < 185.0)
    outer = body & (depth >= 12.0) & (depth < 16.0) & ~gap
    inner = body & (depth >= 18.0) & (depth < 22.0) & ~gap
    organ = body & (depth >= 12.0) & (np.abs(ang - 167.0) < 45.0) & ~outer & ~inner & \
        ~(body & (depth < 22.0) & ~gap)
    muscle = outer | inner | organ
    hu = np.where(muscle, 40.0, -90.0).astype(np.float32)
    hu[organ] = 60.0
    sat = body & (depth < 12.0)
    from scipy import ndimage as ndi

    sat = ndi.binary_propagation(sat, mask=sat | (body & ~muscle))
    with_hu = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, max_layer_mm=16.0, skin_depth_rule=True,
                          hu=hu)
    plain = wall_layers(body, sat, muscle, 1.0, max_depth_mm=25.0, max_layer_mm=16.0, skin_depth_rule=True)
    in_gap = organ & gap
    assert (plain[in_gap] > 0).sum() > 30  # the cut leaves a sheet-thick rim of organ
    assert (with_hu[in_gap] > 0).sum() < 0.2 * (plain[in_gap] > 0).sum()
    assert (with_hu[outer] == 1).mean() > 0.95
    assert ((with_hu > 0) == (plain > 0))[outer | inner].mean() > 0.98


def test_single_oblique_layer_is_told_by_thickness_and_position():
    """The lateral abdominal wall of one side (normalised trunk angle 20-110 deg, 1 mm pixels,
    sheets parallel to the skin):
    the external oblique (3 mm) over the internal oblique (6 mm, a 2 mm fat plane between) from 40
    to 80 deg; in front of that the internal oblique alone reaches the rectus sheath (20-40 deg,
    under the subcutaneous fat, so the rays' first run), behind it the external oblique alone
    reaches the latissimus (80-110 deg). The single-layer parts go to the muscle they are, not
    40/60 to both; without an arc where both layers are seen nothing is decided."""
    from spinemets.muscles.wall_groups import _single_layer_muscle
    from spinemets.muscles.morphology import trunk_angle

    x, y, body, depth, _ = _section(110.0, 80.0)
    ang, _ = trunk_angle(x, y, body)  # as the wall split uses it: 0 anterior (-y), 90 lateral
    body &= x > 0  # one side
    eo = body & (depth >= 15.0) & (depth < 18.0) & (ang >= 40.0) & (ang < 110.0)
    io_cov = body & (depth >= 20.0) & (depth < 26.0) & (ang >= 40.0) & (ang < 80.0)
    io_front = body & (depth >= 15.0) & (depth < 21.0) & (ang >= 20.0) & (ang < 40.0)
    outer = eo | io_front
    single = outer & ~np.isin((ang // 5).astype(int), np.unique((ang[io_cov] // 5).astype(int)))
    eo_only, io_only = _single_layer_muscle(single, outer & ~single, io_cov, ang)
    behind = eo & (ang >= 85.0)
    assert io_only[io_front & (ang < 38.0)].mean() > 0.95 and not eo_only[io_front].any()
    assert eo_only[behind].mean() > 0.95 and not io_only[behind].any()
    # the internal oblique thinning towards the rectus to the external oblique's thickness: in
    # front of the two-layer arc it is still never the external oblique alone
    thin_front = body & (depth >= 15.0) & (depth < 18.0) & (ang >= 20.0) & (ang < 40.0)
    outer_t = eo | thin_front
    single_t = outer_t & ~np.isin((ang // 5).astype(int), np.unique((ang[io_cov] // 5).astype(int)))
    e_t, i_t = _single_layer_muscle(single_t, outer_t & ~single_t, io_cov, ang)
    assert i_t[thin_front & (ang < 38.0)].mean() > 0.95 and not e_t[thin_front].any()
    # the two layers seen over 10 deg only: not enough to compare with
    short = io_cov & (ang < 50.0)
    single2 = outer & ~np.isin((ang // 5).astype(int), np.unique((ang[short] // 5).astype(int)))
    e2, i2 = _single_layer_muscle(single2, outer & ~single2, short, ang)
    assert not e2.any() and not i2.any()


def test_creep_follows_a_sheet_but_not_across_a_fat_plane():
    """``_creep``: outer-run pixels reached from the inner sheet without crossing a fat plane (the
    thin outer sheet missed on a few rays, the inner sheet then the first run) move to it, up to
    the given number of steps along the sheet; an outer sheet separated by a one-pixel fat plane,
    even a diagonal (8-connected) one, is never reached."""
    from spinemets.muscles.wall_groups import _creep

    n = 40
    rr, cc = np.indices((n, n))
    inner = (rr >= 20) & (rr < 24) & (cc < 20)
    # the inner sheet continued as the first run over 10 columns where the outer one was missed
    cont = (rr >= 20) & (rr < 24) & (cc >= 20) & (cc < 30)
    outer_sheet = (rr >= 16) & (rr < 19) & (cc < 20)  # one row of fat (row 19) beneath it
    crept = _creep(inner, cont | outer_sheet, 4.0)
    assert crept[cont & (cc < 24)].all() and not crept[cont & (cc >= 25)].any()
    assert not crept[outer_sheet].any()
    # a diagonal one-pixel fat line between two sheets: 4-connected steps cannot cross it
    diag_fat = rr == cc
    below, above = (rr > cc) & (rr < cc + 4), (cc > rr) & (cc < rr + 4)
    assert not _creep(below, above & ~diag_fat, 10.0).any()


def _rays_on_lung(fascia: bool, n_rays: int = 40, flagged: slice = slice(None)):
    """Ray arrays [ray, radius index] (1 px = 1 mm, radius increasing outwards): lung (air) up to
    radius 20, an 8 mm chest-wall band (intercostals, muscle window) at 20-27, then - with
    ``fascia`` - a 2 mm fat plane and a 4 mm inner sheet at 30-33, else the inner run is the band's
    outer 4 mm (24-27); layer 2 set on the rays ``flagged`` only."""
    n_r = 60
    hu = np.full((n_rays, n_r), -100.0)
    hu[:, :20] = -850.0
    hu[:, 20:28] = 40.0
    run = slice(30, 34) if fascia else slice(24, 28)
    hu[:, run] = 40.0
    lay = np.zeros((n_rays, n_r), np.int8)
    rows = np.zeros(n_rays, bool)
    rows[flagged] = True
    lay[np.ix_(rows, np.arange(n_r)[run])] = 2
    return lay, hu, (hu >= -29.0) & (hu <= 150.0)


def test_inner_run_on_the_lung_is_chest_wall_not_a_sheet():
    from spinemets.muscles.wall_order import _on_lung

    # the inner run continues through muscle-window tissue into the lung: the chest wall itself
    lay, hu, mus = _rays_on_lung(fascia=False)
    _on_lung(lay, hu, mus, contact_px=2.0, reach_px=15.0, min_run=10)
    assert not (lay == 2).any()
    # a sheet parted from the chest wall by a fat plane stays
    lay, hu, mus = _rays_on_lung(fascia=True)
    before = lay.copy()
    _on_lung(lay, hu, mus, contact_px=2.0, reach_px=15.0, min_run=10)
    assert np.array_equal(lay, before)
    # a decision on fewer than min_run rays is noise: left undone
    lay, hu, mus = _rays_on_lung(fascia=False, flagged=slice(5, 11))
    before = lay.copy()
    _on_lung(lay, hu, mus, contact_px=2.0, reach_px=15.0, min_run=10)
    assert np.array_equal(lay, before)
    # the first run (layer 1) is never dropped by this rule
    lay, hu, mus = _rays_on_lung(fascia=False)
    lay[lay == 2] = 1
    before = lay.copy()
    _on_lung(lay, hu, mus, contact_px=2.0, reach_px=15.0, min_run=10)
    assert np.array_equal(lay, before)


def test_sub_pixel_fascial_plane_parts_a_sheet_from_the_chest_wall():
    from spinemets.muscles.wall_order import _on_lung

    # lung < 20, chest wall 20-27, a 1-pixel fascial plane at 28 lifted into the muscle window
    # (-15 HU between 40 HU flanks), the inner sheet at 29-32
    n_rays, n_r = 40, 60
    hu = np.full((n_rays, n_r), -100.0)
    hu[:, :20] = -850.0
    hu[:, 20:33] = 40.0
    hu[:, 28] = -15.0
    mus = (hu >= -29.0) & (hu <= 150.0)
    sheet = np.zeros((n_rays, n_r), np.int8)
    sheet[:, 29:33] = 2
    # the plane beneath the run: the run is a sheet on the chest wall and stays ...
    lay = sheet.copy()
    _on_lung(lay, hu, mus, contact_px=2.0, reach_px=15.0, min_run=10, dip_hu=30.0)
    assert np.array_equal(lay, sheet)
    # ... unless the dip is not deep enough to tell from noise: then it is one tissue on the lung
    lay = sheet.copy()
    _on_lung(lay, hu, mus, contact_px=2.0, reach_px=15.0, min_run=10, dip_hu=80.0)
    assert not (lay == 2).any()
    # the run stepped over the plane into the chest wall: only its part beneath the plane goes
    lay = sheet.copy()
    lay[:, 24:29] = 2
    _on_lung(lay, hu, mus, contact_px=2.0, reach_px=15.0, min_run=10, dip_hu=30.0)
    assert np.array_equal(lay, sheet)


def test_serratus_behind_the_external_obliques_border_is_serratus():
    """The lateral chest of one side (T8-T9, 1 mm pixels): the external oblique's slips (3 mm,
    trunk angle 40-85 deg) cover the serratus anterior (4 mm, 2 mm fat plane between) from 60 deg;
    behind the oblique's posterior border (85 deg) the serratus is the only sheet, the rays' first
    run up to 105 deg, joined to the oblique's sheet without a fat plane. The outer run labelled
    external oblique by its sector behind the two-layer arc is the serratus; in front of that arc
    and without a serratus beneath nothing moves."""
    from spinemets.muscles.wall_groups import _behind_two_layer_arc
    from spinemets.muscles.morphology import trunk_angle

    x, y, body, depth, _ = _section(110.0, 80.0)
    ang, _ = trunk_angle(x, y, body)
    body &= x > 0
    eo = body & (depth >= 15.0) & (depth < 18.0) & (ang >= 40.0) & (ang < 85.0)
    sa_in = body & (depth >= 20.0) & (depth < 24.0) & (ang >= 60.0) & (ang < 85.0)
    sa_out = body & (depth >= 15.0) & (depth < 19.0) & (ang >= 85.0) & (ang < 105.0)
    outer_by_sector = (eo | sa_out) & (ang < 90.0)  # the EO sector reaches the lateral extreme
    behind = _behind_two_layer_arc(outer_by_sector, sa_in, ang)
    # all of it beyond the 2-degree bin that holds the border
    assert behind[sa_out & (ang >= 86.0) & (ang < 90.0)].all()
    assert not behind[eo & (ang < 83.0)].any()
    assert not _behind_two_layer_arc(outer_by_sector, np.zeros_like(sa_in), ang).any()



def _one_side_wall(eo_mm: float, io_mm: float, two_layer: tuple[float, float], fused: tuple[float, float]):
    """One side (x > 0) of an elliptical trunk section (1 mm pixels): the external oblique
    (``eo_mm``) over the internal oblique (``io_mm``) with a 2 mm fat plane between them on the
    normalised trunk angles ``two_layer``, and the two fused into one layer (no plane seen) of
    ``eo_mm + io_mm`` on ``fused``. Returns the wall runs (1 outer, 2 inner), the depth below the
    skin, x, y (mm), the body mask, the trunk angle and the true external-oblique part of the
    fused arc."""
    from spinemets.muscles.morphology import trunk_angle

    x, y, body, depth, _ = _section(110.0, 80.0)
    ang, _ = trunk_angle(x, y, body)
    side = body & (x > 0)
    on2 = side & (ang >= two_layer[0]) & (ang < two_layer[1])
    on1 = side & (ang >= fused[0]) & (ang < fused[1])
    runs = np.zeros(body.shape, np.int8)
    runs[on2 & (depth >= 15.0) & (depth < 15.0 + eo_mm)] = 1
    runs[on2 & (depth >= 17.0 + eo_mm) & (depth < 17.0 + eo_mm + io_mm)] = 2
    runs[on1 & (depth >= 15.0) & (depth < 15.0 + eo_mm + io_mm)] = 1
    eo_true = on1 & (depth >= 15.0) & (depth < 15.0 + eo_mm)
    return runs, depth, x, y, body, ang, eo_true


def test_fused_obliques_split_by_the_ratio_seen_where_they_part():
    """Where the obliques are fused into one layer, the external oblique's share of its depth is
    their thickness ratio on the arc where a fat plane parts them in the same plane: most of the
    layer near the costal margin (a thin internal oblique under a thick external one), a third
    above the iliac crest (the reverse). A fixed share would be wrong at one of the two ends."""
    from spinemets.muscles.wall_groups import split_wall

    for eo_mm, io_mm in ((6.0, 2.0), (2.0, 5.0)):
        runs, depth, x, y, body, ang, eo_true = _one_side_wall(eo_mm, io_mm, (40.0, 70.0), (70.0, 95.0))
        out = split_wall(runs, depth, x, y, body, "L2")
        fused = (runs == 1) & (ang >= 70.0) & (ang < 95.0)
        got = out["external_oblique_left"][fused].mean()
        want = eo_mm / (eo_mm + io_mm)
        assert abs(got - want) < 0.1, (eo_mm, io_mm, got)
        # the split is by depth: the outer part is the external oblique
        agree = (out["external_oblique_left"] == eo_true)[fused].mean()
        assert agree > 0.85, agree
        assert out["internal_oblique_left"][fused].mean() == pytest.approx(1.0 - got)


def test_fused_share_from_the_other_side_or_the_default():
    """A side whose two-layer arc is too short to measure takes the ratio of both sides together;
    with no two-layer arc on either side nothing is measured (the caller's default share)."""
    from spinemets.muscles.wall_groups import TWO_LAYER_MIN_BINS, _two_layer_share

    runs, depth, x, y, body, ang, _ = _one_side_wall(6.0, 2.0, (40.0, 70.0), (70.0, 95.0))
    eo, io = runs == 1, runs == 2
    share = _two_layer_share(eo, io, ang)
    assert share == pytest.approx(0.75, abs=0.05)
    short = io & (ang < 40.0 + 5.0 * (TWO_LAYER_MIN_BINS - 1))
    assert _two_layer_share(eo, short, ang) is None
    none = np.zeros_like(eo)
    assert _two_layer_share(eo, short, ang, eo, io) is not None
    assert _two_layer_share(eo, none, ang, eo, none) is None


def test_external_oblique_over_the_serratus_at_t7():
    """At T6-T7 the external oblique's upper slips cover the serratus anterior's lower digitations
    on the lateral ribs: in the serratus sector the outer of two layers is the external oblique,
    the single sheet behind the two-layer arc the serratus."""
    from spinemets.muscles.wall_groups import split_wall
    from spinemets.muscles.morphology import trunk_angle

    x, y, body, depth, _ = _section(110.0, 80.0)
    ang, _ = trunk_angle(x, y, body)
    side = body & (x > 0)
    sheet = side & (depth >= 15.0) & (depth < 18.0) & (ang >= 66.0) & (ang < 106.0)
    under = side & (depth >= 20.0) & (depth < 24.0) & (ang >= 66.0) & (ang < 86.0)
    runs = np.zeros(body.shape, np.int8)
    runs[sheet] = 1
    runs[under] = 2
    out = split_wall(runs, depth, x, y, body, "T7")
    eo = out.get("external_oblique_left", np.zeros_like(body))
    sa = out.get("serratus_anterior_left", np.zeros_like(body))
    assert eo[sheet & (ang < 84.0)].mean() > 0.95
    assert sa[sheet & (ang >= 88.0)].mean() > 0.95 and not eo[sheet & (ang >= 88.0)].any()
    assert sa[under].all()
    # T8 and below use the sectors of the lower thorax: the rule is T6-T7 only
    assert split_wall(runs, depth, x, y, body, "T4").get("external_oblique_left") is None


def _front_of_arc_wall(rib: bool = False):
    """One side (x > 0) of the elliptical section of ``_section`` (1 mm pixels) below the costal
    margin: the rectus (0-24 deg, 8 mm), the internal oblique's fleshy medial part alone as the
    first layer (28-40 deg, 4 mm, fat planes on both sides), the external oblique (3 mm) over the
    internal oblique (4 mm) with a 2 mm fat plane between from 42 to 80 deg, and a bowel loop met
    through the gap between the sheets (30-38 deg, 25 mm below the internal oblique). ``rib``: a
    rib (costal cartilage) in front of the arc, as above the costal margin. Returns the wall runs,
    the depth below the skin, x, y, the body mask, the ribs, the truth masks of the rectus, the
    internal oblique's medial part and the bowel."""
    from spinemets.muscles.morphology import trunk_angle

    x, y, body, depth, _ = _section(110.0, 80.0)
    ang, _ = trunk_angle(x, y, body)
    side = body & (x > 0)
    runs = np.zeros(body.shape, np.int8)
    rect = side & (ang < 24.0) & (depth >= 15.0) & (depth < 23.0)
    io_front = side & (ang >= 28.0) & (ang < 40.0) & (depth >= 15.0) & (depth < 19.0)
    two = side & (ang >= 42.0) & (ang < 80.0)
    bowel = side & (ang >= 30.0) & (ang < 38.0) & (depth >= 44.0) & (depth < 50.0)
    runs[rect | io_front | bowel | (two & (depth >= 15.0) & (depth < 18.0))] = 1
    runs[two & (depth >= 20.0) & (depth < 24.0)] = 2
    ribs = np.zeros_like(body)
    if rib:
        ribs = side & (ang >= 20.0) & (ang < 30.0) & (depth >= 27.0) & (depth < 33.0)
    return runs, depth, x, y, body, ribs, rect, io_front, bowel


def test_internal_oblique_in_front_of_the_two_layer_arc():
    """Below the costal margin the external oblique turns aponeurotic further laterally than the
    internal oblique: the first layer between the rectus and the arc where both obliques are seen
    is the internal oblique's fleshy part (it was left to no group, shifting the internal oblique's
    centroid 7-13 mm back on the phantoms). Tissue deeper below the skin than the wall's inner
    layer there is bowel met through the gap between the sheets (no muscle), and the rectus stays.
    Above the costal margin (a rib in front of the arc) the rule does nothing."""
    from spinemets.muscles.wall_groups import split_wall

    runs, depth, x, y, body, ribs, rect, io_front, bowel = _front_of_arc_wall()
    out = split_wall(runs, depth, x, y, body, "L3", ribs=ribs)
    io, eo = out["internal_oblique_left"], out["external_oblique_left"]
    assert io[io_front].mean() > 0.95 and not eo[io_front].any()
    assert not any(m[bowel].any() for m in out.values())
    assert out["rectus_abdominis_left"][rect].mean() > 0.95
    runs, depth, x, y, body, ribs, rect, io_front, bowel = _front_of_arc_wall(rib=True)
    out = split_wall(runs, depth, x, y, body, "L3", ribs=ribs)
    assert out.get("internal_oblique_left", np.zeros_like(body))[io_front].mean() < 0.5


def test_organ_between_the_lower_ribs_is_no_internal_oblique():
    """Between the lower ribs the liver lies against the wall beneath the external oblique, where
    the internal oblique is thin: a piece of the inner run brighter than the external oblique's
    interior by more than the muscle tolerance (plus noise) is organ, not internal oblique
    (on the phantoms it moved the T12 internal oblique's centroid 20-30 mm back). Muscle-bright
    pieces stay; without rib bone on that side of the plane the rule does nothing."""
    from spinemets.muscles.wall_groups import split_wall

    runs, depth, x, y, body, ang, _ = _one_side_wall(6.0, 3.0, (40.0, 70.0), (95.0, 96.0))
    io_true = runs == 2
    side = body & (x > 0)
    liver = side & (ang >= 74.0) & (ang < 90.0) & (depth >= 25.0) & (depth < 33.0)
    runs[liver] = 2
    ribs = side & (ang >= 92.0) & (ang < 96.0) & (depth >= 30.0) & (depth < 36.0)
    rng = np.random.default_rng(4)
    hu = np.full(body.shape, -100.0) + rng.normal(0.0, 10.0, body.shape)  # fat; image noise
    hu[runs > 0] += 145.0  # muscle, 45 HU
    for organ_hu, dropped in ((65.0, True), (50.0, False)):
        h = hu.copy()
        h[liver] += organ_hu - 45.0
        out = split_wall(runs, depth, x, y, body, "T12", ribs=ribs, hu=h)
        io = out["internal_oblique_left"]
        assert io[io_true].mean() > 0.95
        assert (not io[liver].any()) if dropped else io[liver].all(), organ_hu
        h[liver] += 65.0 - organ_hu
        no_rib = split_wall(runs, depth, x, y, body, "T12", ribs=np.zeros_like(ribs), hu=h)
        assert no_rib["internal_oblique_left"][liver].all()

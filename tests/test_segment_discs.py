"""Disc selection along the centreline on synthetic coverage profiles (no image needed)."""

import numpy as np

from spinemets.segment.classic.discs import DiscProfile, select_discs


def _profile(disc_mm: list[float], depth: dict[int, float] | None = None, length_mm: float = 300.0) -> DiscProfile:
    s = np.arange(0.0, length_mm, 0.75)
    cov = np.ones_like(s)
    for k, d in enumerate(disc_mm):
        dep = (depth or {}).get(k, 0.9)
        cov -= dep * np.exp(-0.5 * ((s - d) / 2.0) ** 2)
    return DiscProfile(z=s / 1.5, s_mm=s, coverage=cov)


def test_regular_discs_are_all_found():
    true = [20.0 + 23.0 * k for k in range(12)]
    prof = _profile(true)
    found = prof.s_mm[select_discs(prof)]
    assert len(found) == len(true)
    assert np.max(np.abs(found - np.asarray(true))) <= 1.5


def test_missed_faint_disc_is_recovered_from_the_spacing_prior():
    """A disc whose dip is too faint to be a candidate (next to a lytic lesion) is re-inserted
    where the neighbours' spacing says a level is missing."""
    true = [20.0 + 23.0 * k for k in range(12)]
    prof = _profile(true, depth={6: 0.05})
    found = prof.s_mm[select_discs(prof)]
    assert len(found) == len(true), found
    assert abs(found[6] - true[6]) <= 4.0


def test_two_faint_discs_beside_a_lesion_dip_are_recounted():
    """Two faint discs with a lesion-induced dip between them: the chain settles on two segments of
    ~1.5 levels each; the neighbours' spacing says three levels are there, so the run is split in
    three at the coverage minima and the lesion dip is not kept as a disc."""
    true = [20.0 + 23.0 * k for k in range(12)]
    lesion = true[5] + 34.5
    prof = _profile(true + [lesion], depth={6: 0.03, 7: 0.03, 12: 0.6})
    found = prof.s_mm[select_discs(prof)]
    assert len(found) == len(true), found
    assert np.max(np.abs(found - np.asarray(true))) <= 4.0, found


def _column(body_hu: float, disc_hu: float = 70.0, end_in_disc: bool = True):
    """A straight synthetic column on a 3 mm grid: 30 mm bodies (``body_hu`` core, 600 HU rim)
    separated by 9 mm discs, soft tissue 40 HU around; the last slice (z=38) lies in a disc, or, trimmed by three slices, in a body."""
    from spinemets.segment.classic.centreline import Centreline

    w = 3.0
    nz = 39
    hu = np.full((nz, 30, 30), 40.0, np.float32)
    yy, xx = np.mgrid[0:30, 0:30]
    r = np.hypot(yy - 15, xx - 15)
    for z in range(nz):
        in_disc = (z % 13) >= 10  # 10 body slices, 3 disc slices
        if in_disc:
            hu[z][r <= 6] = disc_hu
        else:
            hu[z][r <= 6] = body_hu
            hu[z][(r > 5) & (r <= 6)] = 600.0
    if not end_in_disc:
        hu = hu[:-3]
    zc = np.arange(hu.shape[0], dtype=float)
    cl = Centreline(zc, np.full(zc.size, 15.0), np.full(zc.size, 15.0), np.full(zc.size, 17.0),
                    np.ones(zc.size, bool), w)
    return hu, cl


def test_field_of_view_ending_in_a_disc_gets_no_lid():
    """The top slice lies in a disc: no lid may turn it into bone; the bottom slice (z=0) is
    a body. Holds for dense and for osteoporotic bodies (core 110 HU, 40 HU above the disc)."""
    from spinemets.segment.classic.discs import end_slice_is_disc

    for body_hu in (250.0, 110.0):
        hu, cl = _column(body_hu)
        assert end_slice_is_disc(hu, cl, hu.shape[0] - 1), body_hu
        assert not end_slice_is_disc(hu, cl, 0), body_hu
    hu, cl = _column(250.0, end_in_disc=False)
    assert not end_slice_is_disc(hu, cl, hu.shape[0] - 1)


def test_cleft_depth_marks_joint_spaces_not_marrow():
    """A one-voxel soft-tissue gap between two cortical plates is a deep valley; dark marrow wider
    than the neighbourhood is not (so a seed in osteoporotic marrow is not a barrier)."""
    from spinemets.segment.classic.separate import cleft_depth

    hu = np.full((5, 12, 12), 150.0, np.float32)   # marrow
    hu[:, :, 5] = 700.0                             # plate
    hu[:, :, 6] = 60.0                              # joint space
    hu[:, :, 7] = 700.0                             # plate
    d = cleft_depth(hu)
    assert d[2, 6, 6] >= 600.0
    assert d[2, 6, 1] == 0.0 and d[2, 6, 10] == 0.0


def _osteoporotic_profile(level_mm: float = 22.0, n: int = 12, step_mm: float = 1.5) -> tuple[DiscProfile, list[float]]:
    """Coverage along a column of dark-marrow bodies at 3 mm slices: each disc a narrow valley
    (one voxel, 4.5 mm) between two bright end plates, each body's marrow a wide valley (its end
    plates 14 mm apart) that dips deeper than the partial-volumed disc."""
    s = np.arange(0.0, level_mm * (n + 1), step_mm)
    true = [level_mm * (k + 0.5) for k in range(n + 1)]
    cov = np.ones_like(s)
    for d in true:
        cov -= 0.6 * np.exp(-0.5 * ((s - d) / 1.5) ** 2)
        # the body above this disc: marrow between its end plates (d + 4 ... d + level - 4)
        lo, hi = d + 4.0, d + level_mm - 4.0
        cov -= 0.7 / (1 + np.exp(-(s - lo - 2.0) / 0.7)) / (1 + np.exp((s - hi + 2.0) / 0.7))
    return DiscProfile(z=s / 3.0, s_mm=s, coverage=cov), true


def test_wide_marrow_dips_are_not_taken_for_narrow_discs():
    """Osteoporotic bodies: the marrow valleys are deeper than the thin discs, but wide (~0.6 of a
    level between the body's end plates) while a disc's valley is narrow; the chain must keep
    the narrow valleys (not the wide ones half a level out of phase)."""
    prof, true = _osteoporotic_profile()
    found = prof.s_mm[select_discs(prof)]
    true = np.asarray(true)
    off = [float(np.min(np.abs(true - f))) for f in found]
    assert max(off) <= 2.0, (found, true)
    assert all(np.min(np.abs(found - t)) <= 2.0 for t in true if 5.0 < t < prof.s_mm[-1] - 5.0), (found, true)


def test_level_cap_follows_the_spacing_of_all_minima():
    """The second pass's level height is capped at twice the spacing of the coverage minima: where
    each body adds a mid-body dip to its disc (osteoporosis) the cap is about one level; where the
    minima are the discs alone it is two levels (no effect on a regular column)."""
    from spinemets.segment.classic.discs import _minima_level_cap_mm

    prof, true = _osteoporotic_profile(level_mm=22.0)
    cap = _minima_level_cap_mm(prof)
    inner = (prof.s_mm > 30.0) & (prof.s_mm < prof.s_mm[-1] - 30.0)
    assert cap is not None and np.all(np.abs(cap[inner] - 22.0) <= 4.0), cap[inner]
    reg = _profile([20.0 + 23.0 * k for k in range(12)])
    cap = _minima_level_cap_mm(reg)
    assert cap is not None and np.all(np.abs(cap - 46.0) <= 1.0)


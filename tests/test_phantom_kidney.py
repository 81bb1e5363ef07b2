"""Kidneys in their perirenal fat (phantom/kidney.py): placement clear of the posterior abdominal
wall muscles, the fat layer around the kidney, and on a generated phantom no kidney pixel touching
the psoas or quadratus lumborum."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from spinemets import anatomy
from spinemets.phantom import canvas as C
from spinemets.phantom.kidney import in_ellipse, perirenal_fat_mm, place_kidney, retroperitoneal_fat


def _outline(e, n=360):
    cx, cy, a, b, ang = e
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c, s = np.cos(ang), np.sin(ang)
    return cx + a * np.cos(t) * c - b * np.sin(t) * s, cy + a * np.cos(t) * s + b * np.sin(t) * c


def test_fat_thickness_grows_with_visceral_fat():
    assert 2.5 < perirenal_fat_mm(0.2) < perirenal_fat_mm(0.85) < perirenal_fat_mm(1.6) < 15.0


def test_place_kidney_clears_muscles_by_the_fat_layer():
    psoas = (35.0, 5.0, 14.0, 15.0, 0.0)  # left side (x > 0), body coordinates mm
    ql = (55.0, 20.0, 18.0, 10.0, 0.35)
    kid = (62.0, 12.0, 30.0, 22.0, 0.6)
    x, y = _outline(kid)
    assert in_ellipse(psoas, x, y, 0.0).any() and in_ellipse(ql, x, y, 0.0).any()  # overlaps as designed
    for fat in (3.0, 8.0):
        moved = place_kidney(kid, [psoas, ql], fat, side=1.0)
        x, y = _outline(moved)
        assert not in_ellipse(psoas, x, y, fat - 1.0).any() and not in_ellipse(ql, x, y, fat - 1.0).any()
        dx, dy = moved[0] - kid[0], moved[1] - kid[1]
        assert dx >= -1e-9 and dy <= 1e-9 and np.hypot(dx, dy) <= 30.0 + 1e-9  # lateral / anterior, bounded
        assert moved[2:] == kid[2:]  # same size and orientation
    # mirrored on the right side
    mir = lambda e: (-e[0], e[1], e[2], e[3], -e[4])  # noqa: E731
    m_r = place_kidney(mir(kid), [mir(psoas), mir(ql)], 3.0, side=-1.0)
    m_l = place_kidney(kid, [psoas, ql], 3.0, side=1.0)
    assert np.allclose(m_r, mir(m_l))
    # nothing to avoid: unchanged
    assert place_kidney(kid, [], 5.0, side=1.0) == kid


def test_place_kidney_never_pushed_into_the_wall():
    psoas = (35.0, 5.0, 14.0, 15.0, 0.0)
    kid = (50.0, 5.0, 30.0, 22.0, 0.6)
    free = place_kidney(kid, [psoas], 5.0, side=1.0)
    cavity = lambda x, y: x <= 80.0  # noqa: E731  flank wall beyond x = 80 mm
    bounded = place_kidney(kid, [psoas], 5.0, side=1.0, in_cavity=cavity)
    x, _ = _outline(free)
    assert x.max() > 80.0  # the unbounded move would cross the wall here
    x, _ = _outline(bounded)
    assert x.max() <= 80.0 + 1.0


def test_retroperitoneal_fat_separates_kidney_and_liver_from_muscle():
    px, fat_mm = 1.0, 4.0
    lab = np.zeros((80, 80), np.uint8)
    mat = np.full((80, 80), C.FAT_VISC, np.uint8)
    yy, xx = np.mgrid[:80, :80]
    psoas_id = anatomy.BY_NAME["psoas_major_left"].id
    kid = (xx - 30) ** 2 / 15 ** 2 + (yy - 40) ** 2 / 12 ** 2 <= 1
    liver = (xx >= 45) & (yy < 20)
    mat[kid] = C.KIDNEY
    mat[liver] = C.LIVER
    mus = (xx - 50) ** 2 + (yy - 40) ** 2 <= 8 ** 2  # overlaps the kidney's right edge
    mat[mus], lab[mus] = C.MUSCLE, psoas_id
    mat[(yy >= 28) & (yy < 31) & (xx > 45)] = C.MUSCLE  # and a strip touching the liver
    lab[(yy >= 28) & (yy < 31) & (xx > 45)] = psoas_id
    muscle_before = lab == psoas_id
    fat_id = anatomy.BY_NAME["visceral_fat"].id
    retroperitoneal_fat(lab, mat, fat_mm, px, fat_id, np.array([psoas_id]))
    assert np.array_equal(lab == psoas_id, muscle_before)  # muscles untouched
    d_mus = ndi.distance_transform_edt(~muscle_before, sampling=px)
    assert d_mus[mat == C.KIDNEY].min() > fat_mm and d_mus[mat == C.LIVER].min() > fat_mm
    assert (mat == C.KIDNEY).sum() > 0.6 * kid.sum()  # only the rim facing the muscle is fat
    # a kidney surrounded by fat is left alone
    lab2, mat2 = np.zeros((40, 40), np.uint8), np.full((40, 40), C.FAT_VISC, np.uint8)
    mat2[10:30, 10:30] = C.KIDNEY
    retroperitoneal_fat(lab2, mat2, fat_mm, px, fat_id, np.array([psoas_id]))
    assert (mat2 == C.KIDNEY).sum() == 400


def test_phantom_kidney_in_fat(phantom_factory, monkeypatch):
    """On a generated phantom (painted canvas, before imaging) no kidney pixel lies within 2 mm of
    the psoas or quadratus lumborum, and the muscle truth is what the ellipses paint."""
    import spinemets.phantom.generate as gen

    cap = {}
    orig = gen._fat_planes

    def hook(cv):
        orig(cv)
        cap["lab"], cap["mat"], cap["px"] = cv.lab.copy(), cv.mat.copy(), cv.spacing[0]

    monkeypatch.setattr(gen, "_fat_planes", hook)
    from spinemets.phantom import PhantomConfig, generate_phantom

    generate_phantom(PhantomConfig(seed=5, size="small", lesions=[], fov_levels=("T12", "L3")))
    lab, mat = cap["lab"], cap["mat"]
    wall = np.isin(lab, [anatomy.BY_NAME[f"{g}_{s}"].id for g in ("psoas_major", "quadratus_lumborum")
                         for s in ("left", "right")])
    kid = mat == C.KIDNEY
    assert kid.sum() > 1000 and wall.sum() > 1000
    near = ndi.binary_dilation(wall, structure=np.ones((1, 3, 3), bool))  # 1 pixel = 2 mm in-plane
    assert not (near & kid).any()

"""The local half-maximum border rule (``segment.classic.edge``) on blurred synthetic bodies with a
known surface: a cortical shell around marrow, a body without cortex, a thin plate."""

import numpy as np
from scipy import ndimage as ndi

from spinemets.segment.classic import masks
from spinemets.segment.classic.edge import halfmax_border

SP = np.array([0.75, 0.75, 0.75])
SOFT_HU, FAT_HU = 40.0, -100.0


def _ball(shape, centre, radius_vox):
    zz, yy, xx = np.indices(shape)
    return ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) <= radius_vox ** 2


def _scan(truth_hu: np.ndarray, blur_sigma_mm: float, noise_hu: float, seed: int) -> np.ndarray:
    """Area-averaged voxels (8x supersampling) blurred by a Gaussian PSF, plus white noise."""
    small = truth_hu.reshape(truth_hu.shape[0] // 2, 2, truth_hu.shape[1] // 2, 2,
                             truth_hu.shape[2] // 2, 2).mean(axis=(1, 3, 5))
    img = ndi.gaussian_filter(small, blur_sigma_mm / SP[0])
    return img + np.random.default_rng(seed).normal(0.0, noise_hu, img.shape)


def _body(cortex_hu: float, marrow_hu: float, cortex_mm: float, radius_mm: float, outside_hu: float,
          seed: int, cavity_mm: float = 0.0, blur_mm: float = 0.6):
    """A ball of marrow in a cortical shell; truth = voxels at least half inside (2x supersampled)."""
    n, c = 96, 47.5  # fine grid of 96^3 at 0.375 mm -> CT grid 48^3 at 0.75 mm
    fine_r = radius_mm / 0.375
    ball = _ball((n, n, n), (c, c, c), fine_r)
    inner = _ball((n, n, n), (c, c, c), fine_r - cortex_mm / 0.375)
    hu = np.full((n, n, n), outside_hu)
    hu[ball] = cortex_hu
    hu[inner] = marrow_hu
    if cavity_mm:
        hu[_ball((n, n, n), (c, c, c), cavity_mm / 0.375)] = SOFT_HU  # lytic cavity inside
    ct = _scan(hu, blur_mm, 15.0, seed)
    truth = ball.reshape(48, 2, 48, 2, 48, 2).mean(axis=(1, 3, 5)) >= 0.5
    return ct, truth


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _threshold_label(ct, truth):
    """The label a fixed-threshold hysteresis draws, with enclosed cavities filled."""
    lab = masks.bone_mask(ct.astype(np.float32))
    lab = ndi.binary_fill_holes(lab)
    return lab.astype(np.uint8) * 20


def test_cortex_halo_is_peeled_to_the_half_occupancy_surface():
    """A 2.5 mm shell (wider than the blur): the half-maximum surface is the 50 % occupancy
    surface. A 1 mm shell (thinner than the blur, FWHM 1.4 mm): its blurred peak is below the
    cortical HU, so the rule errs outward, by less than half a voxel all round."""
    radius_mm, voxel_mm = 12.0, 0.75
    half_voxel_shell = 3 * 0.5 * voxel_mm / radius_mm  # volume fraction of a half-voxel shell
    for cortex_mm, lo, hi in ((2.5, 0.97, 1.03), (1.0, 1.0, 1.0 + half_voxel_shell)):
        for seed in (1, 2, 3):
            for outside in (SOFT_HU, FAT_HU):
                ct, truth = _body(1000.0, 200.0, cortex_mm, radius_mm, outside, seed)
                lab = _threshold_label(ct, truth)
                before = lab > 0
                after = halfmax_border(lab, ct, SP) > 0
                # the threshold label is too big by the blur; the half-maximum label is not
                assert before.sum() > 1.1 * truth.sum(), (seed, outside, before.sum(), truth.sum())
                ratio = after.sum() / truth.sum()
                assert lo < ratio < hi, (cortex_mm, seed, outside, ratio)
                assert _dice(after, truth) > _dice(before, truth) + 0.03
                # only removed, never added; no holes opened
                assert not (after & ~before).any()
                assert (ndi.binary_fill_holes(after) == after).all()


def test_body_without_cortex_keeps_its_marrow():
    """Osteoporotic / lytic body: no shell, marrow 170 HU. The half-maximum lies below the bone
    threshold: nothing is peeled, however noisy."""
    for seed in (1, 2):
        ct, truth = _body(170.0, 170.0, 1.0, 12.0, SOFT_HU, seed)
        lab = (ndi.binary_fill_holes(ct > 110.0) & _ball(ct.shape, (23.5,) * 3, 17)).astype(np.uint8) * 20
        after = halfmax_border(lab, ct, SP)
        assert (after > 0).sum() >= 0.99 * (lab > 0).sum()


def test_lytic_cavity_inside_is_not_touched():
    ct, truth = _body(1000.0, 200.0, 1.0, 12.0, SOFT_HU, 4, cavity_mm=6.0)
    lab = _threshold_label(ct, truth)
    after = halfmax_border(lab, ct, SP) > 0
    cavity = _ball((48, 48, 48), (23.5,) * 3, 6.0 / 0.75 - 1.0)
    assert after[cavity].all()  # the filled cavity stays labelled (not reached from outside)


def test_thin_plate_survives():
    """A 1 mm cortical plate (thinner than the blur): its centre keeps the label."""
    n = 96
    hu = np.full((n, n, n), SOFT_HU)
    hu[:, 40:43, 10:86] = 1000.0  # 3 fine voxels = 1.125 mm thick plate
    ct = _scan(hu, 0.6, 15.0, 5)
    lab = (masks.bone_mask(ct.astype(np.float32))).astype(np.uint8) * 9
    after = halfmax_border(lab, ct, SP) > 0
    centre_rows = after[2:-2, 20:22, 8:40]
    assert centre_rows.any(axis=1).all()  # every column of the plate still holds the label


def test_thick_slices_are_judged_in_plane_only():
    ct, truth = _body(1000.0, 200.0, 1.0, 12.0, SOFT_HU, 6)
    lab = _threshold_label(ct, truth)
    after = halfmax_border(lab, ct, np.array([2.0, 0.75, 0.75]))
    m0, m1 = lab > 0, after > 0
    # top and bottom caps: the z border (voxels with an unlabelled z neighbour and labelled in-plane
    # neighbours all round) are never judged in-plane
    zs = np.nonzero(m0.any(axis=(1, 2)))[0]
    assert m1[zs[0]].sum() >= 1 and m1[zs[-1]].sum() >= 1
    assert set(np.unique(after)) <= set(np.unique(lab))
    assert (m1 <= m0).all()
    # in-plane peeling does happen on the equator slices
    mid = 24
    assert m1[mid].sum() < m0[mid].sum()


def test_pixels_wider_than_the_shell_are_left_alone():
    ct, truth = _body(1000.0, 200.0, 1.0, 12.0, SOFT_HU, 7)
    lab = _threshold_label(ct, truth)
    out = halfmax_border(lab, ct, np.array([3.0, 2.0, 2.0]))
    assert np.array_equal(out, lab)

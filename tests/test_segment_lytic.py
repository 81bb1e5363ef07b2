"""Lytic cavities opened through the body wall (``segment.classic.lytic``) on a synthetic vertebra.

The vertebra: an elliptic body (30 x 24 mm, 24 mm tall, a 1.5 mm narrower waist at mid-height)
and a ring-shaped arch around the spinal canal behind it, on a 1 mm x 0.75 mm x 0.75 mm grid;
fat (-100 HU) around it, a psoas-like block of soft tissue (45 HU) against one side of the body,
CSF (15 HU) in the canal. The label map is what a segmentation that misses the lesion gives: the
vertebra without the lesion's voxels.
"""

import numpy as np
import pytest

from spinemets.segment.classic.lytic import (beyond_end_plate_concavity, fill_lytic_cavities, mirror_axis_x,
                                            to_posterior_wall)

SP = np.array([1.0, 0.75, 0.75])  # z, y, x (mm)
SHAPE = (40, 90, 90)
VID = 20
Z0, Z1 = 8, 32  # body slices [Z0, Z1)
YC, XC = 35.0, 45.0  # body centre (index)
A_X, A_Y = 20.0, 16.0  # body semi-axes (pixels: 15 x 12 mm)


def _vertebra(waist_mm: float = 1.5, concave_end_plates: bool = False):
    zz, yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1], 0:SHAPE[2]].astype(float)
    # waist: the outline is narrower by up to waist_mm at mid-height
    t = (zz - 0.5 * (Z0 + Z1 - 1)) / (0.5 * (Z1 - Z0))
    shrink = waist_mm / 0.75 * (1 - t ** 2)
    body = ((xx - XC) / (A_X - shrink)) ** 2 + ((yy - YC) / (A_Y - shrink)) ** 2 <= 1.0
    body &= (zz >= Z0) & (zz < Z1)
    # arch: a ring around the canal behind the body, at mid-height
    r = np.hypot(xx - XC, yy - (YC + A_Y + 8))
    canal = (r < 7) & (zz >= Z0 + 6) & (zz < Z1 - 6)
    arch = (r >= 7) & (r < 11) & (zz >= Z0 + 6) & (zz < Z1 - 6) & ~body
    hu = np.full(SHAPE, -100.0)
    hu[body | arch] = 250.0
    hu[canal] = 15.0
    labels = np.zeros(SHAPE, np.uint16)
    labels[body | arch] = VID
    # psoas-like soft tissue against the right side of the body (outside it)
    psoas = (np.hypot(xx - (XC - A_X - 7), yy - YC) < 8) & ~body & (zz >= Z0) & (zz < Z1)
    hu[psoas] = 45.0
    disc_in_rim = np.zeros(SHAPE, bool)
    if concave_end_plates:
        # the disc fills the centre of each end plate within its rim, 7 mm deep: deeper than the
        # concavity (3 mm) plus the shortest cavity (6 mm) would allow without the end-plate rule
        core = ((xx - XC) / (A_X - 4)) ** 2 + ((yy - YC) / (A_Y - 4)) ** 2 <= 1.0
        disc_in_rim = core & (((zz >= Z0) & (zz < Z0 + 7)) | ((zz >= Z1 - 7) & (zz < Z1)))
        labels[disc_in_rim] = 0
        hu[disc_in_rim] = 85.0
    # the canal cut: 0.6 of the body's AP semi-axis behind its centre
    front = yy <= YC + 0.6 * A_Y
    return labels, hu, front, body, canal, psoas, disc_in_rim


def _lesion(labels, hu, body, centre, radius_px):
    zz, yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1], 0:SHAPE[2]].astype(float)
    les = (((zz - centre[0]) * SP[0]) ** 2 + ((yy - centre[1]) * SP[1]) ** 2 + ((xx - centre[2]) * SP[2]) ** 2
           <= (radius_px * SP[1]) ** 2) & body
    labels = labels.copy()
    hu = hu.copy()
    labels[les] = 0
    hu[les] = 40.0
    return labels, hu, les


def test_lesion_through_the_lateral_wall_is_filled():
    labels, hu, front, body, canal, psoas, _ = _vertebra()
    # 9 mm radius, anterolateral left, breaking through the wall over ~15 mm
    labels, hu, les = _lesion(labels, hu, body, (20, YC - 3, XC + 13), 12)
    assert les.sum() > 1000
    out = fill_lytic_cavities(labels, hu, front, SP)
    added = (out == VID) & (labels == 0)
    # most of the lesion is recovered (its part behind the canal cut is not)
    assert (added & les).sum() >= 0.85 * (les & front).sum()
    # nothing outside the true body: not the canal, not the psoas, not the fat
    assert not (added & ~body).any()
    assert not (added & canal).any() and not (added & psoas).any()


def test_lesion_at_the_back_of_the_body_behind_the_cut_is_filled():
    """The canal cut (0.6 semi-axes behind the centre) lies in front of the posterior wall; a lesion
    opened through the wall behind it is recovered up to the wall, the canal stays out."""
    labels, hu, front, body, canal, psoas, _ = _vertebra()
    labels, hu, les = _lesion(labels, hu, body, (16, YC + 10, XC), 9)
    assert (les & ~front).sum() > 0.4 * les.sum()  # most of it behind the cut
    out = fill_lytic_cavities(labels, hu, front, SP)
    added = (out == VID) & (labels == 0)
    assert (added & les).sum() >= 0.85 * les.sum()
    assert not (added & ~body).any()
    assert not (added & canal).any()


def test_lesion_through_the_end_plate_filled_up_to_the_plate_not_into_the_disc():
    """A lesion that breaks through the upper end plate: its last 3 mm (the end plate's concavity
    depth, left out for a disc resting in an intact concave end plate) join the cavity up to the
    end plate's level on the body's intact side; the disc above stays out."""
    labels, hu, front, body, canal, psoas, _ = _vertebra()
    zz = np.arange(SHAPE[0])[:, None, None]
    disc_above = (zz >= Z1) & (zz < Z1 + 6) & body[Z1 - 1][None]
    hu[disc_above] = 85.0
    labels, hu, les = _lesion(labels, hu, body, (Z1 - 2, YC - 2, XC + 8), 12)
    top = les & (zz >= Z1 - 3)
    assert top.sum() > 1000
    out = fill_lytic_cavities(labels, hu, front, SP)
    added = (out == VID) & (labels == 0)
    assert (added & top).sum() >= 0.6 * top.sum()
    assert (added & les).sum() >= 0.85 * les.sum()
    assert not (added & ~body).any() and not (added & disc_above).any()


def test_posterior_wall_not_moved_across_a_filled_canal():
    """The cut line moves back to the body's posterior wall (the end of the midline runs behind
    it); where the vertebra map has filled the canal those runs cross it and are not used."""
    labels, hu, front, body, canal, *_ = _vertebra()
    v = labels == VID
    moved = to_posterior_wall(v, front, XC, 5.0 / SP[2])
    back = int(np.nonzero(body[Z0 + 2, :, int(XC)])[0].max())
    assert abs(np.nonzero(moved[Z0 + 2, :, int(XC)])[0].max() - back) <= 1
    # a vertebra map that runs on through the canal into the arch behind the body, in every slice
    zz, yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1], 0:SHAPE[2]]
    through = body.any(axis=(1, 2))[:, None, None] & (yy > back - 3) & (yy < back + 25) & (np.abs(xx - XC) < 8)
    filled = to_posterior_wall(v | through, front, XC, 5.0 / SP[2])
    assert np.nonzero(filled[Z0 + 2, :, int(XC)])[0].max() <= back


def test_intact_vertebra_with_waist_and_neighbour_soft_tissue_unchanged():
    labels, hu, front, body, canal, psoas, _ = _vertebra(waist_mm=2.0)
    hu_soft = hu.copy()
    hu_soft[(hu_soft == -100.0)] = 40.0  # soft tissue (not fat) all around: the waist must stay open
    for h in (hu, hu_soft):
        out = fill_lytic_cavities(labels, h, front, SP)
        assert np.array_equal(out, labels)


def test_disc_in_concave_end_plate_not_filled():
    labels, hu, front, body, canal, psoas, disc = _vertebra(concave_end_plates=True)
    out = fill_lytic_cavities(labels, hu, front, SP)
    assert not ((out == VID) & disc).any()


def test_other_labels_are_never_taken():
    labels, hu, front, body, canal, psoas, _ = _vertebra()
    labels, hu, les = _lesion(labels, hu, body, (20, YC - 3, XC + 13), 12)
    other = les & (np.arange(SHAPE[2])[None, None, :] > XC + 16)
    labels[other] = VID + 1
    out = fill_lytic_cavities(labels, hu, front, SP)
    assert np.array_equal(out[other], labels[other])
    assert np.array_equal(out[labels == VID], labels[labels == VID])


def test_mirror_axis_found_despite_one_sided_lesion():
    labels, hu, front, body, *_ = _vertebra()
    damaged, _, les = _lesion(labels, hu, body, (20, YC - 3, XC + 13), 12)
    assert mirror_axis_x(labels == VID, 10.0) == pytest.approx(XC, abs=0.5)
    assert mirror_axis_x(damaged == VID, 10.0) == pytest.approx(XC, abs=1.5)


def test_end_plate_concavity_rule():
    # a column: bone 0-9, cavity 10-13, open above (nothing beyond)
    bone = np.zeros((20, 1, 1), bool)
    bone[:10] = True
    cav = np.zeros_like(bone)
    cav[10:14] = True
    ok = beyond_end_plate_concavity(bone, cav, need_slices=3)
    # the last 3 slices before the open end are dropped; capped cavities are kept whole
    assert ok[:, 0, 0].nonzero()[0].tolist() == [10]
    bone[16:18] = True
    ok = beyond_end_plate_concavity(bone, cav, need_slices=3)
    assert ok[:, 0, 0].nonzero()[0].tolist() == [10, 11, 12, 13]

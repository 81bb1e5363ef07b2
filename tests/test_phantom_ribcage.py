"""Phantom chest wall: the rib cage as the ribs actually crossing a slice (phantom/rib_cage.py), the
wall sheets lying on it and the chest's envelope following it (phantom/soft.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from spinemets import anatomy
from spinemets.phantom.rib_cage import CARTILAGE_TAPER_DEG, cage_profile, rib_crossings


def test_rib_crossings_interpolate_the_centre_line():
    """A straight rib descending from z = 10 to z = -10 mm while running from x = 0 to 40 mm
    crosses z = 0 at x = 20 mm; a rib entirely above the plane does not cross it."""
    t = np.linspace(0.0, 1.0, 81)[:, None]
    down = np.hstack([40.0 * t, np.full_like(t, 5.0), 10.0 - 20.0 * t])
    above = down + [0.0, 0.0, 50.0]
    cr = rib_crossings([(down, 4.0, 6), (above, 4.0, 5)], 0.0)
    assert cr.shape == (1, 4)
    assert cr[0, :2] == pytest.approx([20.0, 5.0], abs=1e-6)
    assert cr[0, 2] == 4.0 and cr[0, 3] == 6


def test_cage_profile_interpolates_between_ribs_and_closes_only_in_front_of_true_ribs():
    """Two crossings per side on ellipses of normalised radius 0.9 (anterior) and 1.0 (lateral):
    q is interpolated between them and held beyond; in front of the anterior crossing the cage
    stays closed (w = 1) for a true rib (<= 7) and fades over CARTILAGE_TAPER_DEG for a false rib."""
    Ar, Br, cyr = 120.0, 80.0, 0.0

    def pt(q, psi_deg, sgn):
        p = np.radians(psi_deg)
        return [sgn * q * Ar * np.cos(p), cyr + q * Br * np.sin(p)]

    psis = np.array([-60.0, -45.0, -30.0, 0.0, 10.0, -70.0])
    for rib_front, w_front in ((5, 1.0), (9, 1.0 - 10.0 / CARTILAGE_TAPER_DEG)):
        cr = np.array([[*pt(0.9, -50.0, s), 4.0, rib_front] for s in (1, -1)] +
                      [[*pt(1.0, 0.0, s), 4.5, 8] for s in (1, -1)])
        X = np.array([pt(1.0, p, s)[0] for s in (1, -1) for p in psis])
        Y = np.array([pt(1.0, p, s)[1] for s in (1, -1) for p in psis])
        q, r, w = cage_profile(cr, Ar, Br, cyr, X, Y)
        q, w = q.reshape(2, -1), w.reshape(2, -1)
        for side in range(2):  # mirrored sides behave alike
            assert q[side, 1] == pytest.approx(0.9 + 0.1 * 5.0 / 50.0, abs=1e-3)  # -45 deg
            assert q[side, 3] == pytest.approx(1.0, abs=1e-6) and q[side, 4] == pytest.approx(1.0, abs=1e-6)
            assert q[side, 5] == pytest.approx(0.9, abs=1e-6)  # held in front of the last rib
            assert w[side, 1] == 1.0 and w[side, 4] == 1.0
            assert w[side, 0] == pytest.approx(w_front, abs=1e-3)  # -60 deg: 10 deg in front


def _wall_ids(groups):
    return [anatomy.BY_NAME[f"{g}_{s}"].id for g in groups for s in ("left", "right")]


def test_chest_wall_sheets_lie_on_the_ribs_under_the_subject_fat(phantom_small):
    """At T4 and T6 the anterior and lateral wall sheets (pectoralis, serratus) lie on the rib cage:
    median 3-D distance to the nearest rib voxel <= 20 mm (half a rib interspace, ~10-12 mm, plus the
    sheet and its fascial plane; it was 26-37 mm when the sheets lay at the torso ellipse's depth
    over a fat gap), and the skin lies the subject's subcutaneous fat over them (anterior ray 30 mm
    left of the midline: first muscle at the fat thickness within two pixels)."""
    ph = phantom_small
    g = ph.ct.geometry
    sx, sy, sz = g.spacing_mm
    lab = ph.labels.array
    ribs = np.isin(lab, [s.id for s in anatomy.STRUCTURES if s.name.startswith("rib_")])
    d_rib = ndi.distance_transform_edt(~ribs, sampling=(sz, sy, sx))
    f = ph.truth["subject"]["subcutaneous_fat_mm"]
    for lv in ("T4", "T6"):
        k = int(round(g.lps_to_index_zyx(np.asarray(ph.frames[lv].origin))[0]))
        sheet = np.isin(ph.muscles.array[k], _wall_ids(["pectoralis_major", "serratus_anterior"]))
        assert sheet.sum() > 20, lv
        assert np.median(d_rib[k][sheet]) <= 20.0, (lv, float(np.median(d_rib[k][sheet])))
        body = ph.ct.array[k] > -500
        cx = int(np.median(np.nonzero(body)[1]))
        col = cx + int(round(30.0 / sx))
        y0 = int(np.argmax(body[:, col]))
        first = int(np.nonzero(ph.muscles.array[k][y0:, col] > 0)[0][0])
        assert abs(first * sy - f) <= 2 * sy, (lv, first * sy, f)

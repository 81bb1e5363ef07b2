"""End slices of a body taken off at the CT's end-plate edges (``segment.endplates``): synthetic
bodies imaged with 3 mm slices that average three 1 mm sub-slices."""

from __future__ import annotations

import numpy as np

from spinemets.image import Geometry
from spinemets.segment.endplates import trim_end_plates

TRAB_HU, PLATE_HU, DISC_HU = 150.0, 1000.0, 85.0
AXIS = np.array([0.0, 0.0, 1.0])
ANTERIOR = np.array([0.0, -1.0, 0.0])


def _body(top_sub: tuple[int, ...], bottom_sub: int = 21, lytic: bool = False, nz: int = 24):
    """(HU on 3 mm slices, generous body mask, geometry, centre). Column groups along x: the top
    end plate (1 mm cortex) ends after ``top_sub[g]`` 1 mm sub-slices of slice 16 (fraction of
    that slice that is bone). The mask holds every slice with bone plus one slice of disc beyond
    each end (the partial-volume rim a vertebra map keeps). ``lytic``: soft tissue (40 HU) fills
    the marrow of slices 13-15 of group 0 up to the end plate."""
    ny, nx = 14, 6 * len(top_sub)
    fine = np.full((3 * nz, ny, nx), DISC_HU, np.float32)
    bone = np.zeros((3 * nz, ny, nx), bool)
    for g, k in enumerate(top_sub):
        xs = slice(6 * g, 6 * g + 6)
        top = 3 * 16 + k  # exclusive end of bone (sub-slice index)
        lo = bottom_sub  # bone from this sub-slice
        fine[lo:top, 2:-2, xs] = TRAB_HU
        fine[top - 1, 2:-2, xs] = PLATE_HU
        fine[lo, 2:-2, xs] = PLATE_HU
        bone[lo:top, 2:-2, xs] = True
        if lytic and g == 0:
            fine[3 * 13:top - 1, 4:-4, xs] = 40.0
    hu = fine.reshape(nz, 3, ny, nx).mean(axis=1)
    any_bone = bone.reshape(nz, 3, ny, nx).any(axis=1)
    mask = any_bone.copy()
    mask[1:] |= any_bone[:-1]  # one disc slice beyond the top
    mask[:-1] |= any_bone[1:]  # and beyond the bottom
    mask[:, :2] = mask[:, -2:] = False
    geom = Geometry((nz, ny, nx), (2.0, 2.0, 3.0))
    centre = geom.index_zyx_to_lps(np.array([11.0, (ny - 1) / 2, (nx - 1) / 2]))
    return hu, mask, geom, centre


def test_disc_slice_beyond_the_end_plate_is_taken_off():
    hu, mask, geom, centre = _body((1, 2, 3))
    out = trim_end_plates(hu, mask, geom, centre, AXIS, ANTERIOR, np.zeros(3))
    for g, k in enumerate((1, 2, 3)):
        xs = slice(6 * g + 2, 6 * g + 4)  # the middle of each group, away from its neighbours
        col = out[:, 4:-4, xs].any(axis=(1, 2))
        # the slice of disc beyond the end plate goes; the slice holding the plate stays when
        # bone fills at least half of it (2 or 3 of its 1 mm sub-slices)
        assert not col[17], (k, np.nonzero(col)[0])
        if k >= 2:
            assert col[16], (k, np.nonzero(col)[0])
        # (k = 1: the slice holding 1/3 bone, the plate included, is kept: with a box slice
        # profile the plate's position inside one slice cannot be resolved)
        # the bottom: bone from sub-slice 21, the first of slice 7; slice 6 is disc
        assert col[7] and not col[6], (k, np.nonzero(col)[0])
        # never more than the end slices: everything between stays
        assert col[7:16].all()


def test_lytic_marrow_behind_the_end_plate_stays():
    hu, mask, geom, centre = _body((3, 3), lytic=True)
    out = trim_end_plates(hu, mask, geom, centre, AXIS, ANTERIOR, np.zeros(3))
    assert out[7:17, 4:-4, 2:4].all()  # the lytic marrow (slices 13-15) and the plate slice kept
    assert not out[17, 4:-4, 2:4].any()


def test_end_at_the_edge_of_the_scan_is_kept():
    hu, mask, geom, centre = _body((3,), nz=18)  # the disc slice 17 is the top slice
    out = trim_end_plates(hu, mask, geom, centre, AXIS, ANTERIOR, np.zeros(3))
    assert out[17, 4:-4, 2:4].all()  # no disc beyond it in the scan: the mask's end is kept

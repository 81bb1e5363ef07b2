"""Thin slabs (few slices finer than the 3 mm coarse grid): the working grid's end slices."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from spinemets.segment.classic.grid import labels_to_grid, make_workgrid
from spinemets.segment.classic.pipeline import _body_on_grid


def _slab(n_slices: int, dz_mm: float) -> sitk.Image:
    """A 40 mm-ish slab: soft tissue (40 HU) disc of radius 60 mm in air, 1 mm pixels."""
    yy, xx = np.mgrid[0:160, 0:160]
    sl = np.where(np.hypot(yy - 80, xx - 80) <= 60, 40.0, -1000.0).astype(np.float32)
    img = sitk.GetImageFromArray(np.repeat(sl[None], n_slices, axis=0))
    img.SetSpacing((1.0, 1.0, dz_mm))
    img.SetOrigin((-80.0, -80.0, -800.0))
    return img


def test_body_covers_every_fine_slice_of_a_thin_slab():
    # 20 slices of 2 mm: the 3 mm coarse grid holds 13 slices whose ends lie inside the field of
    # view, so plain nearest-neighbour resampling leaves a fine end slice without body
    img = _slab(20, 2.0)
    coarse = make_workgrid(img, 3.0)
    fine = make_workgrid(img, 2.0)
    body_c = coarse.array > -300
    body_f = _body_on_grid(body_c, coarse.image, fine.image)
    assert body_f.shape == fine.array.shape
    per_slice = body_f.sum(axis=(1, 2))
    inside = fine.array > -300
    assert np.all(per_slice > 0.9 * inside.sum(axis=(1, 2)))
    # (the padding only continues the end slices: nothing beyond the body's outline is added)
    assert not np.any(body_f & ~ndi_dilate(inside))


def test_plain_resampling_misses_an_end_slice_here():
    # guards the premise of the test above: without the padding an end slice of this slab is empty
    img = _slab(20, 2.0)
    coarse = make_workgrid(img, 3.0)
    fine = make_workgrid(img, 2.0)
    plain = labels_to_grid((coarse.array > -300).astype(np.uint16), coarse.image, fine.image) > 0
    assert (plain.sum(axis=(1, 2)) == 0).any()


def ndi_dilate(m: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi
    return ndi.binary_dilation(m, iterations=3)


# --- spine zone in front of the body (``separate.front_extents``) -------------------------------

def _degenerate_body():
    """2 mm grid, 9 slices, a 16 mm-radius body (rows/cols around (40, 40)); slices 0-2 are the
    caudal end-plate rim, flared 6 mm wider on the left (+x) than the waist; slice 1 carries an
    anterior osteophyte reaching 40 mm in front of the centre; a rib head touches the body behind
    its centre (posterolateral corner) in slice 4."""
    from spinemets.segment.classic.centreline import Centreline
    w, r = 2.0, 16.0
    nz, ny, nx = 9, 80, 80
    yy, xx = np.mgrid[0:ny, 0:nx]
    mask = np.zeros((nz, ny, nx), bool)
    for z in range(nz):
        mask[z] = np.hypot((yy - 40) / 8.0, (xx - 40) / 9.0) <= 1.0  # 16 mm deep, 18 mm half width
        if z <= 2:  # flared end-plate rim, left side, front half
            mask[z] |= (yy >= 34) & (yy <= 40) & (xx >= 40) & (xx <= 52)  # 24 mm from the centre
    mask[1, 20:33, 38:41] = True  # anterior spur: rows 20-32, 40 mm in front of the centre at row 20
    mask[4, 41:46, 48:60] = True  # rib head and neck, behind the centre, beyond the waist
    zc = np.arange(nz, dtype=float)
    cl = Centreline(zc, np.full(nz, 40.0), np.full(nz, 40.0), np.full(nz, r), np.ones(nz, bool), w)
    return mask, cl, w


def test_osteophyte_and_flared_rim_are_in_the_spine_zone():
    from spinemets.segment.classic.separate import (body_half_widths, front_extents, segment_bounds,
                                                    spine_zone)
    mask, cl, w = _degenerate_body()
    ribs = np.ones(mask.shape[0], bool)
    bounds = segment_bounds([], cl)
    hw = body_half_widths(mask, cl, bounds, w)
    fe = front_extents(mask, cl, w)
    assert fe[1, 2] == pytest.approx(40.0) and fe[0, 1] == pytest.approx(24.0)
    zone = spine_zone(mask.shape, cl, w, ribs, hw, fe)
    # the spur's tip and the flared rim are the body's own bone, in the zone
    assert zone[1, 20, 39] and zone[0, 36, 52]
    # the rib head behind the centre beyond the waist stays out of it (it seeds the rib side)
    assert not zone[4, 43, 58]
    # without the front extents (radius and mid-height waist only) both fell outside
    old = spine_zone(mask.shape, cl, w, ribs, hw)
    assert not old[1, 20, 39] and not old[0, 36, 52]

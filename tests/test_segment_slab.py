"""Thin slabs (few slices finer than the 3 mm coarse grid): the working grid's end slices."""

from __future__ import annotations

import numpy as np
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


# --- spine zone in front of the body centre (``separate.front_reach``, ``spine_zone``) ----------

def _degenerate_body():
    """2 mm grid, 9 slices, a body 16 mm deep and 18 mm half wide around (row 40, col 40), the
    centreline there with an inscribed radius of 16 mm; slices 0-2 are the caudal end-plate rim,
    flared to 24 mm on the left (+x) in front of the centre; slice 1 carries an anterior
    osteophyte reaching 40 mm in front of the centre (row 20); slice 4 a rib head and neck behind
    the centre beyond the waist; slice 6 a calcified plaque joined to the front and reaching far
    forward (rows 8-23: 64 mm)."""
    from spinemets.segment.classic.centreline import Centreline
    w, r = 2.0, 16.0
    nz, ny, nx = 9, 80, 80
    yy, xx = np.mgrid[0:ny, 0:nx]
    mask = np.zeros((nz, ny, nx), bool)
    for z in range(nz):
        mask[z] = np.hypot((yy - 40) / 8.0, (xx - 40) / 9.0) <= 1.0
        if z <= 2:
            mask[z] |= (yy >= 34) & (yy <= 40) & (xx >= 40) & (xx <= 52)
    mask[1, 20:33, 38:41] = True
    mask[4, 41:46, 48:60] = True
    mask[6, 8:33, 39:42] = True
    zc = np.arange(nz, dtype=float)
    cl = Centreline(zc, np.full(nz, 40.0), np.full(nz, 40.0), np.full(nz, r), np.ones(nz, bool), w)
    return mask, cl, w


def test_osteophyte_and_flared_rim_are_in_the_spine_zone():
    from spinemets.segment.classic.separate import body_half_widths, front_reach, segment_bounds, spine_zone
    mask, cl, w = _degenerate_body()
    ribs = np.ones(mask.shape[0], bool)
    hw = body_half_widths(mask, cl, segment_bounds([], cl), w)
    front = front_reach(mask, cl, w)
    assert front[1] == 40.0 and front[0] == 16.0 and front[6] == 64.0
    zone = spine_zone(mask.shape, cl, w, ribs, hw, front)
    # the spur's tip (40 mm in front: beyond one radius + 15 mm) and the rim flared beyond the
    # waist in front of the centre are the body's own bone
    assert zone[1, 20, 39] and zone[0, 36, 52]
    # the rib head behind the centre beyond the waist stays out (it seeds the rib side)
    assert not zone[4, 43, 58]
    # the plaque is followed only to the body's largest anterior extent (1.6 radii + 15 mm)
    assert zone[6, 21, 40] and not zone[6, 19, 40]
    # with one inscribed radius + 15 mm in front only, the spur fell outside
    old = spine_zone(mask.shape, cl, w, ribs, hw)
    assert not old[1, 20, 39]

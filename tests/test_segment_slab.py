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

"""Prepare (CT, label map) training cases: resample to a coarser grid, crop around structures.

Used to build small nnU-Net testbeds (e.g. ~4 mm, a few lumbar levels) from phantoms or from
Spine-Mets-CT-SEG-style data. Both functions keep the two images on one grid and keep LPS
geometry exact (origins are recomputed, direction is unchanged).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import InputError
from ..image import CTImage, Geometry, LabelMap


def resample_case(ct: CTImage, labels: LabelMap, spacing_mm: float | tuple[float, float, float]
                  ) -> tuple[CTImage, LabelMap]:
    """Resample to ``spacing_mm`` (x, y, z; one number = isotropic) covering the same extent:
    CT with linear interpolation (HU, float32), labels with nearest neighbour."""
    import SimpleITK as sitk

    if not ct.geometry.is_same_grid(labels.geometry):
        raise InputError("the label map is not on the CT grid")
    sp = (float(spacing_mm),) * 3 if np.isscalar(spacing_mm) else tuple(float(s) for s in spacing_mm)
    if min(sp) <= 0:
        raise InputError(f"spacing must be positive, got {sp}")
    g = ct.geometry
    size_xyz = [max(1, int(round(n * s / t))) for n, s, t in zip(g.shape_zyx[::-1], g.spacing_mm, sp)]
    # keep the outer corner of the first voxel where it was: origin moves by half the size change
    d = g.direction_matrix
    shift = d @ ((np.asarray(sp) - np.asarray(g.spacing_mm)) / 2.0)
    ref = sitk.Image(size_xyz, sitk.sitkUInt8)
    ref.SetSpacing(sp)
    ref.SetOrigin(tuple(np.asarray(g.origin_lps_mm) + shift))
    ref.SetDirection(g.direction)
    ct_img = sitk.Cast(ct.to_sitk(), sitk.sitkFloat32)
    out_ct = sitk.Resample(ct_img, ref, sitk.Transform(), sitk.sitkLinear, float(ct.array.min()),
                           sitk.sitkFloat32)
    out_lab = sitk.Resample(labels.to_sitk(), ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                            labels.to_sitk().GetPixelID())
    geom = Geometry.from_sitk(out_ct)
    return (CTImage(sitk.GetArrayFromImage(out_ct), geom, dict(ct.metadata)),
            LabelMap(sitk.GetArrayFromImage(out_lab), geom, labels.labels))


def crop_case(ct: CTImage, labels: LabelMap, label_ids: Iterable[int] | None = None,
              margin_mm: float = 10.0) -> tuple[CTImage, LabelMap]:
    """Crop both images to the bounding box of ``label_ids`` (all labels if None) plus
    ``margin_mm`` on every side (clipped to the image)."""
    if not ct.geometry.is_same_grid(labels.geometry):
        raise InputError("the label map is not on the CT grid")
    ids = list(label_ids) if label_ids is not None else labels.present_ids()
    mask = np.isin(labels.array, ids)
    if not mask.any():
        raise InputError(f"none of the labels {ids} is present; nothing to crop to")
    idx = np.argwhere(mask)
    margin_vox = np.ceil(margin_mm / np.asarray(ct.geometry.spacing_mm[::-1])).astype(int)
    lo = np.maximum(idx.min(axis=0) - margin_vox, 0)
    hi = np.minimum(idx.max(axis=0) + margin_vox + 1, ct.geometry.shape_zyx)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    g = ct.geometry
    geom = Geometry(tuple(int(b - a) for a, b in zip(lo, hi)), g.spacing_mm,
                    tuple(g.index_zyx_to_lps(lo.astype(float))), g.direction)
    keep = {int(i): n for i, n in labels.labels.items()}
    return (CTImage(np.ascontiguousarray(ct.array[sl]), geom, dict(ct.metadata)),
            LabelMap(np.ascontiguousarray(labels.array[sl]), geom, keep))

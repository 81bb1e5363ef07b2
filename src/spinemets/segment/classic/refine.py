"""Bring working-grid labels back onto the CT grid and refine their borders at full resolution.

Labels are resampled by nearest neighbour in physical space. When the CT is finer than the working
grid, the border is redrawn from the CT's own bone mask (same hysteresis thresholds and cavity
filling as on the working grid): interior voxels keep their label, and every full-resolution bone
voxel within one working voxel of a vertebra takes the label of the nearest labelled voxel.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from . import masks
from .grid import labels_to_grid


def refine_on_ct(labels_work: np.ndarray, work_img: sitk.Image, ct_img: sitk.Image,
                 ct_array: np.ndarray) -> np.ndarray:
    up = labels_to_grid(labels_work, work_img, ct_img)
    w = float(work_img.GetSpacing()[0])
    sp = np.asarray(ct_img.GetSpacing())[::-1]  # (z, y, x) spacing of the CT array
    if np.all(sp >= 0.8 * w) or not up.any():
        return up
    obj = ndi.find_objects((up > 0).astype(np.uint8))[0]
    pad = np.ceil(2 * w / sp).astype(int)
    sl = tuple(slice(max(0, s.start - p), min(n, s.stop + p)) for s, p, n in zip(obj, pad, up.shape))
    sub = up[sl]
    hu = ct_array[sl].astype(np.float32)
    bone = masks.bone_mask(hu)
    bone |= masks.fill_enclosed(bone)
    inside = sub > 0
    core = ndi.binary_erosion(inside, iterations=max(1, int(round(w / sp.min()))) )
    dist, ind = ndi.distance_transform_edt(~inside, sampling=sp, return_indices=True)
    nearest = sub[tuple(ind)]
    cand = (bone & (dist <= w)) | core
    out = np.zeros_like(up)
    out[sl] = np.where(cand, nearest, 0)
    return out

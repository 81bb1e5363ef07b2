"""Bring working-grid labels back onto the CT grid and refine their borders at full resolution.

Labels are resampled by nearest neighbour in physical space. When the CT is finer than the working
grid, the border is redrawn from the CT's own bone mask (same hysteresis thresholds): voxels of
the label's interior (eroded by one working voxel) keep their label; in the one-working-voxel band
around it, CT voxels that are bone take the label of the adjacent vertebra (working labels
dilated by one voxel), and voxels that are not bone are dropped.
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
    lab = labels_work.astype(np.uint16)
    interior = np.where(ndi.grey_erosion(lab, size=3) == lab, lab, 0).astype(np.uint16)
    grown = np.where(lab > 0, lab, ndi.grey_dilation(lab, size=3)).astype(np.uint16)
    interior_up = labels_to_grid(interior, work_img, ct_img)
    grown_up = labels_to_grid(grown, work_img, ct_img)
    obj = ndi.find_objects((grown_up > 0).astype(np.uint8))[0]
    out = np.zeros_like(up)
    hu = ct_array[obj]
    bone = masks.bone_mask(hu.astype(np.float32))
    g = grown_up[obj]
    out[obj] = np.where(interior_up[obj] > 0, interior_up[obj], np.where(bone, g, 0))
    return out

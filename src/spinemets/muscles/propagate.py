"""3-D muscle label map from the per-level 2-D segmentations (nearest-plane transfer).

Every CT voxel in the muscle window (-29..150 HU) that lies between the first and the last
mid-vertebral plane (extended by half the neighbouring inter-plane distance at both ends) takes the
label found at its orthogonal projection onto the *nearest* plane (distance measured along each
plane's normal), if that projection falls on a labelled pixel. Between two levels the label map is
therefore the per-level segmentation swept along the spine axis, switching half-way between the
planes, and restricted to voxels whose own HU is muscle. This is a coarse interpolation: shape
changes between levels are not modelled, so per-level numbers always come from the planes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..image import CTImage
from .classic import MUSCLE_HU
from .plane import Plane


def propagate_labels(ct: CTImage, planes: list[Plane], label_images: list[np.ndarray]) -> np.ndarray:
    """uint16 ``[z, y, x]`` label array on the CT grid (0 = no muscle group)."""
    geo = ct.geometry
    out = np.zeros(geo.shape_zyx, np.uint16)
    if not planes:
        return out
    origins = np.stack([p.origin_lps_mm for p in planes])
    normals = np.stack([p.normal for p in planes])
    # slab limits along each plane's normal: half-way to the neighbouring planes
    gaps = [float(np.linalg.norm(origins[i + 1] - origins[i])) for i in range(len(planes) - 1)]
    end_gap = [gaps[0] if gaps else 20.0, gaps[-1] if gaps else 20.0]
    aff = geo.affine_lps
    zaxis = 0
    for k in range(geo.shape_zyx[zaxis]):
        sl = ct.array[k]
        cand = (sl >= MUSCLE_HU[0]) & (sl <= MUSCLE_HU[1])
        if not cand.any():
            continue
        jj, ii = np.nonzero(cand)
        ijk = np.stack([ii, jj, np.full_like(ii, k)], axis=1).astype(float)
        lps = ijk @ aff[:3, :3].T + aff[:3, 3]
        s = np.einsum("nk,pk->np", lps, normals) - np.einsum("pk,pk->p", origins, normals)[None, :]
        nearest = np.argmin(np.abs(s), axis=1)
        sn = s[np.arange(len(s)), nearest]
        ok = np.ones(len(s), bool)
        ok &= ~((nearest == 0) & (sn > 0.5 * end_gap[0]))  # beyond the cranial-most plane
        ok &= ~((nearest == len(planes) - 1) & (sn < -0.5 * end_gap[1]))
        labels = np.zeros(len(s), np.uint16)
        for p_i, (plane, lab2d) in enumerate(zip(planes, label_images)):
            sel = ok & (nearest == p_i)
            if not sel.any():
                continue
            xy = plane.project_lps(lps[sel])
            r, c = plane.to_pixel(xy[:, 0], xy[:, 1])
            vals = ndi.map_coordinates(lab2d, [r, c], order=0, mode="constant", cval=0)
            labels[sel] = vals
        out[k, jj, ii] = labels
    return out

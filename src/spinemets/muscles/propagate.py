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

from ..image import CTImage
from .tissue import MUSCLE_HU
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
    offs = np.einsum("pk,pk->p", origins, normals)
    # per plane, the signed distance and the plane pixel (row, col) are affine in the voxel index
    # (i, j, k): value = coef @ [i, j, k, 1]
    dist_coef = np.array([np.append(n @ aff[:3, :3], n @ aff[:3, 3] - o) for n, o in zip(normals, offs)])
    rc_coef = []
    for p in planes:
        rows = []
        for vec in (p.posterior, p.left):
            rows.append(np.append(vec @ aff[:3, :3], vec @ (aff[:3, 3] - p.origin_lps_mm)) / p.pixel_mm)
        rc = np.array(rows)
        rc[0, 3] += p.shape[0] // 2
        rc[1, 3] += p.shape[1] // 2
        rc_coef.append(rc)
    n_pl = len(planes)
    for k in range(geo.shape_zyx[0]):
        sl = ct.array[k]
        cand = (sl >= MUSCLE_HU[0]) & (sl <= MUSCLE_HU[1])
        if not cand.any():
            continue
        jj, ii = np.nonzero(cand)
        fi, fj = ii.astype(np.float32), jj.astype(np.float32)
        # planes that can be nearest in this slice: the range of those nearest at the corners of
        # the candidates' bounding box (planes are ordered cranio-caudally), widened by one
        corners = np.array([[i, j, k, 1.0] for i in (ii.min(), ii.max()) for j in (jj.min(), jj.max())])
        near_c = np.argmin(np.abs(corners @ dist_coef.T), axis=1)
        cidx = np.arange(max(int(near_c.min()) - 1, 0), min(int(near_c.max()) + 1, n_pl - 1) + 1)
        s = np.stack([fi * dist_coef[p, 0] + fj * dist_coef[p, 1] + (k * dist_coef[p, 2] + dist_coef[p, 3])
                      for p in cidx])
        nearest_c = np.argmin(np.abs(s), axis=0)
        sn = np.take_along_axis(s, nearest_c[None, :], axis=0)[0]
        nearest = cidx[nearest_c]
        ok = ~((nearest == 0) & (sn > 0.5 * end_gap[0]))  # beyond the cranial-most plane
        ok &= ~((nearest == n_pl - 1) & (sn < -0.5 * end_gap[1]))
        labels = np.zeros(len(ii), np.uint16)
        for p_i in cidx:
            sel = np.nonzero(ok & (nearest == p_i))[0]
            if not len(sel):
                continue
            rc, lab2d = rc_coef[p_i], label_images[p_i]
            r = np.rint(fi[sel] * rc[0, 0] + fj[sel] * rc[0, 1] + (k * rc[0, 2] + rc[0, 3])).astype(np.int64)
            c = np.rint(fi[sel] * rc[1, 0] + fj[sel] * rc[1, 1] + (k * rc[1, 2] + rc[1, 3])).astype(np.int64)
            inb = (r >= 0) & (r < lab2d.shape[0]) & (c >= 0) & (c < lab2d.shape[1])
            labels[sel[inb]] = lab2d[r[inb], c[inb]]
        out[k, jj, ii] = labels
    return out

"""Centreline of the vertebral-body column on a canonical grid ([z, y, x] = [S, P, L], isotropic).

In each axial slice the vertebral body is the thickest bone near the midline in the posterior
half of the body outline: the candidate is the maximum of the in-slice distance transform of the
filled bone mask inside a band around the midline. The candidates are then smoothed along z with
outlier rejection (Gaussian-weighted local means, sigma in mm), so discs and isolated bright
structures do not pull the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

#: Half width of the midline band searched for the body column (mm).
BAND_HALF_WIDTH_MM = 45.0
#: The body column lies posterior to this fraction of the body's AP depth, measured from its centre.
ANTERIOR_LIMIT_FRACTION = 0.15
#: Minimum inscribed radius of a vertebral body cross-section (mm).
MIN_BODY_RADIUS_MM = 5.0
#: Smoothing scale of the centreline along z (mm) and outlier distance (mm).
SMOOTH_SIGMA_MM = 12.0
OUTLIER_MM = 10.0


@dataclass
class Centreline:
    """Body-column centreline sampled on every axial slice in [z0, z1] (indices of the work grid).

    ``y``, ``x`` are continuous voxel indices; ``radius_mm`` the smoothed inscribed body radius;
    ``valid`` marks slices where a body cross-section was seen (False across discs and gaps).
    """

    z: np.ndarray
    y: np.ndarray
    x: np.ndarray
    radius_mm: np.ndarray
    valid: np.ndarray
    spacing_mm: float

    def at(self, zc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(y, x, radius_mm) at continuous slice positions ``zc`` (linear interpolation)."""
        zc = np.asarray(zc, float)
        return (np.interp(zc, self.z, self.y), np.interp(zc, self.z, self.x),
                np.interp(zc, self.z, self.radius_mm))

    def tangent(self, zc: np.ndarray) -> np.ndarray:
        """Unit tangent (dz, dy, dx) in index space (isotropic grid), pointing cranially."""
        zc = np.asarray(zc, float)
        dy = np.gradient(self.y, self.z) if self.z.size > 1 else np.zeros(1)
        dx = np.gradient(self.x, self.z) if self.z.size > 1 else np.zeros(1)
        t = np.stack([np.ones_like(zc), np.interp(zc, self.z, dy), np.interp(zc, self.z, dx)], -1)
        return t / np.linalg.norm(t, axis=-1, keepdims=True)


def _weighted_smooth(z: np.ndarray, v: np.ndarray, w: np.ndarray, zq: np.ndarray, sigma: float) -> np.ndarray:
    d = (zq[:, None] - z[None, :]) / sigma
    k = np.exp(-0.5 * d * d) * w[None, :]
    s = k.sum(1)
    return (k @ v) / np.maximum(s, 1e-12)


def find_centreline(filled: np.ndarray, body: np.ndarray, spacing_mm: float,
                    prior: Centreline | None = None, prior_band_mm: float = 25.0) -> Centreline | None:
    """Track the body column through ``filled`` (bone mask with cavities filled).

    Without ``prior`` the search band is the midline of the body outline; with a coarse ``prior``
    (already expressed in this grid's indices) it is a box of ``prior_band_mm`` around it.
    """
    nz, ny, nx = filled.shape
    # in-slice distance transform (mm): a huge z sampling makes it per-slice; with a prior only
    # the box around it is needed
    if prior is not None:
        m = int(np.ceil(prior_band_mm / spacing_mm)) + 40
        y0, y1 = max(0, int(prior.y.min()) - m), min(ny, int(prior.y.max()) + m + 1)
        x0, x1 = max(0, int(prior.x.min()) - m), min(nx, int(prior.x.max()) + m + 1)
        edt = np.zeros(filled.shape, np.float32)
        edt[:, y0:y1, x0:x1] = ndi.distance_transform_edt(filled[:, y0:y1, x0:x1],
                                                          sampling=(1e6, spacing_mm, spacing_mm))
    else:
        edt = ndi.distance_transform_edt(filled, sampling=(1e6, spacing_mm, spacing_mm))
    zs, ys, xs, rs = [], [], [], []
    body_any = body.any(axis=(1, 2))
    # lateral midline from the whole body outline (robust to arms in some slices)
    xi = np.arange(nx)
    yi = np.arange(ny)

    def _take_deepest(z: int, sl: np.ndarray, band: np.ndarray) -> None:
        """Record the deepest bone point (largest in-slice distance, mm) of slice z's band."""
        k = int(np.argmax(sl))
        r = float(sl.flat[k])
        if r < MIN_BODY_RADIUS_MM:
            return
        yk, xk = np.unravel_index(k, sl.shape)
        zs.append(z)
        ys.append(float(yk))
        xs.append(float(xi[band][xk]))
        rs.append(r)

    for z in range(nz):
        if prior is not None:
            if z < prior.z[0] - 1 or z > prior.z[-1] + 1:
                continue
            py, px, _ = prior.at(np.array([z]))
            band = np.abs(xi - px[0]) * spacing_mm <= prior_band_mm
            ymask = np.abs(yi - py[0]) * spacing_mm <= prior_band_mm
            _take_deepest(z, np.where(ymask[:, None], edt[z][:, band], 0.0), band)
            continue
        if not body_any[z]:
            continue
        b = body[z]
        xcount = b.sum(0)
        ycount = b.sum(1)
        if xcount.sum() == 0:
            continue
        cx = float((xcount * xi).sum() / xcount.sum())
        cy = float((ycount * yi).sum() / ycount.sum())
        yrows = np.nonzero(ycount)[0]
        depth = (yrows[-1] - yrows[0] + 1)
        band = np.abs(xi - cx) * spacing_mm <= BAND_HALF_WIDTH_MM
        ylim = cy - ANTERIOR_LIMIT_FRACTION * depth
        _take_deepest(z, np.where((yi >= ylim)[:, None], edt[z][:, band], 0.0), band)
    if len(zs) < 2:
        return None
    z = np.asarray(zs, float)
    y = np.asarray(ys)
    x = np.asarray(xs)
    r = np.asarray(rs)
    keep = np.ones(z.size, bool)
    sig = SMOOTH_SIGMA_MM / spacing_mm
    for _ in range(4):
        w = keep * r
        fy = _weighted_smooth(z, y, w, z, sig)
        fx = _weighted_smooth(z, x, w, z, sig)
        dist = np.hypot(fy - y, fx - x) * spacing_mm
        new = dist <= OUTLIER_MM
        # the column is thick: slices much thinner than the local median are not the body
        fr = _weighted_smooth(z, r, keep.astype(float), z, sig)
        new &= r >= 0.5 * fr
        if new.sum() < 2 or np.array_equal(new, keep):
            keep = new if new.sum() >= 2 else keep
            break
        keep = new
    zk = z[keep]
    zq = np.arange(int(zk.min()), int(zk.max()) + 1, dtype=float)
    wk = r[keep]
    cy = _weighted_smooth(zk, y[keep], wk, zq, sig)
    cx = _weighted_smooth(zk, x[keep], wk, zq, sig)
    cr = _weighted_smooth(zk, r[keep], np.ones(keep.sum()), zq, 2 * sig)
    valid = np.isin(zq, zk)
    return Centreline(zq, cy, cx, cr, valid, spacing_mm)

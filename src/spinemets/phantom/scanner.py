"""CT image formation from the material canvas: tissue texture, slice-profile averaging
(partial volume along z), in-plane Gaussian blur (system PSF) and correlated quantum noise.

Works slab by slab so that no full-volume float64 temporaries are needed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .canvas import Canvas, MaterialTable


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_vox: tuple[float, ...]) -> np.ndarray:
    """Zero-mean, unit-SD Gaussian-filtered white noise (float32)."""
    n = rng.standard_normal(shape, dtype=np.float32)
    ndimage.gaussian_filter(n, sigma_vox, output=n, mode="wrap", truncate=3.0)
    sd = float(n.std())
    if sd > 0:
        n /= sd
    return n


def form_ct(cv: Canvas, table: MaterialTable, ns: int, rng: np.random.Generator, blur_fwhm_mm: float,
            noise_hu: float, fat_streak_mat: tuple[int, ...] = (), fat_hu: float = -90.0,
            fat_streak_fraction: float = 0.06) -> np.ndarray:
    """Return the output CT (float32 HU, shape (nz/ns, ny, nx)).

    Texture: per material, zero-mean smooth noise of the material's texture SD (trabecular
    structure, organ parenchyma). In ``fat_streak_mat`` (muscle) a fraction ``fat_streak_fraction``
    of the voxels become fatty streaks (intramuscular fat), lowering the mean muscle HU as in real
    (ageing) muscle.
    """
    nzf, ny, nx = cv.shape
    nz = nzf // ns
    sx, sy, sz = cv.spacing
    out = np.empty((nz, ny, nx), np.float32)
    hu_lut = table.hu
    sd_lut = table.texture_sd
    streak = np.zeros(256, bool)
    streak[list(fat_streak_mat)] = True
    from scipy.stats import norm

    thr = float(norm.ppf(1.0 - float(np.clip(fat_streak_fraction, 1e-4, 0.5))))
    chunk = max(1, 24 // ns) * ns
    for k0 in range(0, nz * ns, chunk):
        k1 = min(k0 + chunk, nz * ns)
        m = cv.mat[k0:k1]
        n_out = (k1 - k0) // ns
        hu = hu_lut[m].reshape(n_out, ns, ny, nx).mean(axis=1)
        sd = sd_lut[m].reshape(n_out, ns, ny, nx).mean(axis=1) if ns > 1 else sd_lut[m]
        # texture at the output resolution (the sub-slices are averaged anyway)
        tex = _smooth_noise(rng, hu.shape, (0.6 / (sz * ns), 0.6 / sy, 0.6 / sx))
        hu += sd * tex
        if streak.any():
            mc = m[ns // 2::ns]
            st = _smooth_noise(rng, hu.shape, (1.2 / (sz * ns), 0.8 / sy, 2.0 / sx))
            fatty = streak[mc] & (st > thr)
            hu[fatty] = 0.5 * hu[fatty] + 0.5 * fat_hu
        out[k0 // ns:k0 // ns + n_out] = hu
    if blur_fwhm_mm > 0:
        sig = blur_fwhm_mm / 2.3548
        # in-plane PSF; along z a narrow residual (the slab average is the main slice profile)
        ndimage.gaussian_filter(out, (0.35 * sig / (sz * ns) if ns > 1 else sig / (sz * ns),
                                      sig / sy, sig / sx), output=out, truncate=3.0)
    if noise_hu > 0:
        for k0 in range(0, nz, 32):
            k1 = min(k0 + 32, nz)
            n = _smooth_noise(rng, (k1 - k0, ny, nx), (0.0, 0.7, 0.7))
            out[k0:k1] += noise_hu * n
    return out

"""Partial-volume border of the vertebrae at full CT resolution: the local half-maximum rule.

The CT blurs a bone surface with the scanner's point-spread function, so the voxels just outside
the surface of a bright (~1000 HU) cortex still read far above soft tissue: a voxel that holds
only ~10 % cortex passes a fixed 110 HU bone threshold, and a label drawn from that threshold is
too big by the width of the blur all around. Across an edge that is wider than the blur, the
voxel whose HU lies half-way between the tissue on either side is the one the surface cuts in
half (50 % occupancy). So a border voxel of a label is kept as vertebra only when

    HU >= (P + S) / 2,

with P the local bone peak, the highest (lightly smoothed) HU of the labelled bone within
``PEAK_RADIUS_MM`` of the voxel, and S the soft tissue beyond the surface, the mean HU of the
unlabelled non-bone voxels (above ``SOFT_MIN_HU``: not lung or air) within ``SOFT_RADIUS_MM``.
For a cortex thinner than the blur, P is below the true cortical HU and the rule errs outward
(keeps more); where the cortex is missing (lytic or osteoporotic bone), P is the marrow itself
and the rule is the half-way rule between marrow and soft tissue.

Only border voxels are peeled: voxels below the half-maximum that are reached from the outside
(unlabelled non-bone tissue) through other such voxels, at most ``MAX_DEPTH_MM`` deep (measured
in steps of the voxel spacing along the axis of each step), so no holes are cut and a voxel below
the half-maximum deep inside a vertebra (marrow, lytic lesion) is never touched. Where the
half-maximum is below the bone threshold (``masks.BONE_LOW_HU``) the threshold already is the
stricter rule, and nothing is peeled. The rule needs voxels no wider than the cortical shell
(``MAX_PIXEL_MM``): pixels wider than that are left alone, and slices thicker than that are
judged in-plane only, their z border being left to the slice-profile model
(``refine.majority_z_border``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from . import masks

#: The local bone peak is sought within this distance (mm) of a border voxel (box half-width per
#: axis, at least one voxel): about the thickness of the cortical shell plus the scanner's blur.
PEAK_RADIUS_MM = 1.5
#: Soft tissue beyond the surface is averaged within this distance (mm; box half-width per axis).
SOFT_RADIUS_MM = 2.0
#: Peeling stops this deep (mm) below the labelled surface: the partial-volume halo of a
#: clinical CT (point-spread FWHM ~0.5-1.2 mm) reaches about one blur width beyond the surface.
MAX_DEPTH_MM = 1.5
#: The bone peak is read from the CT smoothed in-plane by a Gaussian of this standard deviation
#: (mm): image noise would otherwise lift the maximum; kept well below the width of a blurred
#: cortex (~1.5-2 mm), whose peak a wider filter would flatten.
PEAK_SMOOTH_MM = 0.35
#: Tissue below this HU (lung, air) is not the soft-tissue side of a bone surface.
SOFT_MIN_HU = -300.0
#: The rule needs voxels no wider than the cortical shell (~1 mm, as ``refine.CORTEX_MM``) along
#: the axes it judges: in a wider voxel the half-filled border voxel holds shell, marrow and soft tissue and reads below
#: the half-maximum of the shell, so the rule would cut into bone (measured: small phantom preset,
#: 2 mm pixels, lost ~2k border voxels of bone per case); such CT is left to the fixed threshold,
#: and slices thicker than this are judged in-plane only (their z border is the slice-profile
#: model's, ``refine.majority_z_border``).
MAX_PIXEL_MM = 1.0


def _radius_vox(mm: float, spacing: float) -> int:
    return max(int(round(mm / spacing)), 1)


def halfmax_border(labels: np.ndarray, hu: np.ndarray, spacing_zyx: np.ndarray) -> np.ndarray:
    """Peel the border voxels of every label whose HU is below the local half-maximum (module doc).

    ``labels``: label map (0 = background) on the CT grid [z, y, x]; ``hu``: the CT (HU), same
    shape; ``spacing_zyx``: voxel spacing (mm). The surface is judged along the axes whose spacing
    is at most ``MAX_PIXEL_MM`` (in-plane only for thicker slices); nothing is done when a pixel is
    wider. Returns a new label map; only labelled voxels are removed,
    none are added or relabelled.
    """
    sp = np.asarray(spacing_zyx, float)
    if max(sp[1], sp[2]) > MAX_PIXEL_MM + 1e-6:
        return labels.copy()
    m = labels > 0
    if not m.any():
        return labels.copy()
    h = hu.astype(np.float32, copy=False)
    axes = (1, 2) if sp[0] > MAX_PIXEL_MM + 1e-6 else (0, 1, 2)

    def box(mm: float) -> tuple[int, ...]:
        return tuple(2 * _radius_vox(mm, sp[a]) + 1 if a in axes else 1 for a in range(3))

    # soft tissue beyond: unlabelled non-bone, non-lung voxels
    soft_m = ~m & (h > SOFT_MIN_HU) & (h < masks.BONE_LOW_HU)
    # local bone peak: max over labelled voxels of the smoothed CT, less the lift that noise
    # gives the maximum of the voxels in the box (expected maximum of n normal deviates)
    sigma_vox = [0.0, PEAK_SMOOTH_MM / sp[1], PEAK_SMOOTH_MM / sp[2]]
    hs = ndi.gaussian_filter(h, sigma_vox, truncate=3.0)
    pbox = box(PEAK_RADIUS_MM)
    lift = _smoothed_noise_hu(h, soft_m, axes, sigma_vox) * np.sqrt(2.0 * np.log(np.prod(pbox)))
    hs[~m] = -np.inf
    peak = ndi.maximum_filter(hs, size=pbox) - np.float32(lift)
    del hs
    sbox = box(SOFT_RADIUS_MM)
    w = ndi.uniform_filter(soft_m.astype(np.float32), size=sbox)
    s = ndi.uniform_filter(np.where(soft_m, h, 0.0).astype(np.float32), size=sbox)
    has_soft = w > 1e-3
    soft = np.divide(s, w, out=np.zeros_like(s), where=has_soft)
    del s, w
    half = 0.5 * (peak + soft)
    cand = m & has_soft & (half > masks.BONE_LOW_HU) & (h < half)
    del peak, soft, half, has_soft
    if not cand.any():
        return labels.copy()
    # peel from the outside inwards: a candidate goes when a 6- (or in-plane 4-) neighbour is
    # outside (unlabelled non-bone tissue, or already peeled); depth counted in mm per step
    outside = ~m & (h < masks.BONE_LOW_HU)
    half_step = 0.5 * float(sp[list(axes)].min())  # a voxel's centre lies half a voxel inside
    dist = np.where(outside, -half_step, np.inf).astype(np.float32)  # mm below the surface
    peeled = _peel(cand, dist, sp, axes, int(np.ceil(MAX_DEPTH_MM / half_step)))
    out = labels.copy()
    out.reshape(-1)[peeled] = 0
    return out


def _peel(cand: np.ndarray, dist: np.ndarray, sp: np.ndarray, axes: tuple[int, ...],
          steps: int) -> np.ndarray:
    """Flat indices of the ``cand`` voxels peeled from the outside inwards (``halfmax_border``):
    at each of at most ``steps`` steps, every candidate not yet peeled whose depth (the least over
    its neighbours along ``axes`` of their depth plus the spacing ``sp`` of that axis, mm; an edge
    of the array counts as infinitely deep) is at most ``MAX_DEPTH_MM`` is peeled at that depth,
    all at once from the depths of the step before. ``dist`` ([z, y, x] float32, updated in
    place): the depth of every voxel, -half a voxel outside the labels, inf inside. Only the
    candidates are visited (the same operations as on whole arrays, voxel by voxel)."""
    shape = cand.shape
    flat = dist.reshape(-1)
    idx = np.flatnonzero(cand)
    coords = np.unravel_index(idx, shape)
    strides = [int(np.prod(shape[a + 1:])) for a in range(3)]
    peeled = []
    for _ in range(steps):
        best = np.full(idx.size, np.inf, np.float32)
        for a in axes:
            for d in (1, -1):
                # the neighbour at index - d along axis a (as ``_shift(dist, d, a, inf)``)
                ok = (coords[a] - d >= 0) & (coords[a] - d < shape[a])
                v = np.full(idx.size, np.inf, np.float32)
                v[ok] = flat[idx[ok] - d * strides[a]]
                np.minimum(best, v + float(sp[a]), out=best)
        new = best <= MAX_DEPTH_MM
        if not new.any():
            break
        flat[idx[new]] = best[new]
        peeled.append(idx[new])
        keep = ~new
        idx, best = idx[keep], best[keep]
        coords = tuple(c[keep] for c in coords)
    return np.concatenate(peeled) if peeled else np.zeros(0, np.intp)


def _smoothed_noise_hu(h: np.ndarray, soft: np.ndarray, axes: tuple[int, ...],
                       sigma_vox: list[float]) -> float:
    """Noise SD (HU) of the CT after the peak smoothing, from the soft-tissue voxels: robust SD of
    each voxel less the mean of its 3-voxel neighbourhood (along ``axes``; white noise assumed),
    times the noise gain of the Gaussian ``sigma_vox``."""
    size = tuple(3 if a in axes else 1 for a in range(3))
    n = float(np.prod(size))
    idx = np.flatnonzero(soft)
    if idx.size < 100:
        return 0.0
    idx = idx[:: max(idx.size // 200_000, 1)]
    r = (h - ndi.uniform_filter(h, size=size)).ravel()[idx]
    sd = 1.4826 * float(np.median(np.abs(r - np.median(r)))) / np.sqrt(1.0 - 1.0 / n)
    delta = np.zeros((1, 13, 13), np.float32)
    delta[0, 6, 6] = 1.0
    gain = float(np.sqrt((ndi.gaussian_filter(delta, sigma_vox, truncate=3.0) ** 2).sum()))
    return sd * gain

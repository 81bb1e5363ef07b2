"""The cortical (compact bone) HU of a vertebra, recovered from the blurred profiles of its thin walls.

A cortical shell thinner than the point-spread function (PSF) never reaches its own HU in the
image: the in-plane blur spreads it over the neighbouring pixels, so the brightest voxels of a
vertebra read below the compact bone they hold (on 1 mm pixels with a 1 mm FWHM PSF, a 1 mm wall
peaks ~10 % of the way back towards the tissue beside it). Here the wall is modelled instead of
read off:

* ``psf_sigma_mm``: the scan's in-plane PSF (Gaussian SD, mm) from its sharpest known edge, the
  air/body boundary (edge-spread function): along image rows and columns, the four samples across
  each crossing of -500 HU, normalised between the air and the tissue three pixels either side,
  are fitted by one Gaussian-blurred step per crossing (sub-pixel position free) and one SD for
  all of them (least median of squares over a grid of SDs).
* ``wall_cortical_hu``: across each in-plane wall (a bright in-plane local maximum of the
  vertebra's z-interior voxels, along rows and columns), the tissue ``L`` two pixels on one side,
  cortex ``C`` between two sub-pixel positions x1 < x2, tissue ``R`` two pixels on the other side,
  blurred by the PSF and point-sampled, must reproduce the three samples across the wall:

      y(x) = L (1 - Phi((x - x1)/s)) + C (Phi((x - x1)/s) - Phi((x - x2)/s)) + R Phi((x - x2)/s).

  A wall thinner than the PSF trades thickness against HU (the profile fixes little more than the
  product), so each wall yields the *least* C that fits within the noise (the thickest wall that
  fits): a lower bound, exact where the wall is as thick as the sampled profile allows. The
  vertebra's value is the median over its walls.

Units: HU, mm; arrays [z, y, x]; square pixels in-plane are assumed (the mean pixel size converts
pixels to mm).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

#: Air/body boundary: a row crosses from air (below AIR_MAX_HU) into tissue (above TISSUE_MIN_HU).
EDGE_HU = -500.0
AIR_MAX_HU = -900.0
TISSUE_MIN_HU = -200.0
#: Minimum number of edge profiles for a PSF estimate, and of wall profiles for a cortical HU.
MIN_EDGES = 50
MIN_WALLS = 20
#: A wall's peak stands this many noise SDs above the samples two pixels either side of it.
WALL_MIN_NOISE = 5.0
#: At most this many wall profiles are fitted per vertebra (evenly strided).
MAX_WALLS = 600
#: Sub-pixel grid of the wall fit (pixels) and the thickest wall considered (pixels).
WALL_STEP_PX = 0.05
WALL_MAX_PX = 3.0
#: A fit is acceptable within this many noise variances of the best one's residual.
FIT_TOLERANCE_VAR = 4.0


def psf_sigma_mm(ct: np.ndarray, spacing_zyx: np.ndarray, n_slices: int = 8) -> float | None:
    """In-plane PSF SD (mm) from the air/body edge of ``ct`` (HU, [z, y, x]); None when the scan
    holds fewer than ``MIN_EDGES`` clean air/tissue crossings (e.g. a field of view inside the body)."""
    prof = []
    for z in range(0, ct.shape[0], max(1, ct.shape[0] // n_slices)):
        for a in (ct[z], ct[z].T):
            prof.append(_edge_profiles(a[::2]))
    p = np.concatenate(prof)
    if len(p) < MIN_EDGES:
        return None
    xs = np.array([-1.5, -0.5, 0.5, 1.5])
    x0 = np.arange(-1.0, 1.0 + 1e-9, 0.02)
    pc = [np.ascontiguousarray(p[:, k:k + 1]) for k in range(4)]
    acc = np.empty((len(p), x0.size))
    d = np.empty_like(acc)
    best_cost, best_s = np.inf, None
    for s in np.arange(0.05, 1.2, 0.01):
        model = ndtr((xs[None, :] - x0[:, None]) / s)
        # the squared residuals summed over the four samples in order (as .sum over them), without
        # the [profile, x0, sample] temporaries
        for k in range(4):
            np.subtract(pc[k], model[None, :, k], out=d)
            np.multiply(d, d, out=d)
            if k == 0:
                acc[...] = d
            else:
                acc += d
        cost = float(np.median(acc.min(1)))
        if cost < best_cost:
            best_cost, best_s = cost, float(s)
    return best_s * float(np.mean(spacing_zyx[1:]))


def _edge_profiles(rows: np.ndarray) -> np.ndarray:
    """The normalised samples (-2, -1, 0, +1 pixels from the first tissue pixel) across both
    air/body crossings of each row of ``rows`` (HU, [row, column]) that holds at least 20 pixels
    above ``EDGE_HU``; crossings too near the row's ends, or without air (below ``AIR_MAX_HU``)
    3 pixels out and tissue (above ``TISSUE_MIN_HU``) 3 pixels in, are left out. Rows in order,
    each row's entry crossing before its exit crossing."""
    n = rows.shape[1]
    inside = rows > EDGE_HU
    keep_row = inside.sum(1) >= 20
    first = np.argmax(inside, axis=1)
    last = n - 1 - np.argmax(inside[:, ::-1], axis=1)
    # [row, crossing (entry, exit)]: the crossing pixel and the step pointing into the body
    i = np.stack([first, last], 1)
    step = np.array([1, -1])[None, :]
    offs = np.array([-3, -2, -1, 0, 1, 3])
    idx = i[:, :, None] + offs[None, None, :] * step[:, :, None]
    ok = keep_row[:, None] & (idx.min(2) >= 0) & (idx.max(2) < n)
    r, c = np.nonzero(ok)
    v = rows[r[:, None], idx[r, c]].astype(np.float64)
    lo, hi = v[:, 0], v[:, -1]
    good = (lo <= AIR_MAX_HU) & (hi >= TISSUE_MIN_HU)
    v, lo, hi = v[good], lo[good], hi[good]
    return (v[:, 1:5] - lo[:, None]) / (hi - lo)[:, None]


def wall_profiles(h: np.ndarray, zin: np.ndarray, tb: float, noise_hu: float) -> np.ndarray:
    """Five samples (centre -2..+2 pixels) across the in-plane walls: z-interior voxels (``zin``)
    brighter than half-way from the trabecular HU ``tb`` to their 99th percentile that are local
    maxima along a row or column, with both samples two pixels out at least a quarter of the
    peak's excess, and ``WALL_MIN_NOISE`` noise SDs, below it (tissue, not more wall; a wall
    stands out of the noise)."""
    p99 = float(np.percentile(h[zin], 99))
    bright = zin & (h > tb + 0.5 * (p99 - tb))
    out = []
    for ax in (1, 2):
        n = h.shape[ax]
        if n < 5:
            continue
        c = [slice(None)] * 3
        c[ax] = slice(2, n - 2)
        core = bright[tuple(c)]
        hs = []
        for k in (-2, -1, 0, 1, 2):
            s = [slice(None)] * 3
            s[ax] = slice(2 + k, n - 2 + k)
            hs.append(h[tuple(s)])
        ok = core & (hs[2] >= hs[1]) & (hs[2] >= hs[3])
        out.append(np.stack([x[ok] for x in hs], 1))
    if not out:
        return np.zeros((0, 5))
    p = np.concatenate(out).astype(np.float64)
    exc = p[:, 2] - tb
    drop_min = np.maximum(0.25 * exc, WALL_MIN_NOISE * noise_hu)
    keep = (p[:, 2] - p[:, 0] > drop_min) & (p[:, 2] - p[:, 4] > drop_min)
    return p[keep]


def wall_cortical_hu(h: np.ndarray, zin: np.ndarray, tb: float, sigma_px: float,
                     noise_hu: float) -> float | None:
    """Median over the vertebra's walls of the least cortical HU that reproduces each wall's
    sampled profile (module doc). ``h``: HU around one vertebra; ``zin``: its z-interior voxels;
    ``tb``: its trabecular HU; ``sigma_px``: in-plane PSF SD in pixels; ``noise_hu``: image noise
    SD. None when it has fewer than ``MIN_WALLS`` wall profiles."""
    p = wall_profiles(h, zin, tb, noise_hu)
    if len(p) < MIN_WALLS:
        return None
    if len(p) > MAX_WALLS:
        p = p[:: int(np.ceil(len(p) / MAX_WALLS))]
    left, right, y = p[:, 0], p[:, 4], p[:, 1:4]
    xs = np.array([-1.0, 0.0, 1.0])
    s = max(float(sigma_px), 1e-3)
    # every candidate slab (edges x1 < x2, pixels): p1/p2 the blurred step at each edge
    x1, t = np.meshgrid(np.arange(-1.6, 0.6 + 1e-9, WALL_STEP_PX),
                        np.arange(WALL_STEP_PX, WALL_MAX_PX + 1e-9, WALL_STEP_PX), indexing="ij")
    x1, x2 = x1.ravel(), (x1 + t).ravel()
    keep = (x2 >= -0.6) & (x2 <= 1.6)
    x1, x2 = x1[keep], x2[keep]
    p1 = ndtr((xs[None, :] - x1[:, None]) / s)          # [candidate, sample]
    p2 = ndtr((xs[None, :] - x2[:, None]) / s)
    g = p1 - p2
    gg = (g * g).sum(1)
    use = gg >= 1e-6
    a, b, g, gg = 1 - p1[use], p2[use], g[use], gg[use]
    # per wall w and candidate k, the residual r0 = y - left*a - right*b; the least-squares slab HU
    # c = <r0, g> / <g, g> and the residual sum of squares <r0, r0> - c^2 <g, g>, by inner products
    # ([wall, candidate] arrays, updated in place: the same operations in the same order as the
    # expressions in the comments, without a temporary per term)
    buf = np.empty((len(p), len(gg)))
    # r0g = y g^T - left (a.g) - right (b.g)
    r0g = y @ g.T
    r0g -= np.multiply(left[:, None], (a * g).sum(1)[None, :], out=buf)
    r0g -= np.multiply(right[:, None], (b * g).sum(1)[None, :], out=buf)
    cs = r0g / gg[None, :]
    # r0r0 = |y|^2 - 2 left (y.a) - 2 right (y.b) + left^2 |a|^2 + 2 left right (a.b) + right^2 |b|^2
    ya = y @ a.T
    ya *= 2 * left[:, None]
    r0r0 = np.subtract((y * y).sum(1)[:, None], ya, out=ya)
    yb = y @ b.T
    yb *= 2 * right[:, None]
    r0r0 -= yb
    del yb
    r0r0 += np.multiply(left[:, None] ** 2, (a * a).sum(1)[None, :], out=buf)
    r0r0 += np.multiply(2 * (left * right)[:, None], (a * b).sum(1)[None, :], out=buf)
    r0r0 += np.multiply(right[:, None] ** 2, (b * b).sum(1)[None, :], out=buf)
    # rss = max(r0r0 - r0g^2 / gg, 0)
    np.multiply(r0g, r0g, out=buf)
    buf /= gg[None, :]
    rss = np.subtract(r0r0, buf, out=r0r0)
    np.maximum(rss, 0.0, out=rss)
    ok = rss <= (rss.min(1) + FIT_TOLERANCE_VAR * noise_hu ** 2)[:, None]
    np.copyto(cs, np.inf, where=~ok)
    c_min = cs.min(1)
    return float(np.median(c_min))

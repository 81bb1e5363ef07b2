"""The superficial muscle layer of the trunk wall, found by casting rays from the trunk centre.

Along every ray (0.5 deg steps) from the outside inwards: skin, subcutaneous fat (SAT), then the
first run of muscle-window pixels. That run, bridged over gaps of at most ``gap_mm`` and cut at
``max_depth_mm`` below the SAT, is the wall layer (abdominal wall, latissimus, trapezius,
pectoralis, serratus). Organs are excluded as long as a fat or air gap separates them from the
wall along the ray - the usual situation (extraperitoneal and visceral fat) - and the depth limit
bounds what can be reached where they touch.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def wall_layer(body: np.ndarray, sat: np.ndarray, muscle: np.ndarray, px: float,
               max_depth_mm: float = 30.0, gap_mm: float = 1.5, step_deg: float = 0.5) -> np.ndarray:
    if not body.any() or not sat.any():
        return np.zeros_like(muscle)
    rr, cc = np.nonzero(body)
    r0, c0 = rr.mean(), cc.mean()
    rmax = float(np.sqrt(((rr - r0) ** 2 + (cc - c0) ** 2).max())) + 2
    n_r = int(rmax) + 1
    th = np.deg2rad(np.arange(0.0, 360.0, step_deg))
    rad = np.arange(n_r, dtype=float)
    pr = r0 + np.outer(np.sin(th), rad)  # rows
    pc = c0 + np.outer(np.cos(th), rad)
    samp = lambda a: ndi.map_coordinates(a.astype(np.uint8), [pr, pc], order=0, cval=0).astype(bool)  # noqa: E731
    s_sat, s_mus, s_body = samp(sat), samp(muscle), samp(body)
    gap = max(int(round(gap_mm / px)), 0)
    depth_px = max_depth_mm / px
    lay = np.zeros_like(s_mus)
    for a in range(len(th)):
        sat_idx = np.nonzero(s_sat[a])[0]
        if len(sat_idx) == 0:
            continue
        # innermost pixel of the outermost SAT run
        j = sat_idx[-1]
        while j - 1 >= 0 and s_sat[a, j - 1]:
            j -= 1
        i = j - 1
        # skip a thin non-muscle gap (fascia) right under the SAT
        k = 0
        while i >= 0 and not s_mus[a, i] and k < gap and s_body[a, i]:
            i -= 1
            k += 1
        start = i
        miss = 0
        while i >= 0 and start - i <= depth_px and s_body[a, i]:
            if s_mus[a, i]:
                lay[a, i] = True
                miss = 0
            else:
                miss += 1
                if miss > gap:
                    break
            i -= 1
    # back to the image grid: every pixel looks up its nearest ray sample
    yy, xx = np.indices(muscle.shape)
    ang = (np.degrees(np.arctan2(yy - r0, xx - c0)) % 360.0) / step_deg
    dist = np.hypot(yy - r0, xx - c0)
    ai = np.round(ang).astype(int) % len(th)
    ri = np.clip(np.round(dist).astype(int), 0, n_r - 1)
    return lay[ai, ri] & muscle

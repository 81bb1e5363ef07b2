"""End plates of a vertebral body from the CT: partial-volume end slices taken off the body.

A vertebra map made on the CT grid keeps an end slice of a body when that voxel holds some
end-plate cortex and more disc (a 3 mm slice of 1/3 cortex + 2/3 disc is still bright). Here the
end-plate surface is found per body column from the HU profile along the body's cranial axis:

* columns: the body's voxels are grouped by their position across the axis (anterior and lateral
  coordinates in the body's frame, cells one in-plane voxel spacing wide); each column's HU
  profile is sampled along the axis through the cell centre (trilinear, ``PROFILE_STEP_FRACTION``
  of the voxel length along the axis), together with the body mask (inside where the interpolated
  mask is >= 0.5);
* at each end of the column's body run: the end plate's peak ``P`` is the highest HU from one
  voxel length inside the run's end to its end; the disc level ``D`` of that end of the body is
  the median over its columns of the lowest HU within ``DISC_REACH_VOXELS`` voxel lengths beyond
  the peak (the adjacent disc: its own HU, no fixed threshold);
* edge of a step (bone -> disc; the columns on the rim of the body's footprint, which run in the
  cortical wall, and dense or sclerotic ends): the outermost point where the profile, walked from
  that disc minimum back towards the body, reaches the half-way level ``(P + D) / 2`` (linear
  between samples), the classic half-maximum edge;
* edge of a thin end plate (an interior column whose profile falls back inside the peak to half
  way between ``P`` and the bone/disc baseline ``B = max(D, median HU of the body)``): a plate
  thinner than the slice is blurred into a peak centred on the plate, and the half-maximum of
  that peak lies about half a slice beyond it (a 1/3 cortex + 2/3 disc voxel would be kept). The
  plate's centre is the centroid of the excess ``HU - B`` within one voxel length either side of
  the peak (a symmetric blur keeps the centroid), and its outer face lies half an end-plate
  thickness (``END_PLATE_MM``, ~1 mm cortical end plate) beyond; never beyond the half-maximum;
* the edges of each end are smoothed over the columns (an end plate is a smooth surface, and
  one column's edge on the CT grid is noisy): each column's edge becomes the median of the edges
  of the columns within ``SMOOTH_CELLS`` cells (a 3 x 3 block);
* a body voxel whose centre lies beyond the edge of its column along the axis is taken off the
  body. At most ``MAX_TRIM_VOXELS`` voxel length is taken off an end (the partial-volume slice),
  never the inside of the body, so a lytic cavity behind a destroyed end plate stays in the body.

An end whose profile does not fall to the half-way level within reach (the edge of the scan, a
fused or bridged level, no contrast between end plate and disc) keeps the mask's end.

Units: HU, mm; positions along the LPS unit axis ``axis_si_lps`` (cranial) of the body's frame.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..image import Geometry

#: Profile sampling step as a fraction of the voxel length along the axis.
PROFILE_STEP_FRACTION = 1.0 / 6.0
#: The disc minimum is searched up to this many voxel lengths beyond the end plate's peak.
DISC_REACH_VOXELS = 2.0
#: The peak is searched this many voxel lengths inside the body run's end.
PEAK_DEPTH_VOXELS = 1.0
#: At most this many voxel lengths are taken off one end of a column.
MAX_TRIM_VOXELS = 1.0
#: Thickness of the cortical end plate (mm): its outer face lies half of it beyond its centre.
END_PLATE_MM = 1.0
#: Edges are smoothed over the columns within this many cells (the median of a 3 x 3 block).
SMOOTH_CELLS = 1


def voxel_length_mm(direction_lps: np.ndarray, geometry: Geometry) -> float:
    """Length (mm) of one voxel step of the CT grid along ``direction_lps``."""
    d = np.asarray(direction_lps, float) / np.linalg.norm(direction_lps)
    per_mm = np.linalg.solve(geometry.direction_matrix, d) / np.asarray(geometry.spacing_mm)
    return float(1.0 / np.linalg.norm(per_mm))


def _runs_end(inside: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of the 2-D bool array ``inside``: whether it holds a True, and the first and last
    sample of its longest run of True (the first such run on a tie; 0 for a row without one)."""
    n_rows = inside.shape[0]
    pad = np.zeros((n_rows, 1), np.int8)
    d = np.diff(np.concatenate([pad, inside.astype(np.int8), pad], axis=1), axis=1)
    rows, starts = np.nonzero(d == 1)
    stops = np.nonzero(d == -1)[1]  # runs pair up in row-major order
    first = np.zeros(n_rows, np.intp)
    last = np.zeros(n_rows, np.intp)
    has = np.zeros(n_rows, bool)
    if rows.size:
        # longest run of each row, the earliest among equals
        order = np.lexsort((starts, -(stops - starts), rows))
        r_sorted = rows[order]
        pick = order[np.r_[True, r_sorted[1:] != r_sorted[:-1]]]
        has[rows[pick]] = True
        first[rows[pick]] = starts[pick]
        last[rows[pick]] = stops[pick] - 1
    return has, first, last


def _smooth_edges(edges: np.ndarray, grid_idx: tuple[np.ndarray, np.ndarray],
                  shape: tuple[int, ...]) -> np.ndarray:
    """Each finite column edge replaced by the median of the finite edges of the columns within
    ``SMOOTH_CELLS`` cells: an end plate is a smooth surface, and one column's edge on the CT grid
    is noisy (which voxel holds the plate's peak)."""
    r = SMOOTH_CELLS
    g = np.full(tuple(n + 2 * r for n in shape), np.nan)
    g[grid_idx[0] + r, grid_idx[1] + r] = np.where(np.isfinite(edges), edges, np.nan)
    stack = np.stack([g[grid_idx[0] + r + di, grid_idx[1] + r + dj]
                      for di in range(-r, r + 1) for dj in range(-r, r + 1)])
    # median of each column's finite values (NaN sorts last): the middle one, or the mean of the
    # two middle ones, as np.median
    srt = np.sort(stack, axis=0)
    nv = np.isfinite(stack).sum(axis=0)
    cols = np.arange(edges.size)
    lo = srt[np.maximum(nv - 1, 0) // 2, cols]
    hi = srt[np.maximum(nv, 1) // 2, cols]
    med = np.where(nv % 2 == 1, lo, (lo + hi) / 2.0)
    return np.where(np.isfinite(edges), med, edges)


def end_plate_edges(hu: np.ndarray, body: np.ndarray, geometry: Geometry, centre_lps: np.ndarray,
                    axis_si: np.ndarray, axis_ap: np.ndarray, offset_zyx: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Per body voxel (in ``np.argwhere(body)`` order): its coordinate along the axis (mm from
    ``centre_lps``) and its column's upper and lower edges (mm, +inf / -inf where an end keeps
    the mask); plus the disc levels found (HU).

    ``hu``: HU array (whole CT or a crop), ``body``: bool mask on the same array,
    ``offset_zyx``: index of ``hu[0, 0, 0]`` in the CT grid (``geometry``)."""
    ax = np.asarray(axis_si, float)
    ap = np.asarray(axis_ap, float)
    lat = np.cross(ax, ap)
    idx = np.argwhere(body).astype(float)
    pts = geometry.index_zyx_to_lps(idx + offset_zyx) - centre_lps
    s, a, l = pts @ ax, pts @ ap, pts @ lat
    L = voxel_length_mm(ax, geometry)
    h_col = float(min(geometry.spacing_mm))
    ca, cl = np.rint(a / h_col).astype(int), np.rint(l / h_col).astype(int)
    # columns: unique (ca, cl) pairs in lexicographic order, via one integer key per voxel
    ca0, cl0 = ca.min(), cl.min()
    n_l = int(cl.max() - cl0) + 1
    keys, inv = np.unique((ca - ca0) * n_l + (cl - cl0), return_inverse=True)
    inv = inv.ravel()
    cols = np.stack([keys // n_l + ca0, keys % n_l + cl0], 1)
    step = L * PROFILE_STEP_FRACTION
    reach = (DISC_REACH_VOXELS + PEAK_DEPTH_VOXELS + 1.0) * L
    sv = np.arange(s.min() - reach, s.max() + reach + step, step)
    # sample points: (column, s) -> crop index
    q0 = geometry.lps_to_index_zyx(centre_lps[None])[0] - offset_zyx
    jac = geometry.lps_to_index_zyx(centre_lps + np.stack([ax, ap, lat])) - offset_zyx - q0  # (3 axes, zyx)
    ac, lc = cols[:, 0] * h_col, cols[:, 1] * h_col
    coords = (q0[None, None, :] + sv[None, :, None] * jac[0][None, None, :]
              + ac[:, None, None] * jac[1][None, None, :] + lc[:, None, None] * jac[2][None, None, :])
    flat = coords.reshape(-1, 3).T
    prof = ndi.map_coordinates(hu.astype(np.float32), flat, order=1, cval=np.nan).reshape(len(cols), sv.size)
    inside_grid = np.all([(flat[k] >= 0) & (flat[k] <= hu.shape[k] - 1) for k in range(3)], axis=0)
    prof[~inside_grid.reshape(prof.shape)] = np.nan
    msk = ndi.map_coordinates(body.astype(np.float32), flat, order=1, cval=0.0).reshape(prof.shape) >= 0.5
    n_peak = int(round(PEAK_DEPTH_VOXELS / PROFILE_STEP_FRACTION))
    n_reach = int(round(DISC_REACH_VOXELS / PROFILE_STEP_FRACTION))
    n_vox = int(round(1.0 / PROFILE_STEP_FRACTION))
    body_hu = float(np.median(hu[body]))
    # columns of the body's inside: not on the rim of its footprint, where the column runs in
    # the cortical wall (a step of bone, not a thin plate, along the column)
    fp_off = cols.min(axis=0)
    fp = np.zeros(tuple(cols.max(axis=0) - fp_off + 3), bool)
    fp[tuple((cols - fp_off + 1).T)] = True
    interior = ndi.binary_erosion(fp, np.ones((3, 3), bool))[tuple((cols - fp_off + 1).T)]
    upper = np.full(len(cols), np.inf)
    lower = np.full(len(cols), -np.inf)
    # the deepest an edge may lie: one voxel length inside each end of the column's body run
    top_bound = np.full(len(cols), -np.inf)
    bottom_bound = np.full(len(cols), np.inf)
    info: dict = {}
    has_run, run_first, run_last = _runs_end(msk)
    n_s = sv.size
    rows = np.arange(len(cols))
    for sign, out in ((1, upper), (-1, lower)):
        # all columns at once: profile (reversed for the lower end), end of the body run
        pp = prof if sign > 0 else prof[:, ::-1]
        e_all = run_last if sign > 0 else n_s - 1 - run_first
        # the peak: highest HU from PEAK_DEPTH_VOXELS inside the run's end to its end (first max)
        z_lo = np.maximum(0, e_all - n_peak)
        z_idx = z_lo[:, None] + np.arange(n_peak + 1)[None, :]
        z_in = z_idx <= e_all[:, None]
        z_val = pp[rows[:, None], np.minimum(z_idx, n_s - 1)]
        z_ok = z_in & ~np.isnan(z_val)
        kp_all = z_lo + np.argmax(np.where(z_ok, z_val, -np.inf), axis=1)
        # the disc minimum within DISC_REACH_VOXELS beyond the peak (the edge of the scan within
        # reach: keep the end)
        b_idx = kp_all[:, None] + 1 + np.arange(n_reach)[None, :]
        b_in = b_idx < n_s
        b_val = pp[rows[:, None], np.minimum(b_idx, n_s - 1)]
        b_ok = b_in.all(axis=1) & ~np.isnan(b_val).any(axis=1)
        km_all = kp_all + 1 + np.argmin(np.where(b_in, b_val, np.inf), axis=1)
        good = has_run & z_ok.any(axis=1) & b_ok
        peaks: list = [None] * len(cols)
        mins = np.full(len(cols), np.nan)
        ends: list = [None] * len(cols)
        for c in np.flatnonzero(good):
            kp, km = int(kp_all[c]), int(km_all[c])
            peaks[c] = (kp, float(pp[c, kp]), km)
            mins[c] = float(pp[c, km])
            ends[c] = int(e_all[c])
        level = float(np.nanmedian(mins)) if np.isfinite(mins).any() else np.nan
        info["disc_hu_" + ("upper" if sign > 0 else "lower")] = level
        if not np.isfinite(level):
            continue
        for c in range(len(cols)):
            if peaks[c] is None:
                continue
            kp, pv, km = peaks[c]
            p = prof[c] if sign > 0 else prof[c, ::-1]
            half = 0.5 * (pv + level)
            if pv <= level or p[km] >= half:
                continue  # no edge: the profile does not fall to the half-way level
            k = km
            while k > kp and p[k] < half:
                k -= 1
            # outer half-maximum: between samples k (>= half) and k + 1 (< half)
            t = (p[k] - half) / max(p[k] - p[k + 1], 1e-6)
            pos = (k + t) * step  # distance from the start of the (possibly reversed) profile
            base = max(level, body_hu)
            inner = p[max(0, kp - n_vox - n_vox // 2):kp]
            inner = inner[np.isfinite(inner)]
            thin = bool(interior[c]) and inner.size > 0 and pv > base and \
                float(inner.min()) <= 0.5 * (pv + base)
            if thin:
                # a thin end plate (the profile falls back inside it): its blurred peak is
                # centred on the plate, whose outer face lies half a plate thickness beyond
                lo_k = max(0, kp - n_vox)
                win = p[lo_k:kp + n_vox + 1]
                d = win - base
                w = np.where(d > 0, d, 0.0)  # excess over the baseline (0 where below or NaN)
                if w.sum() > 0:
                    pos = min(pos, (lo_k + float((np.arange(win.size) * w).sum() / w.sum())) * step
                              + 0.5 * END_PLATE_MM)
            e_pos = ends[c] * step
            pos = max(pos, e_pos - MAX_TRIM_VOXELS * L)
            if sign > 0:
                out[c] = sv[0] + pos
                top_bound[c] = sv[0] + e_pos - MAX_TRIM_VOXELS * L
            else:
                out[c] = sv[-1] - pos
                bottom_bound[c] = sv[-1] - e_pos + MAX_TRIM_VOXELS * L
    grid_idx = tuple((cols - fp_off + 1).T)
    upper = np.maximum(_smooth_edges(upper, grid_idx, fp.shape), top_bound)
    lower = np.minimum(_smooth_edges(lower, grid_idx, fp.shape), bottom_bound)
    return s, upper[inv], lower[inv], info


def trim_end_plates(hu: np.ndarray, body: np.ndarray, geometry: Geometry, centre_lps: np.ndarray,
                    axis_si: np.ndarray, axis_ap: np.ndarray, offset_zyx: np.ndarray) -> np.ndarray:
    """``body`` without the voxels beyond its end plates' edges (module doc); the largest
    connected piece is kept."""
    if not body.any():
        return body
    s, upper, lower, _ = end_plate_edges(hu, body, geometry, centre_lps, axis_si, axis_ap, offset_zyx)
    out_vox = (s > upper) | (s < lower)
    out = body.copy()
    out[tuple(np.argwhere(body)[out_vox].T)] = False
    lab, n = ndi.label(out)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        out = lab == int(np.argmax(sizes))
    return out

"""The superficial muscle layers of the trunk wall, found by casting rays from the trunk centre.

Along every ray (0.5 deg steps) from the outside inwards: skin, subcutaneous fat (SAT), then
muscle-window runs. A run tolerates gaps of at most ``gap_mm`` (noise, partial volume); a fat gap
of up to ``plane_mm`` separates the first run (outer layer: external oblique, latissimus,
trapezius, pectoralis) from the second (inner layer: internal oblique + transversus, serratus
under latissimus); anything deeper, a wider gap, or more than ``max_depth_mm`` below the SAT ends
the ray. Organs are excluded as long as fat or air separates them from the wall along the ray -
the usual situation (extraperitoneal and visceral fat) - and the depth limit bounds what is
reached where they touch.

With ``skin_depth_rule`` (the abdominal and chest wall pass) the wall's depth below the skin is
also checked around the whole trunk: where the sheets leave a gap the subcutaneous fat runs into the
extraperitoneal fat, and a ray's first run starting deeper below the skin than the wall's inner
layer around it is an organ inside the wall (kidney, liver), not a sheet (``wall_order``);
and a sheet thin enough (<= 3 mm) for the 1 mm-smoothed subcutaneous-fat mask to hold it is looked
for inside that fat on the rays that found nothing (``_sheet_in_fat``).

With ``hu`` and a rib cage in the plane, an inner run that continues without a fascial plane into
tissue lying on the lung is the chest wall itself (intercostal muscles, costal cartilages), reached
where no rib crosses the ray, and is dropped (``wall_order._on_lung``).

A gap pixel in ``fat_plane`` (definite fat, well below the muscle window) separates runs even
when the gap is no wider than the noise tolerance: fascial planes are often 1 pixel thin.

Returns an int8 image: 0 = not wall, 1 = outer run, 2 = inner run.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .wall_order import (CHEST_WALL_MAX_MM, LUNG_CONTACT_MM, ORGAN_CONTACT_MM, ORGAN_SAMPLE_MM, PLANE_DIP_SIGMAS,
                         SKIN_MM, THIN_SHEET_MAX_MM, WALL_CONTEXT_DEG, _drop_below_wall, _fat_noise_sd,
                         _on_lung, _organ_not_sheet, _runs_at_least, _sheet_in_fat)


def wall_layers(body: np.ndarray, sat: np.ndarray, muscle: np.ndarray, px: float,
                max_depth_mm: float = 30.0, gap_mm: float = 1.0, plane_mm: float = 4.0,
                step_deg: float = 0.5, ribs: np.ndarray | None = None,
                rib_margin_mm: float = 2.0, rib_gap_deg: float = 30.0,
                max_layer_mm: float | None = None, fat_plane: np.ndarray | None = None,
                skin_depth_rule: bool = False, hu: np.ndarray | None = None) -> np.ndarray:
    out = np.zeros(muscle.shape, np.int8)
    if not body.any() or not sat.any():
        return out
    rr, cc = np.nonzero(body)
    r0, c0 = rr.mean(), cc.mean()
    n_r = int(np.sqrt(((rr - r0) ** 2 + (cc - c0) ** 2).max())) + 3
    th = np.deg2rad(np.arange(0.0, 360.0, step_deg))
    rad = np.arange(n_r, dtype=float)
    pr = r0 + np.outer(np.sin(th), rad)
    pc = c0 + np.outer(np.cos(th), rad)

    def samp(a: np.ndarray) -> np.ndarray:
        return ndi.map_coordinates(a.astype(np.uint8), [pr, pc], order=0, cval=0).astype(bool)

    s_sat, s_mus, s_body = samp(sat), samp(muscle), samp(body)
    s_fp = samp(fat_plane) if fat_plane is not None else np.zeros_like(s_mus)
    s_rib = samp(ribs) if ribs is not None else None
    stop = _rib_stop(s_rib, rib_margin_mm / px, rib_gap_deg / step_deg) if s_rib is not None \
        else np.full(len(th), -1)
    # where a ray meets no rib the cage's surface is an estimate (interpolated between ribs, or the
    # cage's ellipse across the front): a first layer starting outside it continues to its end
    # (the sheet lies on the cage), and an estimate shallower below the skin than the subcutaneous
    # fat is thick is no cage at all (open in front below the xiphoid: the rectus lies there)
    soft = (stop >= 0) & ~s_rib.any(axis=1) if s_rib is not None else np.zeros(len(th), bool)
    skin = np.where(s_body.any(axis=1), n_r - 1 - np.argmax(s_body[:, ::-1], axis=1), -1)
    gap = max(int(round(gap_mm / px)), 0)
    plane_gap = max(int(round(plane_mm / px)), gap + 1)
    depth_px = max_depth_mm / px
    lay = np.zeros(s_mus.shape, np.int8)
    sat_in = np.full(len(th), -1)
    for a in range(len(th)):  # the inner edge of the subcutaneous fat per ray
        sat_idx = np.nonzero(s_sat[a])[0]
        if len(sat_idx) == 0:
            continue
        j = sat_idx[-1]  # innermost pixel of the outermost SAT run
        while j - 1 >= 0 and s_sat[a, j - 1]:
            j -= 1
        sat_in[a] = j
    sat_ref = float(np.median((skin - sat_in)[sat_in >= 0])) if (sat_in >= 0).any() else 0.0
    open_front = soft & (skin - stop < sat_ref + gap_mm / px)
    for a in range(len(th)):
        j = sat_in[a]
        if j < 0:
            continue
        i, start, run, miss, seen, outside = j - 1, j - 1, 1, 0, False, False
        while (i > stop[a] or (open_front[a] and not seen) or (soft[a] and outside and run == 1 and miss == 0)) \
                and start - i <= depth_px and s_body[a, i]:
            if s_mus[a, i]:
                if seen and miss > gap:
                    run += 1
                    if run > 2:
                        break
                lay[a, i] = run
                if not seen:
                    outside = i > stop[a] or open_front[a]
                miss, seen = 0, True
            else:
                miss += 1
                if s_fp[a, i]:  # a definite fat pixel: a fascial plane, however thin
                    miss = max(miss, gap + 1)
                if miss > (plane_gap if seen else gap):
                    if seen and run == 2:
                        break
                    if miss > plane_gap:
                        break
            i -= 1
    window = int(round(SHEET_WINDOW_DEG / step_deg))
    tol = (gap_mm + SHEET_START_TOL_MM) / px
    min_run = max(int(round(SHEET_MIN_ARC_DEG / step_deg)), 1)
    _missed_outer_sheet(lay, sat_in, window, tol, min_run)
    if skin_depth_rule:
        # fat contiguous with the subcutaneous fat may fill in where an outer sheet ends (beside
        # the rectus, lateral to the linea semilunaris): there depth below the skin instead - on
        # the anterior 120 deg only, where the subcutaneous fat is of even thickness (on the
        # flanks and the back it thickens and thins over short arcs)
        skin = np.where(s_body.any(axis=1), n_r - 1 - np.argmax(s_body[:, ::-1], axis=1), -1)
        front = np.sin(th) < -0.5
        _missed_outer_sheet(lay, np.where((sat_in >= 0) & front, skin + 1, -1), window, tol, min_run,
                            inner_only=True, floor=stop)
        _drop_below_wall(lay, np.where(sat_in >= 0, skin, -1), int(round(WALL_CONTEXT_DEG / step_deg)), tol,
                         min_run)
        _sheet_in_fat(lay, s_mus, np.where(sat_in >= 0, skin, -1), sat_in, stop, THIN_SHEET_MAX_MM / px,
                      SKIN_MM / px, min_run)
    if max_layer_mm is not None:
        _cap_layers(lay, max_layer_mm / px, window=int(round(20.0 / step_deg)))
    _trim_thickness_outliers(lay, window, SHEET_EXCESS_MM / px)
    if hu is not None:
        s_hu = ndi.map_coordinates(hu.astype(np.float32), [pr, pc], order=1, cval=-1000.0)
        if s_rib is not None and s_rib.any():
            _on_lung(lay, s_hu, s_mus, LUNG_CONTACT_MM / px, CHEST_WALL_MAX_MM / px, min_run,
                     PLANE_DIP_SIGMAS * _fat_noise_sd(hu, sat))
        _organ_not_sheet(lay, s_hu, s_mus, window, ORGAN_CONTACT_MM / px, ORGAN_SAMPLE_MM / px, min_run)
    yy, xx = np.indices(muscle.shape)
    ai = np.round((np.degrees(np.arctan2(yy - r0, xx - c0)) % 360.0) / step_deg).astype(int) % len(th)
    ri = np.clip(np.round(np.hypot(yy - r0, xx - c0)).astype(int), 0, n_r - 1)
    out = lay[ai, ri]
    out[~muscle] = 0
    return out


#: half-width of the angular window over which a sheet's depth and thickness are compared (deg)
SHEET_WINDOW_DEG = 15.0
#: a first run starting this much deeper below the fat (beyond the tolerated gap) than its
#: neighbours' first runs is the inner layer of a ray that missed the outer sheet (mm)
SHEET_START_TOL_MM = 1.5
#: smallest arc over which a layer decision (missed outer sheet, deeper structure) must hold (deg)
SHEET_MIN_ARC_DEG = 5.0
#: a run thicker than 1.5 x its neighbours' median plus this is cut to that median (mm)
SHEET_EXCESS_MM = 2.0


def _neighbours(a: int, window: int, n_a: int, have: np.ndarray) -> np.ndarray:
    """Ray indices within ``window`` rays of ``a`` that are contiguous with it through rays where
    ``have`` is true (gaps of up to 2 rays bridged): the same sheet, not the next one across a
    fat gap."""
    out = []
    for step in (1, -1):
        miss = 0
        for k in range(1, window + 1):
            b = (a + step * k) % n_a
            if have[b]:
                out.append(b)
                miss = 0
            else:
                miss += 1
                if miss > 2:
                    break
    return np.asarray(out, int)


def _missed_outer_sheet(lay: np.ndarray, sat_in: np.ndarray, window: int, tol_px: float,
                        min_run: int, inner_only: bool = False, floor: np.ndarray | None = None) -> None:
    """In place: where a thin outer sheet is missed on a ray (sub-pixel, noise), the ray's first
    run is the next layer down (inner muscle, chest wall). It starts deeper (below ``sat_in``,
    the radius index where depth is counted from) than the first runs of its neighbours along
    the sheet: such runs move to layer 2 (a former layer 2 is dropped). With ``inner_only`` a run
    moves to layer 2 only where it starts at the depth of its neighbours' inner runs, and is
    dropped otherwise when it reaches ``floor`` (the rib cage: the chest wall on the ribs) or
    no ``floor`` is given (organ walls); a run ending before the rib cage is a sheet of its own
    (serratus anterior between the pectoral and latissimus borders) and moves to layer 2.
    Every decision must hold on at least ``min_run`` consecutive rays (a sheet changes over an
    arc, not from ray to ray): isolated decisions are noise and left undone."""
    n_a, n_r = lay.shape
    on1, on2 = lay == 1, lay == 2
    have = on1.any(axis=1) & (sat_in >= 0)
    if not have.any():
        return
    start = np.where(have, sat_in - 1 - (n_r - 1 - np.argmax(on1[:, ::-1], axis=1)), 0)
    have2 = on2.any(axis=1) & (sat_in >= 0)
    start2 = np.where(have2, sat_in - 1 - (n_r - 1 - np.argmax(on2[:, ::-1], axis=1)), 0)
    move = np.zeros(n_a, bool)
    drop = np.zeros(n_a, bool)
    for a in np.nonzero(have & (start > tol_px))[0]:
        nb = _neighbours(a, window, n_a, have)
        if len(nb) < 4 or start[a] <= float(np.percentile(start[nb], 25)) + tol_px:
            continue
        move[a] = True
        if inner_only:
            nb2 = _neighbours(a, window, n_a, have2)
            if len(nb2) < 4 or abs(start[a] - float(np.median(start2[nb2]))) > tol_px:
                inner_end = int(np.nonzero(on1[a])[0].min())
                drop[a] = floor is None or floor[a] < 0 or inner_end <= floor[a] + 1 + tol_px
    move = _runs_at_least(move, min_run)
    drop = _runs_at_least(drop, min_run) & move
    for a in np.nonzero(move)[0]:
        row = lay[a]
        if drop[a]:
            row[row > 0] = 0
        else:
            row[row == 2] = 0
            row[row == 1] = 2


def _trim_thickness_outliers(lay: np.ndarray, window: int, excess_px: float) -> None:
    """In place: a muscle sheet's thickness varies slowly along it; a run much thicker than its
    neighbours' median (1.5 x + ``excess_px``) continues into an organ touching the sheet without a
    fat plane (bowel loop on the rectus, liver on the obliques) and is cut to that median,
    keeping its outer part."""
    n_a = lay.shape[0]
    for layer in (1, 2):
        on = lay == layer
        length = on.sum(axis=1)
        have = length > 0
        for a in np.nonzero(have)[0]:
            nb = _neighbours(a, window, n_a, have)
            if len(nb) < 6:
                continue
            ref = float(np.median(length[nb]))
            if length[a] > 1.5 * ref + excess_px:
                idx = np.nonzero(on[a])[0]
                keep = int(round(ref))
                lay[a, idx[idx < idx.max() - keep + 1]] = 0


def _cap_layers(lay: np.ndarray, max_px: float, window: int) -> None:
    """In place: a layer run longer than ``max_px`` along its ray continues into an organ that
    touches the sheet without a fat plane; it is cut to the median thickness of that layer on the
    rays within ``window`` rays either side whose run is not too long (dropped when there is none)."""
    n_a = lay.shape[0]
    for layer in (1, 2):
        on = lay == layer
        length = on.sum(axis=1)
        ok = (length > 0) & (length <= max_px)
        for a in np.nonzero(length > max_px)[0]:
            nb = (np.arange(a - window, a + window + 1)) % n_a
            ref = length[nb][ok[nb]]
            idx = np.nonzero(on[a])[0]  # radius indices; the outer end of the run is idx.max()
            keep = int(np.median(ref)) if len(ref) else 0
            lay[a, idx[idx < idx.max() - keep + 1]] = 0


def _rib_stop(s_rib: np.ndarray, margin_px: float, max_gap_rays: float) -> np.ndarray:
    """Per ray, the radius index (exclusive) where the wall ends: the outer surface of the rib
    cage plus ``margin_px`` (intercostal muscles lie in the rib layer, not in the wall sheets).
    Rays between ribs take the radius interpolated around the cage from the neighbouring rib hits
    when the angular gap is at most ``max_gap_rays``; elsewhere (no rib cage) -1."""
    n_a, n_r = s_rib.shape
    hit = s_rib.any(axis=1)
    out = np.full(n_a, -1.0)
    if not hit.any():
        return out.astype(int)
    outer = np.where(hit, n_r - 1 - np.argmax(s_rib[:, ::-1], axis=1), -1).astype(float)
    idx = np.nonzero(hit)[0]
    # circular interpolation over the rays without a rib hit
    ext_i = np.concatenate([idx - n_a, idx, idx + n_a])
    ext_v = np.concatenate([outer[idx]] * 3)
    allr = np.arange(n_a)
    interp = np.interp(allr, ext_i, ext_v)
    pos = np.searchsorted(ext_i, allr)
    gap = ext_i[np.clip(pos, 0, len(ext_i) - 1)] - ext_i[np.clip(pos - 1, 0, len(ext_i) - 1)]
    ok = hit | (gap <= max_gap_rays)
    out[ok] = np.where(hit, outer, interp)[ok] + margin_px
    # ribs reaching the anterior half on both sides: the cage is closed anteriorly by the costal
    # cartilages and sternum (often below the bone threshold); across the wider gaps use the
    # ellipse through the outer rib surface (x^2, y^2, x, y least squares)
    th = 2.0 * np.pi * idx / n_a
    ant = np.sin(th) < -0.5
    if (ant & (np.cos(th) > 0)).any() and (ant & (np.cos(th) < 0)).any() and (~ok).any():
        px_, py_ = outer[idx] * np.cos(th), outer[idx] * np.sin(th)
        coef, *_ = np.linalg.lstsq(np.stack([px_ ** 2, py_ ** 2, px_, py_], 1), np.ones(len(idx)), rcond=None)
        a2, b2, c1, d1 = coef
        if a2 > 0 and b2 > 0:
            # the cage's front between two rib hits lies no farther from the trunk centre than the
            # farther of them (the trunk is wider than deep): bounds the fit where the posterior
            # ribs medial to the rib angles (not on the ellipse) make it bulge forwards, or where
            # the cage is open in front (infrasternal angle, T10-T12)
            for j in np.nonzero(~ok)[0]:
                t = 2.0 * np.pi * j / n_a
                ct, st = np.cos(t), np.sin(t)
                qa, qb = a2 * ct * ct + b2 * st * st, c1 * ct + d1 * st
                disc = qb * qb + 4.0 * qa
                if disc > 0:
                    p = int(np.clip(pos[j], 1, len(ext_i) - 1))
                    bound = max(ext_v[p - 1], ext_v[p])
                    out[j] = min((-qb + np.sqrt(disc)) / (2.0 * qa), bound) + margin_px
    return np.round(out).astype(int)

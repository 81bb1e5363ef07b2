"""Intervertebral discs along the body-column centreline.

The bone coverage of a disc-shaped probe (radius a fraction of the local body radius, in the
plane normal to the centreline) is sampled every half voxel along the curve. Discs are the
coverage minima. A lytic lesion can also lower the coverage, and a bridging osteophyte can hide a
disc, so the minima are chosen jointly by dynamic programming: each accepted minimum earns its
depth, and consecutive inter-disc spacings must lie in an anatomical range and should change
smoothly (a penalty on |log(g_k / g_k-1)| beyond 25 %), which is the spacing prior that stops a lesion from
splitting one vertebra into two or a missed disc from merging two.

A vertebral body whose marrow is dark (osteoporosis: trabecular bone near disc HU) dips as deep
as a disc, and a thin disc seen at coarse slices dips less than it should, so depth alone cannot
tell them apart. Shape can: a disc is a narrow valley between the bright end plates of two bodies
(a disc and its end plates span ~15-35 % of a level), whereas a body's own end plates lie >= ~55 %
of a level apart, so a mid-body dip is wide. The chain is therefore chosen twice: a first pass
gives the local level height (disc-to-disc spacing, right even where the chain is out of phase),
and the second pass weighs each candidate's prominence by the narrowness of its valley (width at
half prominence relative to that level height, ``_narrowness``); that level height is capped at
twice the local spacing of all coverage minima (``_minima_level_cap_mm``), so a first chain that
skipped discs does not make wide valleys look narrow. The profile is not smoothed
beyond its half-voxel linear interpolation: smoothing blurred a one-voxel disc (a 4-5 mm thoracic
disc at 3 mm slices) away between its end plates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.signal import find_peaks, peak_widths

from .centreline import Centreline

#: Probe radius as a fraction of the inscribed body radius, and radius of the cortical ring.
PROBE_FRACTION = 0.6
RING_FRACTION = 0.95
#: Allowed centre-to-centre spacing of consecutive discs (mm): C7/T1 ~ 18 mm ... L5/S1 ~ 45 mm,
#: with room for a collapsed (fractured) body.
GAP_MIN_MM = 12.0
GAP_MAX_MM = 60.0
#: A coverage dip must reach this prominence to count as a candidate.
MIN_PROMINENCE = 0.15
#: Prominence below which a candidate costs rather than earns (evidence threshold).
SCORE_OFFSET = 0.1
#: Weight of the smooth-spacing prior.
SPACING_LAMBDA = 0.7
#: Neighbouring levels differ by up to ~25 % in height without penalty.
SPACING_FREE_LOG = float(np.log(1.25))


@dataclass
class DiscProfile:
    z: np.ndarray          # continuous slice positions of the samples
    s_mm: np.ndarray       # arc length (mm) from the first sample
    coverage: np.ndarray   # bone coverage of the probe, 0..1


#: Intensity normalisation of the profile: a disc (~80 HU) maps to 0, HU >= BODY_HU_REF to 1.
DISC_HU = 80.0
BODY_HU_REF = 250.0


def coverage_profile(filled: np.ndarray, cl: Centreline, step: float = 0.5,
                     hu: np.ndarray | None = None) -> DiscProfile:
    zq = np.arange(cl.z[0], cl.z[-1] + 1e-6, step)
    yq, xq, rq = cl.at(zq)
    t = cl.tangent(zq)
    # orthonormal frame in the normal plane: u ~ x direction, v = t x u
    ex = np.array([0.0, 0.0, 1.0])
    u = ex[None, :] - (t @ ex)[:, None] * t
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(t, u)
    radii = np.array([0.0, 0.35, 0.7, 1.0])
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    offs = [(0.0, 0.0)] + [(rr * np.cos(a), rr * np.sin(a)) for rr in radii[1:] for a in angles]
    offs = np.asarray(offs)  # (m, 2) in units of the probe radius
    probe_vox = PROBE_FRACTION * rq / cl.spacing_mm  # (n,)
    p = np.stack([zq, yq, xq], -1)  # (n, 3)
    pts = (p[:, None, :] + probe_vox[:, None, None] *
           (offs[None, :, 0, None] * u[:, None, :] + offs[None, :, 1, None] * v[:, None, :]))
    vals = ndi.map_coordinates(filled.astype(np.float32), pts.reshape(-1, 3).T, order=1, mode="nearest")
    cov = vals.reshape(pts.shape[:2]).mean(1)
    # outer ring near the cortex: a disc empties it too, a lytic lesion inside an intact cortical
    # shell does not, so the larger of the two coverages keeps lesions from looking like discs
    ang = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring_r = RING_FRACTION * rq / cl.spacing_mm
    rpts = (p[:, None, :] + ring_r[:, None, None] *
            (np.cos(ang)[None, :, None] * u[:, None, :] + np.sin(ang)[None, :, None] * v[:, None, :]))
    rv = ndi.map_coordinates(filled.astype(np.float32), rpts.reshape(-1, 3).T, order=1, mode="nearest")
    cov = np.maximum(cov, rv.reshape(rpts.shape[:2]).mean(1))
    if hu is not None:
        # the intensity profile does not depend on any bone threshold: discs (soft tissue) are
        # darker than the bodies between their bright endplates
        h = ndi.map_coordinates(hu, pts.reshape(-1, 3).T, order=1, mode="nearest").reshape(pts.shape[:2])
        # the median ignores the thin bright endplates, which would otherwise make every body
        # look darker in its middle than at its ends
        hn = np.clip((np.median(h, axis=1) - DISC_HU) / (BODY_HU_REF - DISC_HU), 0.0, 1.0)
        cov = 0.5 * (cov + hn)
    ds = np.linalg.norm(np.diff(p, axis=0), axis=1) * cl.spacing_mm
    s = np.concatenate([[0.0], np.cumsum(ds)])
    return DiscProfile(zq, s, cov)


#: Core of the body cross-section used for its median HU, as a fraction of the inscribed radius.
CORE_FRACTION = 0.6


def core_median_hu(hu: np.ndarray, cl: Centreline, z: int) -> float | None:
    """Median HU (robust to thin bright endplates) of the body core in axial slice ``z``."""
    if not (cl.z[0] <= z <= cl.z[-1]) or not (0 <= z < hu.shape[0]):
        return None
    y, x, r = (float(v[0]) for v in cl.at(np.array([z])))
    rc = CORE_FRACTION * r / cl.spacing_mm
    y0, y1 = max(0, int(np.floor(y - rc))), min(hu.shape[1], int(np.ceil(y + rc)) + 1)
    x0, x1 = max(0, int(np.floor(x - rc))), min(hu.shape[2], int(np.ceil(x + rc)) + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    core = np.hypot(yy - y, xx - x) <= rc
    if not core.any():
        return None
    return float(np.median(hu[z, y0:y1, x0:x1][core]))


def end_slice_is_disc(hu: np.ndarray, cl: Centreline, zend: int) -> bool:
    """Whether the field of view ends in an intervertebral disc rather than in a vertebral body.

    The end slice's core is a disc when its median HU lies closer to disc tissue (``DISC_HU``) than
    to the median body core of this column (the midpoint between them; relative to the patient's own
    bone, so osteoporotic bodies are not mistaken for discs).
    """
    end = core_median_hu(hu, cl, zend)
    if end is None:
        return False
    step = max(1, int(round(3.0 / cl.spacing_mm)))
    col = [core_median_hu(hu, cl, int(z)) for z in cl.z[::step]]
    col = [c for c in col if c is not None]
    if not col:
        return False
    ref = float(np.median(col))
    return ref > DISC_HU and end < 0.5 * (DISC_HU + ref)


#: Edge disc: the profile falls by at least EDGE_DEPTH within EDGE_RUN_MM of its end.
EDGE_DEPTH = 0.4
EDGE_RUN_MM = 15.0


def _edge_candidates(cov: np.ndarray, s: np.ndarray) -> list[tuple[int, float]]:
    """Minima at the ends of the profile (a disc cut by the field of view), with their depth."""
    out = []
    n = cov.size
    for end in (0, n - 1):
        near = np.abs(s - s[end]) <= EDGE_RUN_MM
        depth = float(cov[near].max() - cov[end])
        if depth < EDGE_DEPTH:
            continue
        # disc centre: first sample (coming from the body) below the middle of the drop
        mid = cov[end] + 0.5 * depth
        idx = np.nonzero(near & (cov <= mid))[0]
        pos = int(idx.min()) if end == n - 1 else int(idx.max())
        out.append((pos, depth))
    return out


#: Valley width (at half prominence) as a fraction of the local level height: up to NARROW_FULL
#: a valley is disc-like and keeps its full weight; from WIDE_FLOOR on it is body-like (the
#: valley between a body's own end plates) and keeps only WIDE_WEIGHT of its prominence.
NARROW_FULL = 0.35
WIDE_FLOOR = 0.6
WIDE_WEIGHT = 0.25
#: The width is taken at half the valley's prominence; the disc centre is the middle of the
#: valley's width a quarter of the way up (near its floor, so a shallower dip beside the disc - a
#: lytic lesion in the next body - does not pull the centre toward it).
WIDTH_REL_HEIGHT = 0.5
CENTRE_REL_HEIGHT = 0.25


def select_discs(prof: DiscProfile) -> list[int]:
    """Indices (into the profile) of the disc centres, cranio-caudally ascending in z."""
    first = _select(prof)
    if len(first) < 3:
        return first
    level = _local_level_mm(first, prof.s_mm)
    cap = _minima_level_cap_mm(prof)
    if cap is not None:
        level = np.minimum(level, cap)
    return _select(prof, level)


#: Each level holds its disc's coverage minimum and at most one more (the valley between its own
#: end plates, or a lesion): consecutive minima lie at most one level apart, and a level spans at
#: most two consecutive minima gaps.
LEVEL_PER_MINIMA_GAP_MAX = 2.0


def _minima_level_cap_mm(prof: DiscProfile) -> np.ndarray | None:
    """Upper bound (mm) on the local level height at every sample: twice the spacing of the
    consecutive coverage minima around it (all of the chain's candidates, interpolated between the
    gaps' midpoints like ``_local_level_mm``), or None when there are fewer than three minima.

    The first pass's level height is a disc-to-disc spacing; where that pass skipped discs (e.g. took
    one mid-body dip for the two discs around it), it is up to two levels, and every wide mid-body
    valley then looks narrow to the second pass. The minima themselves still mark every disc, so
    twice their spacing bounds the level height whatever the first chain chose; where the minima
    are the discs alone the bound is two levels and changes nothing.
    """
    peaks, _ = find_peaks(-prof.coverage, prominence=MIN_PROMINENCE)
    if peaks.size < 3:
        return None
    sp = prof.s_mm[peaks]
    return LEVEL_PER_MINIMA_GAP_MAX * np.interp(prof.s_mm, 0.5 * (sp[1:] + sp[:-1]), np.diff(sp))


def _local_level_mm(discs: list[int], s: np.ndarray) -> np.ndarray:
    """Level height (mm) at every sample: the disc-to-disc gaps, interpolated between the gaps'
    midpoints (constant beyond the first and last)."""
    sd = s[np.asarray(discs)]
    return np.interp(s, 0.5 * (sd[1:] + sd[:-1]), np.diff(sd))


def _narrowness(cov: np.ndarray, peaks: np.ndarray, props: dict, s: np.ndarray,
                level_mm: np.ndarray) -> np.ndarray:
    """Weight in [WIDE_WEIGHT, 1] of each coverage minimum from its width at half prominence
    relative to the local level height (1: disc-like, narrow; WIDE_WEIGHT: body-like, wide)."""
    step = float(s[1] - s[0]) if s.size > 1 else 1.0
    width = peak_widths(-cov, peaks, rel_height=WIDTH_REL_HEIGHT,
                        prominence_data=(props["prominences"], props["left_bases"], props["right_bases"]))[0]
    r = width * step / level_mm[peaks]
    return np.clip(1.0 - (1.0 - WIDE_WEIGHT) * (r - NARROW_FULL) / (WIDE_FLOOR - NARROW_FULL), WIDE_WEIGHT, 1.0)


def _select(prof: DiscProfile, level_mm: np.ndarray | None = None) -> list[int]:
    """One pass of the chain selection; with ``level_mm`` the candidates are weighted by narrowness."""
    cov = prof.coverage
    peaks, props = find_peaks(-cov, prominence=MIN_PROMINENCE)
    prom = props["prominences"]
    low = cov[peaks]
    if peaks.size:
        if level_mm is not None:
            prom = prom * _narrowness(cov, peaks, props, prof.s_mm, level_mm)
        # the disc lies in the middle of its valley (between the end plates), not at the noisiest
        # sample of a wide valley's floor (the profile is not smoothed)
        _, _, left, right = peak_widths(-cov, peaks, rel_height=CENTRE_REL_HEIGHT, prominence_data=(
            props["prominences"], props["left_bases"], props["right_bases"]))
        peaks = np.rint(0.5 * (left + right)).astype(int)
    # a disc at the edge of the field of view: coverage falls to nearly nothing at the end
    edge = _edge_candidates(cov, prof.s_mm)
    if edge:
        peaks = np.concatenate([peaks, [e[0] for e in edge]]).astype(int)
        prom = np.concatenate([prom, [e[1] for e in edge]])
        low = np.concatenate([low, [cov[e[0]] for e in edge]])
        order = np.argsort(peaks, kind="stable")
        peaks, prom, low = peaks[order], prom[order], low[order]
    if peaks.size == 0:
        return []
    # a disc empties the probe: weight the prominence by how low the minimum gets
    q = prom * (1.0 - 0.5 * low) - SCORE_OFFSET
    s = prof.s_mm[peaks]
    n = peaks.size
    neg = -1e18
    # best[i, j]: best chain ending with candidates i < j (consecutive); single-candidate chains separately
    best = np.full((n, n), neg)
    back = np.full((n, n), -1, int)
    single = q.copy()
    for j in range(n):
        for i in range(j):
            g = s[j] - s[i]
            if not (GAP_MIN_MM <= g <= GAP_MAX_MM):
                continue
            cand = single[i] + q[j]
            arg = -1
            for h in range(i):
                if best[h, i] <= neg / 2:
                    continue
                g0 = s[i] - s[h]
                val = best[h, i] + q[j] - SPACING_LAMBDA * max(0.0, abs(np.log(g / g0)) - SPACING_FREE_LOG)
                if val > cand:
                    cand, arg = val, h
            best[i, j] = cand
            back[i, j] = arg
    top_single = int(np.argmax(single))
    if best.max() > single[top_single]:
        i, j = np.unravel_index(int(np.argmax(best)), best.shape)
        chain = [j, i]
        while back[i, j] >= 0:
            h = back[i, j]
            chain.append(h)
            i, j = h, i
        chain = chain[::-1]
    else:
        chain = [top_single] if single[top_single] > 0 else []
    return _recount(_fill_gaps([int(peaks[c]) for c in chain], cov, prof.s_mm), cov, prof.s_mm)


#: A gap this many times longer than its neighbours holds an undetected disc.
GAP_SPLIT_RATIO = 1.7


def _fill_gaps(discs: list[int], cov: np.ndarray, s: np.ndarray) -> list[int]:
    """Insert a disc where the spacing prior says one is missing (a gap ~2x its neighbours', or an
    end segment longer than 1.7 levels): at the lowest coverage in the gap's middle third."""
    if len(discs) < 2:
        return discs
    changed = True
    while changed:
        changed = False
        pos = [s[0]] + [s[d] for d in discs] + [s[-1]]
        gaps = np.diff(pos)
        for k in range(len(gaps)):
            inner = [g for i, g in enumerate(gaps) if i != k and 0 < i < len(gaps) - 1]
            if not inner:
                continue
            near = [gaps[i] for i in (k - 1, k + 1) if 0 < i < len(gaps) - 1] or inner
            ref = float(np.median(near))
            if gaps[k] < GAP_SPLIT_RATIO * ref:
                continue
            lo, hi = pos[k], pos[k + 1]
            if k in (0, len(gaps) - 1):
                # an end segment: the vertebra next to the disc is complete, look one level in
                lo, hi = (hi - 1.3 * ref, hi - 0.7 * ref) if k == 0 else (lo + 0.7 * ref, lo + 1.3 * ref)
            else:
                lo, hi = lo + (hi - lo) / 3, hi - (hi - lo) / 3
            cand = np.nonzero((s >= lo) & (s <= hi))[0]
            if cand.size == 0:
                continue
            d = int(cand[np.argmin(cov[cand])])
            discs = sorted(discs + [d])
            changed = True
            break
    return discs


#: Level heights change smoothly: the reference spacing of a run of segments is the median of up
#: to this many gaps on each side of it.
RECOUNT_NEIGHBOURS = 3


def _best_count(total: float, ref: float) -> int:
    """Number of levels n whose height total/n is closest to ``ref`` in log ratio."""
    n = max(1, int(np.floor(total / ref)))
    return min((n, n + 1), key=lambda k: abs(np.log(total / k / ref)))


def _recount(discs: list[int], cov: np.ndarray, s: np.ndarray) -> list[int]:
    """Re-partition runs of one or two interior segments that hold more levels than detected.

    A disc missed next to a lesion can make the chain settle on two evenly long segments where
    three levels are (each ~1.5x its neighbours, below the single-gap split ratio). For every run of
    one or two consecutive interior gaps, the number of levels that best fits the neighbours'
    spacing (log-ratio nearest) is computed; where it exceeds the run's segment count, the run's
    inner discs are replaced by the coverage minima nearest to an even partition of the run, if
    the new segments fit that spacing better than the old ones (sum of absolute log ratios).
    """
    changed = True
    guard = 0
    while changed and guard < 20:
        changed = False
        guard += 1
        pos = [s[d] for d in discs]
        gaps = np.diff(pos)
        for run in (2, 1):
            for a in range(0, len(gaps) - run + 1):
                out = list(gaps[max(0, a - RECOUNT_NEIGHBOURS):a]) + \
                    list(gaps[a + run:a + run + RECOUNT_NEIGHBOURS])
                if len(out) < 2:
                    continue
                ref = float(np.median(out))
                total = float(np.sum(gaps[a:a + run]))
                n = _best_count(total, ref)
                if n <= run:
                    continue
                lo, hi = pos[a], pos[a + run]
                new = []
                for k in range(1, n):
                    target = lo + k * total / n
                    cand = np.nonzero(np.abs(s - target) <= 0.25 * total / n)[0]
                    if cand.size:
                        new.append(int(cand[np.argmin(cov[cand])]))
                if len(new) != n - 1:
                    continue
                # accept only when the run's segments then fit the spacing better (sum of
                # |log(gap / ref)|): one normal and one 1.5x gap stay as they are
                before = float(np.sum(np.abs(np.log(gaps[a:a + run] / ref))))
                after = float(np.sum(np.abs(np.log(np.diff([lo] + [s[d] for d in new] + [hi]) / ref))))
                if after >= before:
                    continue
                discs = sorted(discs[:a + 1] + new + discs[a + run:])
                changed = True
                break
            if changed:
                break
    return discs

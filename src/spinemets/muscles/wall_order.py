"""Layer-order checks of the wall rays (``wall.wall_layers``): the trunk wall is a layered sheet -
skin, subcutaneous fat, outer muscle layer, inner layer, extraperitoneal fat, organs - whose depth
below the skin changes slowly around the trunk.

Per ray (arrays ``[ray, radius index]``, radius index increasing outwards, lengths in pixels):
``_drop_below_wall`` empties rays whose first run lies deeper than the wall around them (an organ
reached where the sheets leave a gap), ``_sheet_in_fat`` finds a sheet thin enough for the
smoothed subcutaneous-fat mask to hold it, ``_organ_not_sheet`` drops runs whose attenuation is the
organ's they touch rather than the sheet's on the neighbouring rays, ``_on_lung`` drops inner runs
that are the chest wall itself (intercostals, costal cartilages on the lung), not a sheet on it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


#: half-width of the arc over which the depth of the wall below the skin is taken as known (deg):
#: wider than the arc of an organ lying where the wall sheets leave a gap (kidney behind the
#: obliques' posterior border)
WALL_CONTEXT_DEG = 30.0


def _drop_below_wall(lay: np.ndarray, skin: np.ndarray, window: int, tol_px: float, min_run: int) -> None:
    """In place: the wall is a layered sheet (subcutaneous fat, outer muscle layer, inner layer,
    extraperitoneal fat, organs); its depth below the skin changes slowly around the trunk. A ray
    whose first muscle run starts deeper below the skin (``skin``: radius index of the skin, -1
    where unknown) than the inner layer of the wall around it (its median start over the rays
    within ``window`` rays that have one; else the outer layer's lower-quartile start plus the
    thickest outer run there) by more than ``tol_px`` met no wall: the subcutaneous fat runs into
    the extraperitoneal fat where the sheets leave a gap, and what it reaches (kidney, liver,
    bowel) lies inside the wall. Such rays are emptied where the decision holds on ``min_run``
    consecutive rays."""
    n_a, n_r = lay.shape
    on = lay > 0
    have = on.any(axis=1) & (skin >= 0)
    if have.sum() < 4:
        return
    ridx = np.arange(n_r)
    first = np.where(have, skin - np.where(on, ridx, -1).max(axis=1), 0)
    on1, on2 = lay == 1, lay == 2
    have1 = on1.any(axis=1) & have
    start1 = np.where(have1, skin - np.where(on1, ridx, -1).max(axis=1), 0)
    thick1 = on1.sum(axis=1)
    have2 = on2.any(axis=1) & have
    start2 = np.where(have2, skin - np.where(on2, ridx, -1).max(axis=1), 0)
    # per ray, the circular window of +-``window`` rays (rows) of each quantity, NaN where absent
    nb = (np.arange(n_a)[:, None] + np.arange(-window, window + 1)[None, :]) % n_a
    s1 = np.where(have1[nb], start1[nb], np.nan)
    t1 = np.where(have1[nb], thick1[nb], np.nan)
    s2 = np.where(have2[nb], start2[nb], np.nan)
    n1, n2 = have1[nb].sum(axis=1), have2[nb].sum(axis=1)
    ok = have & (n1 >= window // 2)  # elsewhere too little wall around to know its depth
    inner_known = ok & (n2 >= 4)
    ref = np.where(inner_known, _row_percentile(s2, n2, 50.0),
                   _row_percentile(s1, n1, 25.0) + _row_percentile(t1, n1, 75.0))
    ref[~ok] = np.inf
    drop = _runs_at_least(first > ref + tol_px, min_run)
    lay[drop] = 0


def _row_percentile(v: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """Per row of ``v`` (NaN where absent; ``n`` values present per row) the ``q``-th percentile
    with linear interpolation (numpy's default); NaN for rows without values."""
    srt = np.sort(v, axis=1)  # NaN last
    pos = q / 100.0 * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    rows = np.arange(v.shape[0])
    out = srt[rows, lo] + (srt[rows, hi] - srt[rows, lo]) * (pos - lo)
    return np.where(n > 0, out, np.nan)


#: a muscle sheet up to this thick (mm) can vanish into the fat window in the 1 mm smoothing that
#: defines the subcutaneous fat (latissimus at L2-L3, the external oblique's thin lower part)
THIN_SHEET_MAX_MM = 3.0
#: the skin (dermis, muscle-like CT numbers on real scans) and its partial volume with air (mm)
SKIN_MM = 3.0


def _sheet_in_fat(lay: np.ndarray, s_mus: np.ndarray, skin: np.ndarray, sat_in: np.ndarray,
                  stop: np.ndarray, max_px: float, skin_px: float, min_run: int) -> None:
    """In place: on rays that found no wall layer, a thin sheet (at most ``max_px`` along the ray)
    of the sharper muscle window ``s_mus`` lying inside the subcutaneous-fat run (between its
    inner edge ``sat_in`` and the skin, more than ``skin_px`` below the ``skin``), with nothing
    but fat between it and the run's inner edge, is the wall's first layer: the 1 mm smoothing
    that defines the subcutaneous fat took it for fat, and the fat beneath it runs into the
    extraperitoneal fat (latissimus at L2-L3 over the posterolateral trunk). Never inside the rib
    cage (``stop``). Kept where it forms a curve over ``min_run`` rays: candidates up to 2 rays
    apart (the thin sheet drops below the muscle window in places) at radii within 2 px."""
    n_a, n_r = lay.shape
    cand = np.zeros(n_a, bool)
    runs: dict[int, np.ndarray] = {}
    for a in np.nonzero(~(lay > 0).any(axis=1) & (sat_in >= 0) & (skin >= 0))[0]:
        lo = max(sat_in[a], stop[a] + 1, 0)
        hi = int(skin[a] - skin_px)
        if hi <= lo:
            continue
        idx = np.nonzero(s_mus[a, lo:hi + 1])[0] + lo
        if len(idx) == 0:
            continue
        top = idx.max()  # the outermost muscle pixel in the fat run; its sheet goes inwards
        run = idx[idx >= top - max_px]
        if len(idx) > len(run):
            continue  # more muscle deeper in the fat: septa or noise, not one sheet
        cand[a] = True
        runs[a] = run
    # a sheet is a curve: consecutive candidates (up to 2 rays apart) at radii within 2 px of each
    # other are linked; scattered pixels (vessels, septa in the fat) are not
    top = np.array([runs[a].max() if a in runs else -1 for a in range(n_a)])
    linked = np.zeros(n_a, bool)
    for a in np.nonzero(cand)[0]:
        for k in (1, 2, 3):
            b = (a + k) % n_a
            if cand[b] and abs(int(top[b]) - int(top[a])) <= 2:
                linked[a:a + k + 1] = True if a + k < n_a else linked[a:a + k + 1]
                if a + k >= n_a:
                    linked[a:] = True
                    linked[:b + 1] = True
                break
    keep = _runs_at_least(linked, min_run) & cand
    for a in np.nonzero(keep)[0]:
        lay[a, runs[a]] = 1


def _runs_at_least(flags: np.ndarray, n: int) -> np.ndarray:
    """``flags`` (circular, one per ray) kept only in runs of at least ``n`` consecutive rays."""
    if n <= 1 or not flags.any():
        return flags
    if flags.all():
        return flags
    k = int(np.argmin(flags))  # start the scan at a False ray so no run wraps around the seam
    f = np.roll(flags, -k)
    out = np.zeros_like(f)
    i = 0
    while i < len(f):
        if f[i]:
            j = i
            while j < len(f) and f[j]:
                j += 1
            if j - i >= n:
                out[i:j] = True
            i = j
        else:
            i += 1
    return np.roll(out, k)


#: muscle-window tissue continuing a run inwards without a fat plane over at least this length (mm)
#: is an organ in contact; its attenuation is sampled over at most ORGAN_SAMPLE_MM
ORGAN_CONTACT_MM = 3.0
ORGAN_SAMPLE_MM = 10.0


def _organ_not_sheet(lay: np.ndarray, s_hu: np.ndarray, s_mus: np.ndarray, window: int, contact_px: float,
                     sample_px: float, min_run: int) -> None:
    """In place: a wall run that muscle-window tissue continues inwards without a fat plane (cut
    by the sheet-thickness cap, the rib cage or the depth limit) touches an organ. Where the run's
    own attenuation (``s_hu`` along the rays, its outermost pixel - a mixture with the fat - left
    out) is nearer to that organ's (the continuation, up to ``sample_px``) than to the median of
    the same layer on the neighbouring rays (within ``window``) whose runs end in fat, the ray met
    the organ itself where the sheets leave a gap (liver against the subcutaneous fat between the
    obliques and the latissimus), and the run is dropped - a decision that must hold on
    ``min_run`` consecutive rays."""
    n_a, n_r = lay.shape
    for layer in (1, 2):
        on = lay == layer
        have = on.any(axis=1)
        inner = np.where(have, np.argmax(on, axis=1), 0)  # innermost radius index of the run
        cont: dict[int, np.ndarray] = {}
        for a in np.nonzero(have)[0]:
            k = inner[a] - 1
            while k >= 0 and s_mus[a, k] and lay[a, k] == 0 and inner[a] - 1 - k < sample_px:
                k -= 1
            if inner[a] - 1 - k >= contact_px:
                cont[a] = np.arange(k + 1, inner[a])
        free = have.copy()
        free[list(cont)] = False
        organ = np.zeros(n_a, bool)
        for a, beyond in cont.items():
            own = np.nonzero(on[a])[0][:-1]
            if len(own) == 0:
                continue
            nb = (a + np.arange(-window, window + 1)) % n_a
            sheet = [s_hu[b, np.nonzero(on[b])[0][:-1]] for b in nb[free[nb]]]
            sheet = [v for v in sheet if len(v)]
            if not sheet:
                continue
            hu_sheet = float(np.median(np.concatenate(sheet)))
            hu_own, hu_organ = float(np.mean(s_hu[a, own])), float(np.mean(s_hu[a, beyond]))
            organ[a] = abs(hu_own - hu_organ) < abs(hu_own - hu_sheet)
        organ = _runs_at_least(organ, min_run)
        lay[organ & have] = np.where(on[organ & have], 0, lay[organ & have])


#: air (lung) this close (mm) beneath the rib-layer tissue under a run: the run is the chest wall
#: proper (intercostal muscles, costal cartilages on the pleura), not a sheet lying on it
LUNG_CONTACT_MM = 2.0
#: below the fat window a ray sample holds air (lung, or its partial volume with the wall; HU)
AIR_HU = -190.0
#: thickest chest wall proper (rib layer: intercostals, costal cartilage) along a ray (mm)
CHEST_WALL_MAX_MM = 15.0


#: a fascial plane thinner than a pixel still dips the CT number between the tissues it parts:
#: a sample this many noise SDs below the highest sample within 2 pixels on either side of it
PLANE_DIP_SIGMAS = 3.0


def _fat_noise_sd(hu: np.ndarray, sat: np.ndarray) -> float:
    """Image noise (HU): MAD-based SD of the subcutaneous fat's interior (2 pixels from its
    border); 10 HU where there is too little of it."""
    core = ndi.binary_erosion(sat, iterations=2)
    if core.sum() < 100:
        return 10.0
    v = hu[core]
    return 1.4826 * float(np.median(np.abs(v - np.median(v))))


def _on_lung(lay: np.ndarray, s_hu: np.ndarray, s_mus: np.ndarray, contact_px: float, reach_px: float,
             min_run: int, dip_hu: float = np.inf) -> None:
    """In place: the inner sheets (serratus anterior under the pectoralis or latissimus, internal
    oblique) lie on the rib cage - ribs, or between them the intercostal muscles and, in front, the
    costal cartilages - never on the lung. An inner run (layer 2) continued inwards along the ray by
    muscle-window tissue (``s_mus``, no fat between) for at most ``reach_px`` that then meets air
    (``s_hu`` < AIR_HU within ``contact_px``) is that chest wall itself, reached where no rib
    crosses the ray to stop it (the cage's surface between the ribs and in front of them is an
    estimate); it is dropped where this holds over ``min_run`` consecutive rays (gaps of up to 2
    rays bridged). A dip of ``dip_hu`` below the samples on both sides within 2 pixels is a fascial
    plane thinner than a pixel (lifted into the muscle window by partial volume): beneath the run
    it parts a sheet from the chest wall (the run stays); inside the run (the ray's gap tolerance
    stepped over it) only the run's part beneath it is the chest wall and is dropped. The first run is left alone: a sheet lying on the chest wall without a
    resolved fascial plane (the pectoralis major at T2-T3 on the phantoms) would go whole."""
    n_a, n_r = lay.shape
    k = max(int(np.ceil(contact_px)), 1)
    on = lay == 2
    have = on.any(axis=1)
    inner = np.where(have, np.argmax(on, axis=1), 0)  # innermost radius index of the run
    outer = np.where(have, n_r - 1 - np.argmax(on[:, ::-1], axis=1), 0)
    lung = np.zeros(n_a, bool)
    cut = np.full(n_a, -1)  # a fascial plane inside the run: its inner part is the chest wall
    for a in np.nonzero(have)[0]:
        j, plane = outer[a] - 1, -1
        while j >= 0 and (j >= inner[a] or (s_mus[a, j] and inner[a] - 1 - j < reach_px)):
            flanks = min(s_hu[a, j + 1:j + 3].max(), s_hu[a, max(j - 2, 0):j].max() if j > 0 else np.inf)
            if s_hu[a, j] <= flanks - dip_hu:  # a fascial plane lifted into the muscle window
                plane = j
                break
            j -= 1
        if plane >= 0 and plane < inner[a]:
            continue  # the run is a sheet parted from what lies beneath by a fascial plane
        j = inner[a] - 1
        while j >= 0 and s_mus[a, j] and inner[a] - 1 - j < reach_px:
            j -= 1
        lung[a] = j >= 0 and bool((s_hu[a, max(j - k + 1, 0):j + 1] < AIR_HU).any())
        cut[a] = plane
    # a decision over an arc: gaps of up to 2 rays (noise, a ray grazing a rib) are bridged
    lung = ndi.minimum_filter1d(ndi.maximum_filter1d(lung.astype(np.uint8), 3, mode="wrap"), 3,
                                mode="wrap").astype(bool)
    lung = _runs_at_least(lung, min_run) & have
    ridx = np.arange(n_r)[None, :]
    lay[lung[:, None] & on & (ridx <= cut[:, None])] = 0  # the chest wall beneath a plane in the run
    lay[(lung & (cut < 0))[:, None] & on] = 0  # no plane: the whole run is the chest wall

"""The course of a superficial muscle sheet thinner than a pixel, followed through the fat.

Where the latissimus dorsi (its lower, aponeurotic part over the thoracolumbar fascia, L1-L3),
the lowest fibres of the pectoralis major (T7-T8) or the serratus anterior's upper slips (on ribs
1-2 under the scapula, T1-T3) are 0.5-2 mm thick, a CT voxel of 2 mm holds
as much fat as muscle: the sheet shows as a chain of pixels brighter than the fat around them
but mostly below the muscle window (-29 HU), and smoothing takes it for fat. It is still seen as
a *ridge across the depth*: a sheet runs parallel to the skin, so each of its pixels is brighter
than the tissue ``RIDGE_OFFSET_MM`` outwards and inwards along the local depth direction (normal
to the skin). That excess, averaged along the sheet's course over ``COURSE_MEAN_MM`` (the sheet is
long, the noise is not: a matched filter for a line parallel to the skin), is compared with its
own spread over the subcutaneous fat: a pixel is on the course when it exceeds the fat's median by
``RIDGE_NOISE_SIGMAS`` SDs (``RIDGE_NOISE_SIGMAS_LOW`` along a clear stretch). The course is
followed from the pieces of the sheet the wall rays found (connected to them, gaps of up to
``BRIDGE_MM`` along the course bridged), never closer to the lung than ``CHEST_WALL_MM``.
Pieces of the sheet's mask lying under its own course are not the sheet (``beneath_own_sheet``).

The course pixels are added to the sheet's mask; its area is then what the CT numbers say
(``course_area_mm2``, called by ``core.py``): the outline's rim and the fat/muscle mixtures beside
it count by their muscle fraction, the fat's noise unclipped, i.e. the partial-volume HU integral
across the course, not a count of thresholded pixels. All lengths mm; arrays are the 2-D plane
([row, col], ``px`` mm per pixel).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold

from .shape import mask_box
from .tissue import FAT_HU, MUSCLE_HU

#: distance along the depth direction at which the tissue on either side of a thin sheet is
#: sampled (mm): beyond the spread of a sub-pixel sheet over two 2 mm CT pixels and the plane's
#: linear interpolation (+-2.5 mm)
RIDGE_OFFSET_MM = 3.0
#: length along the course over which the excess is averaged (mm; +-3 mm)
COURSE_MEAN_MM = 6.0
#: a course pixel's averaged excess lies this many SDs above its median over pure fat ...
RIDGE_NOISE_SIGMAS = 3.0
#: ... or this many, in a piece of such pixels that holds one of the former (hysteresis, as in
#: edge following: the faint stretches of a course between its clear ones)
RIDGE_NOISE_SIGMAS_LOW = 2.0
#: gaps along the course bridged between ridge pixels (mm), along the sheet only (across the
#: depth direction), never across it: a sheet thinner than a CT pixel is imaged as beads, the
#: pixels it crosses most of, one to two pixels apart (up to 4-5 mm at 2 mm pixels), and noise
#: takes a bead out here and there
BRIDGE_MM = 6.0
#: the chest wall proper on the pleura (intercostal muscles, at least ~5 mm between the ribs; the
#: ribs themselves thicker): a superficial sheet lies outside it, a thin tissue layer closer to the
#: lung than this is the chest wall (mm)
CHEST_WALL_MM = 5.0
def depth_normal(body: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector (row, col components) of the local depth direction: the gradient of the
    distance to the skin (body outline), smoothed over 2 mm."""
    skin = ndi.gaussian_filter(ndi.distance_transform_edt(body).astype(np.float32), 2.0 / px)
    gr, gc = np.gradient(skin)
    n = np.hypot(gr, gc)
    n[n == 0] = 1.0
    return gr / n, gc / n


def ridge_excess(h: np.ndarray, normal: tuple[np.ndarray, np.ndarray], px: float,
                 offset_mm: float = RIDGE_OFFSET_MM, where: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(excess, darker)``: HU of ``h`` minus the brighter of the two samples ``offset_mm`` away
    along ``normal`` (bilinear), averaged along the course (across ``normal``) over
    ``COURSE_MEAN_MM``; and the darker of the two samples. The excess is positive on a bright
    sheet thinner than about twice the offset running across the normal, near zero inside thick
    tissue, negative at an edge's darker side. With ``where``, computed only there (elsewhere
    excess 0, darker -inf)."""
    half = 0.5 * COURSE_MEAN_MM / px
    if where is None:
        where = np.ones(h.shape, bool)
    # the raw excess is needed within half the averaging length of ``where``
    k = int(np.ceil(half)) + 1
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    near = ndi.binary_dilation(where, structure=xx ** 2 + yy ** 2 <= k * k)
    h32 = h.astype(np.float32)
    d = offset_mm / px
    r, c = np.nonzero(near)
    nr, nc = normal[0][r, c], normal[1][r, c]
    a = ndi.map_coordinates(h32, [r + d * nr, c + d * nc], order=1, mode="nearest")
    b = ndi.map_coordinates(h32, [r - d * nr, c - d * nc], order=1, mode="nearest")
    raw = np.zeros(h.shape, np.float32)
    raw[r, c] = h32[r, c] - np.maximum(a, b)
    darker = np.full(h.shape, -np.inf, np.float32)
    darker[r, c] = np.minimum(a, b)
    r, c = np.nonzero(where)
    tr, tc = -normal[1][r, c], normal[0][r, c]
    ks = np.arange(-half, half + 1e-6, 1.0)
    acc = np.zeros(len(r), np.float32)
    for kk in ks:
        acc += ndi.map_coordinates(raw, [r + kk * tr, c + kk * tc], order=1, mode="nearest")
    excess = np.zeros(h.shape, np.float32)
    excess[r, c] = acc / len(ks)
    return excess, darker


def near_lung(h: np.ndarray, px: float) -> np.ndarray:
    """Pixels within ``CHEST_WALL_MM`` of air enclosed by tissue (the lungs; HU of ``h`` below the
    fat window)."""

    air = ndi.binary_fill_holes(h > FAT_HU[0]) & (h < FAT_HU[0])
    return ndi.distance_transform_edt(~air) * px <= CHEST_WALL_MM if air.any() else np.zeros_like(air)


def pieces_on_pleura(mask: np.ndarray, lung_near: np.ndarray) -> np.ndarray:
    """Pieces (8-connected) of ``mask`` with more than half of their pixels within
    ``CHEST_WALL_MM`` of the lung (``lung_near``, ``near_lung``): the chest wall on the pleura
    (intercostal muscles between the ribs), which a superficial sheet lying on the ribs' outer
    surfaces, or on the intercostals between them, is not."""
    lab, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros_like(mask)
    idx = np.arange(1, n + 1)
    frac = np.asarray(ndi.mean(lung_near, lab, idx))
    return np.isin(lab, idx[frac > 0.5])


#: angular bin (deg of the normalised trunk angle, ``morphology.trunk_angle``) in which two sheets
#: are compared: ~5 mm of the lateral trunk wall
SAME_ANGLE_BIN_DEG = 2.0


def same_angle_as(mask: np.ndarray, other: np.ndarray, ang: np.ndarray,
                  bin_deg: float = SAME_ANGLE_BIN_DEG) -> np.ndarray:
    """Pixels of ``mask`` in the ``bin_deg`` bins of the trunk angle ``ang`` (deg) that also hold
    pixels of ``other``: where two sheets of the wall meet edge to edge, the part of one lying at
    the other's angles (beside or beneath it) is the other's."""
    bins = (ang // bin_deg).astype(int)
    return mask & np.isin(bins, np.unique(bins[other]))


def ridge_threshold(excess: np.ndarray, fat: np.ndarray) -> tuple[float, float] | None:
    """The course thresholds (HU; low, high): median plus ``RIDGE_NOISE_SIGMAS_LOW`` and
    ``RIDGE_NOISE_SIGMAS`` robust SDs (scaled median absolute deviation) of ``excess`` over pure fat
    (``fat`` eroded by one pixel); None with fewer than 50 such pixels."""
    core = ndi.binary_erosion(fat, structure=np.ones((3, 3), bool))
    if core.sum() < 50:
        return None
    v = excess[core]
    med = float(np.median(v))
    sd = 1.4826 * float(np.median(np.abs(v - med)))
    return med + RIDGE_NOISE_SIGMAS_LOW * sd, med + RIDGE_NOISE_SIGMAS * sd


def along_course_labels(lab: np.ndarray, normal: tuple[np.ndarray, np.ndarray], half_px: float) -> np.ndarray:
    """Label image ``lab`` spread along the course (across ``normal``) by ``half_px`` pixels; where
    labels meet, the larger id. (A boolean ``lab`` gives the mask dilated along the course.)"""
    out = lab.copy()
    box = mask_box(lab != 0, int(np.ceil(half_px)) + 1)
    if box is None:
        return out
    sub = lab[box]
    rr, cc = np.indices(sub.shape, dtype=np.float32)
    tr, tc = -normal[1][box], normal[0][box]
    acc = sub.copy()
    src = sub.astype(np.int32) if sub.dtype == bool else sub
    for k in np.arange(0.5, half_px + 1e-6, 0.5):
        for sgn in (k, -k):
            v = ndi.map_coordinates(src, [rr + sgn * tr, cc + sgn * tc], order=0, mode="constant", cval=0)
            acc = (acc | (v > 0)) if sub.dtype == bool else np.maximum(acc, v)
    out[box] = acc
    return out


def along_course(mask: np.ndarray, normal: tuple[np.ndarray, np.ndarray], half_px: float) -> np.ndarray:
    """Pixels with a pixel of ``mask`` within ``half_px`` pixels along their own tangent (the
    direction across ``normal``): ``mask`` dilated along the sheet's course only."""
    return along_course_labels(mask.astype(bool), normal, half_px)


def follow_course(sheet: np.ndarray, excess: tuple[np.ndarray, np.ndarray], threshold_hu: tuple[float, float],
                  where: np.ndarray, normal: tuple[np.ndarray, np.ndarray], h: np.ndarray, px: float,
                  muscle_window_lo: float = -29.0, lung_near: np.ndarray | None = None) -> np.ndarray:
    """Pixels of the thin sheet's course reached from ``sheet`` (the pieces found; 8-connected,
    gaps up to ``BRIDGE_MM`` along the course bridged) through ridge pixels within ``where``:
    ``excess`` (``ridge_excess``'s pair) above ``threshold_hu`` (``ridge_threshold``'s pair, with
    hysteresis: above the low one in a piece that holds a pixel above the high one) with the
    darker side at least fat and more than ``CHEST_WALL_MM`` from air (``lung_near``, computed by
    ``near_lung`` when not given), with their 8-neighbours in
    ``where`` at or above ``muscle_window_lo`` (HU of ``h``). Returns the course pixels not already
    in ``sheet``."""

    if not sheet.any():
        return np.zeros_like(sheet)
    ex, darker = excess
    # a superficial sheet lies in fat or on muscle; a thin layer of tissue on air, or less than
    # CHEST_WALL_MM from the lung, is the chest wall on the pleura, no sheet
    if lung_near is None:
        lung_near = near_lung(h, px)
    ok = where & (darker >= FAT_HU[0]) & ~lung_near
    ridge = apply_hysteresis_threshold(np.where(ok, ex, -np.inf), *threshold_hu)
    if not ridge.any():
        return np.zeros_like(sheet)
    eight = np.ones((3, 3), bool)
    bridged = along_course(ridge, normal, 0.5 * BRIDGE_MM / px)
    lab, n = ndi.label(bridged | sheet, structure=eight)
    ids = np.unique(lab[sheet])
    ids = ids[ids > 0]
    course = ridge & np.isin(lab, ids)
    # with each course pixel its neighbours in the muscle window (the rest of a bead: the area
    # integral counts only mixtures below the window beside the outline)
    course |= ndi.binary_dilation(course, structure=eight) & where & (h >= muscle_window_lo)
    return course & ~sheet


#: half-width of the band beside a thin sheet's outline over which its CT numbers are integrated
#: (mm): the spread of a sub-pixel sheet in the plane (a 2 mm CT pixel's half-width, the 1 mm
#: PSF and the plane's linear interpolation)
AREA_BAND_MM = 2.0


def course_area_mm2(outline: np.ndarray, hu: np.ndarray, other: np.ndarray, px: float, fat_hu: float,
                    muscle_hu: float, band_mm: float = AREA_BAND_MM) -> float:
    """Area (mm^2) of a thin sheet as the partial-volume HU integral across its course.

    A pixel of ``outline`` more than ``band_mm`` inside it counts 1 (muscle or the intramuscular
    fat it encloses: the anatomical CSA); the outline's other pixels count by their muscle
    fraction ``(HU - fat_hu) / (muscle_hu - fat_hu)`` clipped to 0..1 (a sheet up to twice
    ``band_mm`` thick has no interior: its mask's middle row is as much a fat/muscle mixture as its
    border); the fat/muscle mixtures and fat (below the muscle window) within ``band_mm`` of it that
    no other group holds (``other``) count by their muscle fraction at most 1 and *not* clipped at
    0: over pure fat the noise then sums to nothing, while a fraction clipped at 0 adds a positive
    bias of a few percent of a pixel per band pixel, as much as a sub-millimetre sheet's own area
    over a band several pixels wide."""

    if not outline.any():
        return 0.0
    if muscle_hu - fat_hu < 30.0:
        return float(outline.sum()) * px * px
    r = band_mm / px
    k = int(np.ceil(r))
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    near = ndi.binary_dilation(outline, structure=xx ** 2 + yy ** 2 <= r * r + 1e-9)
    free = ~outline & ~other
    band = near & free & (hu < MUSCLE_HU[0]) & (hu >= FAT_HU[0])
    f = lambda v: np.minimum((v - fat_hu) / (muscle_hu - fat_hu), 1.0)  # noqa: E731
    # more than the band's width inside the outline: muscle or the intramuscular fat it encloses
    inner = ndi.distance_transform_edt(outline) * px > band_mm
    rim = outline & ~inner
    n = float(inner.sum()) + float(np.clip(f(hu[rim]), 0.0, None).sum()) + float(f(hu[band]).sum())
    return max(n, 0.0) * px * px


def thin_sheet_areas(outlines: dict[int, np.ndarray], sheet_ids: set[int], hu: np.ndarray,
                     px: float) -> dict[int, float]:
    """``course_area_mm2`` of the groups ``sheet_ids`` among ``outlines`` ({label id: outline}
    of every group of one plane; an unlabelled pixel belongs to the band of its nearest group only,
    as in ``partial_volume``): pure fat from ``partial_volume.pure_fat_hu``, muscle the
    median of all groups' interior muscle-window pixels (a thin sheet has no interior of its own).
    Empty when the plane has no pure fat or too little muscle interior for references."""
    from .partial_volume import pure_fat_hu

    todo = [i for i in outlines if i in sheet_ids]
    fat_hu = pure_fat_hu(hu) if todo else None
    if fat_hu is None:
        return {}
    win = (hu >= MUSCLE_HU[0]) & (hu <= MUSCLE_HU[1])
    cross = ndi.generate_binary_structure(2, 1)
    interior = [hu[ndi.binary_erosion(m, structure=cross) & win] for m in outlines.values()]
    pooled = np.concatenate(interior) if interior else np.array([])
    if len(pooled) < 10:
        return {}
    muscle_hu = float(np.median(pooled))
    lab = np.zeros(hu.shape, np.int32)
    for j, m in outlines.items():
        lab[m & (lab == 0)] = j
    # each unlabelled pixel goes to the band of its nearest group only (the fat plane between two
    # sheets holds the partial volume of both)
    _, (ri, ci) = ndi.distance_transform_edt(lab == 0, return_indices=True)
    nearest = lab[ri, ci]
    out = {}
    for i in todo:
        out[i] = course_area_mm2(lab == i, hu, (lab != i) & (lab > 0) | ((lab == 0) & (nearest != i)), px,
                                 fat_hu, muscle_hu)
    return out


#: a piece of a sheet's mask is beneath the sheet when most of its outer surface sees another
#: piece of it outwards (towards the skin, along the depth direction) across a fat gap at least
#: this wide (mm: a fascial fat plane, not a fatty streak within the muscle) ...
BENEATH_MIN_GAP_MM = 2.0
#: ... and at most this deep (mm; the depth of the superficial wall layers below the fat)
BENEATH_MAX_MM = 25.0


def sample_outward(img: np.ndarray, normal: tuple[np.ndarray, np.ndarray], rows: np.ndarray,
                   cols: np.ndarray, k: float) -> np.ndarray:
    """Values of ``img`` at the pixels (``rows``, ``cols``) moved ``k`` pixels outwards, i.e. along
    ``-normal`` (a unit field pointing inwards, ``depth_normal``), nearest pixel; 0 outside the image."""
    shape = img.shape
    r = np.rint(rows - k * normal[0][rows, cols]).astype(int)
    c = np.rint(cols - k * normal[1][rows, cols]).astype(int)
    ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    return np.where(ok, img[np.clip(r, 0, shape[0] - 1), np.clip(c, 0, shape[1] - 1)], 0)


def outer_surface(lab: np.ndarray, normal: tuple[np.ndarray, np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outer surface pixels of the labelled pieces ``lab`` (those whose outward neighbour,
    ``sample_outward`` by one pixel, is not in their own piece): (rows, cols, piece label)."""
    rows, cols = np.nonzero(lab)
    own = lab[rows, cols]
    surface = sample_outward(lab, normal, rows, cols, 1.0) != own
    return rows[surface], cols[surface], own[surface]


def beneath_own_sheet(mask: np.ndarray, normal: tuple[np.ndarray, np.ndarray], px: float) -> np.ndarray:
    """Pieces (8-connected) of a sheet's ``mask`` lying beneath another piece of it: from more than
    half of the piece's outer surface pixels (those whose outward neighbour along ``-normal`` is not
    in the piece) the first pixel of the mask met outwards belongs to another piece, across a gap of
    at least ``BENEATH_MIN_GAP_MM`` and within ``BENEATH_MAX_MM``. Where a sheet thinner than a pixel
    is imaged as beads, the wall rays pass between them to the next tissue, whose first run then
    falls in the sheet's sector; a sheet is one layer, so what lies under its own course is not it.
    A thick sheet split by a fatty streak (a gap under ``BENEATH_MIN_GAP_MM``) keeps both parts."""
    lab, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    out = np.zeros_like(mask)
    if n < 2:
        return out
    # the course: each piece spread along the sheet by half the bead gap (``BRIDGE_MM``), so that a
    # piece under the gap between two beads is under the course
    course = along_course_labels(lab, normal, 0.5 * BRIDGE_MM / px)
    rows, cols, own = outer_surface(lab, normal)
    first = np.zeros(len(rows), np.int32)  # label of the first other piece met outwards
    dist = np.zeros(len(rows), np.float32)
    for k in np.arange(1.0, BENEATH_MAX_MM / px + 1e-6, 0.5):
        hit = sample_outward(course, normal, rows, cols, k)
        new = (first == 0) & (hit > 0) & (hit != own)
        first[new] = hit[new]
        dist[new] = k
    beneath = (first > 0) & ((dist - 1.0) * px >= BENEATH_MIN_GAP_MM)
    frac = np.bincount(own, weights=beneath, minlength=n + 1) / np.maximum(np.bincount(own, minlength=n + 1), 1)
    drop = np.nonzero(frac > 0.5)[0]
    return np.isin(lab, drop[drop > 0])

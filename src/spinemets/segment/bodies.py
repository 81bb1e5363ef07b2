"""Vertebral bodies and local frames from a vertebra label map (any backend).

For each vertebra, in physical (LPS mm) space:

* body centre: centroid of the thickest part of the vertebra (distance to its surface at least
  70 % of the maximum), which lies in the vertebral body;
* cranial axis ``axis_si``: from the centroid of the vertebra below to the one above (one-sided at
  the ends of the chain and beside a neighbour cut by the edge of the volume, whose centroid is
  displaced; +z for a lone vertebra), later re-estimated from the body centroids;
* anterior axis ``axis_ap``: first from the centroid of the whole vertebra (pulled back by the
  posterior elements) towards the body centre, made orthogonal to ``axis_si``; then turned about
  ``axis_si`` (up to ``SYMMETRY_MAX_DEG``) to the mid-sagittal plane, the plane through the body
  centre containing ``axis_si`` about which the vertebra is most nearly mirror-symmetric (an
  asymmetric transverse process, rib stub or missing facet no longer tilts the frame sideways);
  a plane turned more than ``MAX_SEGMENT_ROTATION_DEG`` from both neighbours (which agree) is the
  vertebra's own asymmetry (one-sided lytic defect, fracture): their mean direction is used;
* posterior wall: in the mid-sagittal band (``MIDLINE_HALF_WIDTH_MM`` either side), the vertebra is
  resampled in its frame and every sagittal column (fixed height and lateral position) is walked
  from the body centre backwards to the first gap of at least ``CANAL_GAP_MM`` (the spinal canal);
  the column's end is the front of the canal there. The wall is the robust line through these
  ends along the cranial axis (median per height, Theil-Sen over heights), so a basivertebral
  foramen or a lytic defect of the posterior cortex (a notch in a few columns) does not move it;
* body: the part of the vertebra in front of the wall (pedicles, laminae and processes removed),
  its largest connected piece, plus the unlabelled voxels it encloses in front of the wall in an
  axial, coronal or sagittal plane of the CT grid: the basivertebral venous channel (a notch of
  soft tissue through the posterior cortex into the centre that a bone mask leaves open) and
  marrow or lytic cavities the vertebra map did not fill. The body never takes a voxel of another
  label; it can hold voxels the vertebra map leaves unlabelled.

Without the CT, no intensity is used: end plates and rims are those of the vertebra map (a
partial-volume slice of end plate + disc kept in the vertebra map stays in the body). With the CT
(``extract_bodies(..., ct=)``, the classic backend), each body column's end slices beyond its end
plate's edge on the HU profile along the cranial axis are taken off (``endplates.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.stats import theilslopes

from ..image import CTImage, Geometry, LabelMap
from .endplates import trim_end_plates

#: Half width of the midline band used to find the canal (mm) and minimum canal gap (mm).
MIDLINE_HALF_WIDTH_MM = 5.0
CANAL_GAP_MM = 4.0
#: Fallback posterior-wall distance as a multiple of the inscribed body radius.
FALLBACK_WALL_FACTOR = 1.1
#: The canal is searched up to this multiple of the inscribed body radius (+ one canal gap)
#: behind the body centre (the wall lies at about 1.1 radii; the spinous process far beyond).
WALL_REACH_FACTOR = 3.0
#: Mid-sagittal plane search: largest turn of the first anterior axis about the cranial axis (deg).
SYMMETRY_MAX_DEG = 30.0
#: Largest axial rotation between adjacent vertebrae (deg): the physiological intersegmental range
#: is about 1-3 deg per side in the lumbar and up to ~9 deg in the thoracic spine (White & Panjabi),
#: more than that only at the apex of a severe scoliosis; a mirror plane turned further from both
#: neighbours is taken as the vertebra's own asymmetry (lesion, fracture), not its rotation.
MAX_SEGMENT_ROTATION_DEG = 12.0
#: Largest tilt of the posterior wall against the cranial axis (deg; the wall is near parallel).
WALL_MAX_TILT_DEG = 15.0
#: At most this many vertebra voxels are mirrored per trial plane (a regular subsample).
SYMMETRY_POINTS = 8000
#: Depth of the central concavity of an end plate (mm): a cavity closed into the body must lie at
#: least this far inside along the slice axis unless body lies beyond it on both sides.
END_PLATE_CONCAVITY_MM = 3.0


@dataclass
class VertebraFrame:
    label: int
    centroid_lps_mm: np.ndarray
    body_centroid_lps_mm: np.ndarray | None
    axis_si_lps: np.ndarray
    axis_ap_lps: np.ndarray  # points anteriorly
    volume_mm3: float
    body_volume_mm3: float
    touches_border: bool
    wall_found: bool


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else fallback


def _points(lm: LabelMap, sl: tuple[slice, ...], m: np.ndarray) -> np.ndarray:
    idx = np.argwhere(m).astype(float)
    idx += np.array([s.start for s in sl], float)
    return lm.geometry.index_zyx_to_lps(idx)


def _crop_offset(sl: tuple[slice, ...]) -> np.ndarray:
    return np.array([x.start for x in sl], float)


def _lps_to_crop_index(geom: Geometry, sl: tuple[slice, ...], lps: np.ndarray) -> np.ndarray:
    return geom.lps_to_index_zyx(lps) - _crop_offset(sl)


def _mirror_ap(m: np.ndarray, sl: tuple[slice, ...], geom: Geometry, core: np.ndarray,
               ax: np.ndarray, ap0: np.ndarray) -> np.ndarray:
    """Anterior axis in the mid-sagittal plane: ``ap0`` turned about ``ax`` by the angle (and the
    plane shifted sideways by the offset) whose mirror image of the vertebra overlaps it most."""
    idx = np.argwhere(m)
    if len(idx) < 8:
        return ap0
    idx = idx[:: max(1, int(np.ceil(len(idx) / SYMMETRY_POINTS)))]
    pts = geom.index_zyx_to_lps(idx + _crop_offset(sl)) - core
    lat0 = np.cross(ax, ap0)
    shape = np.array(m.shape)

    def score(theta_deg: float, off_mm: float) -> float:
        t = np.radians(theta_deg)
        ap = np.cos(t) * ap0 + np.sin(t) * lat0
        lat = np.cross(ax, ap)
        d = pts @ lat - off_mm
        q = np.rint(_lps_to_crop_index(geom, sl, pts - 2.0 * d[:, None] * lat + core)).astype(int)
        ok = np.all((q >= 0) & (q < shape), axis=1)
        return float(m[tuple(q[ok].T)].sum()) / len(pts)

    coarse = np.arange(-SYMMETRY_MAX_DEG, SYMMETRY_MAX_DEG + 1e-9, 3.0)
    best_t = max(coarse, key=lambda t: score(t, 0.0))
    step = float(min(geom.spacing_mm))
    trials = [(t, o) for t in best_t + np.arange(-3.0, 3.01, 1.0)
              for o in np.arange(-2.0, 2.01, 1.0) * 0.5 * step]
    best_t, _ = max(trials, key=lambda to: (score(*to), -abs(to[0] - best_t), -abs(to[1])))
    t = np.radians(best_t)
    return _unit(np.cos(t) * ap0 + np.sin(t) * lat0, ap0)


def _wall_line(m: np.ndarray, sl: tuple[slice, ...], geom: Geometry, core: np.ndarray,
               ax: np.ndarray, ap: np.ndarray, rel_s: np.ndarray, rel_a: np.ndarray,
               reach_mm: float) -> tuple[float, float, float] | None:
    """(intercept, slope, grid step) of the posterior wall ``a = intercept + slope * s`` (mm from the
    body centre along ``ap`` and ``ax``), or None when no column of the midline band reaches the
    canal. ``rel_s``/``rel_a``: the vertebra voxels' coordinates, for the grid's extent; columns
    are walked back at most ``reach_mm`` from the centre. Grid step: half the finest voxel
    spacing, 0.5-1.5 mm."""
    h = float(np.clip(0.5 * min(geom.spacing_mm), 0.5, 1.5))
    lat = np.cross(ax, ap)
    s_vals = np.arange(np.floor(rel_s.min() / h) * h, rel_s.max() + h, h)
    a_vals = -np.arange(0.0, min(max(0.0, -rel_a.min()), reach_mm) + h, h)  # from the centre back
    l_vals = np.arange(-MIDLINE_HALF_WIDTH_MM, MIDLINE_HALF_WIDTH_MM + 1e-9, h)
    if a_vals.size < 2 or s_vals.size < 1:
        return None
    # crop index of core + s*ax + a*ap + l*lat, linear in (s, a, l)
    q0 = _lps_to_crop_index(geom, sl, core[None])[0]
    u = _lps_to_crop_index(geom, sl, core + np.stack([ax, ap, lat])) - q0
    q = [q0[k] + s_vals[:, None, None] * u[0, k] + a_vals[None, :, None] * u[1, k]
         + l_vals[None, None, :] * u[2, k] for k in range(3)]
    M = ndi.map_coordinates(m.astype(np.float32), q, order=1, cval=0.0) > 0.5
    # in front of the centre (to the vertebra's front): a column whose centre sample lies in a
    # cavity the vertebra map left open (lytic marrow at the body's centre) still runs through the
    # body when there is vertebra in front of it
    f_vals = np.arange(h, max(float(rel_a.max()), h) + h, h)
    qf = [q0[k] + s_vals[:, None, None] * u[0, k] + f_vals[None, :, None] * u[1, k]
          + l_vals[None, None, :] * u[2, k] for k in range(3)]
    front = (ndi.map_coordinates(m.astype(np.float32), qf, order=1, cval=0.0) > 0.5).any(axis=1)
    g = max(2, int(np.ceil(CANAL_GAP_MM / h)))
    # beyond the grid: empty when the grid reaches the vertebra's back, else unknown (not a gap)
    beyond = np.full((M.shape[0], g, M.shape[2]), -rel_a.min() <= reach_mm)
    F = np.concatenate([~M, beyond], axis=1).astype(np.int32)
    cs = np.concatenate([np.zeros((M.shape[0], 1, M.shape[2]), np.int32), np.cumsum(F, axis=1)], axis=1)
    gap = (cs[:, g:, :] - cs[:, :-g, :]) == g  # gap[:, k] : samples k..k+g-1 all empty
    gap[:, 0, :] = False
    # a gap starting at the centre (the column starts in such a cavity) is not the canal: the
    # first gap behind the bone that follows it is
    in_cavity = ~M[:, 0, :]
    lead = np.cumprod(F, axis=1).astype(bool)  # the empty run the column starts with
    gap &= ~lead[:, :gap.shape[1], :]
    has = gap.any(axis=1) & (M[:, 0, :] | (in_cavity & front & M.any(axis=1)))
    first = np.argmax(gap, axis=1)  # first canal gap behind the centre
    ends = np.where(has, a_vals[np.clip(first - 1, 0, a_vals.size - 1)], np.nan)
    need = max(1, l_vals.size // 3)
    rows = [(s, float(np.nanmedian(e))) for s, e in zip(s_vals, ends) if np.isfinite(e).sum() >= need]
    if not rows:
        return None
    rs, re = np.array(rows).T
    slope = 0.0
    if len(rows) >= 3 and np.ptp(rs) > 0:
        lim = np.tan(np.radians(WALL_MAX_TILT_DEG))
        slope = float(np.clip(theilslopes(re, rs)[0], -lim, lim))
    return float(np.median(re - slope * rs)), slope, h


def _closed_channels(bm: np.ndarray, labels: np.ndarray, vid: int, sl: tuple[slice, ...],
                     geom: Geometry, core: np.ndarray, ax: np.ndarray, ap: np.ndarray,
                     line: tuple[float, float, float]) -> np.ndarray:
    """Unlabelled voxels in front of the wall that the body encloses in an axial, coronal or
    sagittal plane of the CT grid, away from the open end plates (below): the basivertebral venous
    channel entering through the posterior cortex, and marrow or lytic cavities the vertebra map
    left open; not the disc inside the rim of a concave end plate.
    Never another label's voxels."""
    out = np.zeros_like(bm)
    if not bm.any():
        return out
    # work in the body's bounding box (one voxel of margin): holes lie inside it
    box = tuple(slice(max(0, x.start - 1), min(n, x.stop + 1))
                for x, n in zip(ndi.find_objects(bm.astype(np.uint8))[0], bm.shape))
    sub_sl = tuple(slice(a.start + b.start, a.start + b.stop) for a, b in zip(sl, box))
    out[box] = _closed_in_box(bm[box], labels[box], vid, sub_sl, geom, core, ax, ap, line)
    return out


def beyond_end_plate_concavity(bone: np.ndarray, cavity: np.ndarray, need_slices: float) -> np.ndarray:
    """Voxels of ``cavity`` ([z, y, x]) that along z have ``bone`` beyond them on both sides, or at
    least ``need_slices`` slices of bone or cavity between them and the open end: the disc that
    fills the centre of a concave end plate, inside its rim, has nothing of the vertebra beyond it
    and is at most the concavity deep (``END_PLATE_CONCAVITY_MM``), whereas a lytic cavity
    opened through an end plate is kept but for its last concavity depth (as ``_closed_in_box`` here and ``classic.lytic``)."""
    u = bone | cavity
    ok = np.ones(bone.shape, bool)
    for order in (slice(None), slice(None, None, -1)):
        uu, bb = u[order], bone[order]
        run = np.zeros(bone.shape[1:], np.int32)
        seen = np.zeros(bone.shape[1:], bool)
        side = np.zeros(bone.shape, bool)
        for k in range(bone.shape[0]):
            side[k] = seen | (run >= need_slices)
            run = np.where(uu[k], run + 1, 0)
            seen |= bb[k]
        ok &= side[order]
    return cavity & ok


def _closed_in_box(bm: np.ndarray, labels: np.ndarray, vid: int, sl: tuple[slice, ...],
                   geom: Geometry, core: np.ndarray, ax: np.ndarray, ap: np.ndarray,
                   line: tuple[float, float, float]) -> np.ndarray:
    c0, c1, h = line
    # signed distance in front of the wall, a linear function of the voxel index (z, y, x)
    normal = ap - c1 * ax
    jac = geom.index_zyx_to_lps(np.eye(3)) - geom.index_zyx_to_lps(np.zeros(3))  # row k: d(lps)/d(idx_k)
    w = jac @ normal
    base = (geom.index_zyx_to_lps(_crop_offset(sl)) - core) @ normal - (c0 - 0.5 * h)
    zz, yy, xx = (np.arange(n, dtype=float) for n in bm.shape)
    front = (base + w[0] * zz[:, None, None] + w[1] * yy[None, :, None] + w[2] * xx[None, None, :]) >= 0
    filled = np.zeros_like(bm)
    for axis in range(3):
        for i in range(bm.shape[axis]):
            cut = [slice(None)] * 3
            cut[axis] = i
            filled[tuple(cut)] |= ndi.binary_fill_holes(bm[tuple(cut)])
    cand = filled & front & ~bm & ((labels == 0) | (labels == vid))
    return beyond_end_plate_concavity(bm, cand, END_PLATE_CONCAVITY_MM / float(geom.spacing_mm[2]))


def _neighbour_consistent_ap(aps: list[np.ndarray], si: list[np.ndarray], cut: list[bool]
                             ) -> list[np.ndarray]:
    """Anterior axes (chain order) with each one that is turned about its cranial axis by more than
    ``MAX_SEGMENT_ROTATION_DEG`` from both of its neighbours, while those (not cut by the volume's
    edge) agree with each other within that angle, replaced by their mean direction: a lytic
    defect or fracture on one side makes the vertebra itself asymmetric, and its mirror plane
    turns away (seed 4 L1: 26 degrees against +-1 for every other level)."""
    lim = np.radians(MAX_SEGMENT_ROTATION_DEG)

    def turn(a: np.ndarray, b: np.ndarray, ax: np.ndarray) -> float:
        a2, b2 = _unit(a - (a @ ax) * ax, a), _unit(b - (b @ ax) * ax, b)
        return float(np.arctan2(np.cross(a2, b2) @ ax, a2 @ b2))

    out = list(aps)
    for k in range(1, len(aps) - 1):
        if cut[k - 1] or cut[k + 1]:
            continue
        ax = si[k]
        lo, hi = aps[k - 1], aps[k + 1]
        if abs(turn(lo, hi, ax)) > lim:
            continue
        if abs(turn(lo, aps[k], ax)) > lim and abs(turn(hi, aps[k], ax)) > lim:
            ref = lo + hi
            out[k] = _unit(ref - (ref @ ax) * ax, aps[k])
    return out


def extract_bodies(vertebrae: LabelMap, ids: list[int] | None = None, ct: CTImage | None = None
                   ) -> tuple[LabelMap, dict[int, VertebraFrame]]:
    """Body label map (same ids) and a frame per vertebra id, ordered caudal to cranial.

    ``ct`` (HU on the same grid), when given: each body's end slices beyond its end plates'
    half-maximum edges are taken off (``endplates.trim_end_plates``)."""
    arr = vertebrae.array
    geom = vertebrae.geometry
    sp_zyx = np.asarray(geom.spacing_mm)[::-1]
    ids = sorted(ids if ids is not None else vertebrae.present_ids())
    objs = ndi.find_objects(arr)
    info: dict[int, dict] = {}
    for vid in ids:
        if vid - 1 >= len(objs) or objs[vid - 1] is None:
            continue
        sl = tuple(slice(max(0, s.start - 1), min(n, s.stop + 1)) for s, n in zip(objs[vid - 1], arr.shape))
        m = arr[sl] == vid
        edt = ndi.distance_transform_edt(m, sampling=sp_zyx)
        pts = _points(vertebrae, sl, m)
        thick = edt[m] >= 0.7 * edt.max()
        border = any(s.start == 0 or s.stop == n for s, n in zip(objs[vid - 1], arr.shape))
        info[vid] = dict(sl=sl, m=m, pts=pts, centroid=pts.mean(0), core=pts[thick].mean(0),
                         rmax=float(edt.max()), border=border)
    # order along the spine by the centroid's projection on the chain's main direction
    order = sorted(info, key=lambda v: info[v]["centroid"][2])
    cents = np.array([info[v]["centroid"] for v in order]) if order else np.zeros((0, 3))

    # a neighbour cut by the edge of the volume has a displaced centroid: not used for axes
    cut = [info[v]["border"] for v in order]

    def si_axes(points: np.ndarray) -> list[np.ndarray]:
        out = []
        for k in range(len(points)):
            lo = points[k - 1] if k > 0 and not cut[k - 1] else points[k]
            hi = points[k + 1] if k + 1 < len(points) and not cut[k + 1] else points[k]
            out.append(_unit(hi - lo, np.array([0.0, 0.0, 1.0])))
        return out

    si = si_axes(cents)
    body_arr = np.zeros_like(arr)
    frames: dict[int, VertebraFrame] = {}
    body_cents = []
    aps = []
    for k, vid in enumerate(order):
        d = info[vid]
        ax = si[k]
        ap = d["core"] - d["centroid"]
        ap = _unit(ap - (ap @ ax) * ax, np.array([0.0, -1.0, 0.0]))
        aps.append(_mirror_ap(d["m"], d["sl"], geom, d["core"], ax, ap))
    aps = _neighbour_consistent_ap(aps, si, cut)
    for k, vid in enumerate(order):
        d = info[vid]
        ax = si[k]
        ap = aps[k]
        rel = d["pts"] - d["core"]
        s_rel, a_rel = rel @ ax, rel @ ap
        line = _wall_line(d["m"], d["sl"], geom, d["core"], ax, ap, s_rel, a_rel,
                          WALL_REACH_FACTOR * d["rmax"] + CANAL_GAP_MM)
        found = line is not None
        if line is None:
            body_sel = a_rel >= -FALLBACK_WALL_FACTOR * d["rmax"]
        else:
            c0, c1, h = line
            body_sel = a_rel >= c0 + c1 * s_rel - 0.5 * h
        bm = np.zeros_like(d["m"])
        bm[d["m"]] = body_sel
        # keep the component holding the body core
        lab, n = ndi.label(bm)
        if n > 1:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            bm = lab == int(np.argmax(sizes))
        if line is not None:
            bm |= _closed_channels(bm, arr[d["sl"]], vid, d["sl"], geom, d["core"], ax, ap, line)
        sub = body_arr[d["sl"]]
        sub[bm] = vid
        bpts = _points(vertebrae, d["sl"], bm)
        bc = bpts.mean(0) if len(bpts) else None
        body_cents.append(bc if bc is not None else d["core"])
        vv = geom.voxel_volume_mm3
        frames[vid] = VertebraFrame(vid, d["centroid"], bc, ax, ap, float(d["m"].sum() * vv),
                                    float(bm.sum() * vv), d["border"], found)
    # re-estimate the cranial axes from body centroids, keep the anterior axis orthogonal
    if len(order) >= 2:
        si2 = si_axes(np.array(body_cents))
        for k, vid in enumerate(order):
            f = frames[vid]
            ax = si2[k]
            ap = _unit(f.axis_ap_lps - (f.axis_ap_lps @ ax) * ax, f.axis_ap_lps)
            f.axis_si_lps, f.axis_ap_lps = ax, ap
    if ct is not None:
        # each body lies in its vertebra's box: its own box is found there, not on the whole grid
        boxes: dict[int, tuple[slice, ...]] = {}
        for vid in frames:
            sl = info[vid]["sl"]
            ob = ndi.find_objects((body_arr[sl] == vid).view(np.uint8))
            if ob and ob[0] is not None:
                boxes[vid] = tuple(slice(a.start + b.start, a.start + b.stop) for a, b in zip(sl, ob[0]))
        _trim_to_end_plates(body_arr, ct, frames, boxes)
    labels = {k: v for k, v in vertebrae.labels.items() if k in frames}
    return LabelMap(body_arr, geom, labels), frames


def _trim_to_end_plates(body_arr: np.ndarray, ct: CTImage, frames: dict[int, VertebraFrame],
                        boxes: dict[int, tuple[slice, ...]]) -> None:
    """Take each body's partial-volume end slices off ``body_arr`` (in place) and update its
    frame's body centroid and volume. ``boxes``: each body's bounding box in ``body_arr``."""
    geom = ct.geometry
    margin = 3  # voxels around the body: room for the disc profile beyond the end plates
    for vid, f in frames.items():
        if vid not in boxes or f.body_centroid_lps_mm is None:
            continue
        sl = tuple(slice(max(0, s.start - margin), min(n, s.stop + margin))
                   for s, n in zip(boxes[vid], body_arr.shape))
        sub = body_arr[sl]
        bm = sub == vid
        keep = trim_end_plates(ct.array[sl], bm, geom, f.body_centroid_lps_mm, f.axis_si_lps, f.axis_ap_lps,
                               _crop_offset(sl))
        sub[bm & ~keep] = 0
        pts = geom.index_zyx_to_lps(np.argwhere(keep) + _crop_offset(sl))
        f.body_centroid_lps_mm = pts.mean(0) if len(pts) else None
        f.body_volume_mm3 = float(keep.sum() * geom.voxel_volume_mm3)

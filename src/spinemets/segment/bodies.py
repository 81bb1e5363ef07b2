"""Vertebral bodies and local frames from a vertebra label map (any backend).

For each vertebra, in physical (LPS mm) space:

* body centre: centroid of the thickest part of the vertebra (distance to its surface at least
  70 % of the maximum), which lies in the vertebral body;
* cranial axis ``axis_si``: from the centroid of the vertebra below to the one above (one-sided at
  the ends of the chain, +z for a lone vertebra), later re-estimated from the body centroids;
* anterior axis ``axis_ap``: from the centroid of the whole vertebra (pulled back by the posterior
  elements) towards the body centre, made orthogonal to ``axis_si``;
* posterior wall: along ``-axis_ap`` from the body centre, the first gap (>= 4 mm, two voxels at least) in the bone of
  the midline strip is the spinal canal; the body is the part of the vertebra anterior to it, which
  removes pedicles, laminae and processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..image import LabelMap

#: Half width of the midline strip used to find the canal (mm) and minimum canal gap (mm).
MIDLINE_HALF_WIDTH_MM = 5.0
CANAL_GAP_MM = 4.0
#: Fallback posterior-wall distance as a multiple of the inscribed body radius.
FALLBACK_WALL_FACTOR = 1.1


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


def extract_bodies(vertebrae: LabelMap, ids: list[int] | None = None) -> tuple[LabelMap, dict[int, VertebraFrame]]:
    """Body label map (same ids) and a frame per vertebra id, ordered caudal to cranial."""
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

    def si_axes(points: np.ndarray) -> list[np.ndarray]:
        out = []
        for k in range(len(points)):
            lo = points[max(k - 1, 0)]
            hi = points[min(k + 1, len(points) - 1)]
            out.append(_unit(hi - lo, np.array([0.0, 0.0, 1.0])))
        return out

    si = si_axes(cents)
    body_arr = np.zeros_like(arr)
    frames: dict[int, VertebraFrame] = {}
    body_cents = []
    for k, vid in enumerate(order):
        d = info[vid]
        ax = si[k]
        ap = d["core"] - d["centroid"]
        ap = _unit(ap - (ap @ ax) * ax, np.array([0.0, -1.0, 0.0]))
        lat = np.cross(ax, ap)
        rel = d["pts"] - d["core"]
        a = rel @ ap
        l = rel @ lat
        strip = np.abs(l) <= MIDLINE_HALF_WIDTH_MM
        step = float(sp_zyx.max())  # bins no finer than the voxels, or they show false gaps
        wall = None
        if strip.any():
            post = -a[strip]
            hist = np.bincount(np.clip(np.floor(post[post >= 0] / step).astype(int), 0, None),
                               minlength=1) if (post >= 0).any() else np.zeros(1, int)
            need = max(2, int(np.ceil(CANAL_GAP_MM / step)))
            run = 0
            for b in range(len(hist)):
                if hist[b] == 0:
                    run += 1
                    if run >= need:
                        wall = (b - run + 1) * step
                        break
                else:
                    run = 0
        found = wall is not None
        if wall is None:
            wall = FALLBACK_WALL_FACTOR * d["rmax"]
        body_sel = a >= -wall
        bm = np.zeros_like(d["m"])
        bm[d["m"]] = body_sel
        # keep the component holding the body core
        lab, n = ndi.label(bm)
        if n > 1:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            bm = lab == int(np.argmax(sizes))
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
    labels = {k: v for k, v in vertebrae.labels.items() if k in frames}
    return LabelMap(body_arr, geom, labels), frames

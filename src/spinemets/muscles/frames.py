"""Per-vertebra anatomical frames derived from a vertebra label map.

For every vertebra the frame has

* ``origin_lps_mm``: the centroid of the vertebral *body* (LPS mm). The body is separated from the
  posterior elements by a morphological opening of the vertebra mask with a ball whose radius is
  half the largest inscribed-ball radius of that vertebra (pedicles, laminae and processes are
  thinner than the body, so they open away; the radius scales with each vertebra's own size);
* ``superior``: the local spine axis (unit LPS vector, pointing cranially) estimated from the
  neighbouring body centroids (central difference; one-sided at the ends of the segmented run;
  the body's smallest principal axis when the vertebra has no neighbour);
* ``anterior``: unit vector perpendicular to ``superior`` pointing from the posterior elements
  to the body (i.e. towards the patient's front);
* ``left``: ``superior x anterior`` (towards the patient's left).

The mid-vertebral plane of a level passes through ``origin_lps_mm`` with normal ``superior``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .. import anatomy
from ..image import LabelMap


#: opening radius as a fraction of the vertebra's largest inscribed-ball radius; the larger one
#: also cuts thick thoracic pedicles on coarse (2-3 mm) grids, where the body's inscribed radius is
#: only about twice the pedicle's
BODY_OPEN_FRACTION = 0.5
BODY_OPEN_FRACTION_COARSE = 0.65
BODY_RIM_FRACTION = 0.2
#: the larger opening is used when it moves the body centroid by more than this fraction of the
#: inscribed radius (a pedicle pair was left attached by the smaller one)
BODY_SHIFT_FRACTION = 0.3


@dataclass(frozen=True)
class VertebraFrame:
    """Local frame of one vertebra (all vectors LPS unit vectors, positions LPS mm)."""

    level: str
    origin_lps_mm: np.ndarray
    superior: np.ndarray
    anterior: np.ndarray
    left: np.ndarray
    body_radius_mm: float  # radius of a disc with the body's mid-height cross-sectional area
    vertebra_centroid_lps_mm: np.ndarray
    touches_fov_edge: bool
    body_points_lps: np.ndarray  # LPS mm of the body voxels, (n, 3)
    points_lps: np.ndarray  # LPS mm of all voxels of the vertebra, (n, 3)

    def to_local(self, lps: np.ndarray) -> np.ndarray:
        """LPS mm ``(..., 3)`` -> (anterior, left, superior) mm relative to the body centroid."""
        d = np.asarray(lps, float) - self.origin_lps_mm
        return np.stack([d @ self.anterior, d @ self.left, d @ self.superior], axis=-1)


def _body_mask(mask: np.ndarray, spacing_zyx: np.ndarray, coarse_mm: float = 1.5) -> np.ndarray:
    """Vertebral body of one cropped vertebra mask: opening with half the max inscribed radius.

    Computed on a grid subsampled to about ``coarse_mm`` (the opening radius is several mm), then
    brought back to the full grid and intersected with the mask."""
    step = np.maximum(1, np.floor(coarse_mm / spacing_zyx)).astype(int)
    if np.any(step > 1):
        sub = mask[::step[0], ::step[1], ::step[2]]
        body = _body_mask(sub, spacing_zyx * step, coarse_mm=0.0)
        up = body.repeat(step[0], 0).repeat(step[1], 1).repeat(step[2], 2)
        up = up[: mask.shape[0], : mask.shape[1], : mask.shape[2]]
        pad = [(0, mask.shape[i] - up.shape[i]) for i in range(3)]
        return np.pad(up, pad, mode="edge") & mask
    edt = ndi.distance_transform_edt(mask, sampling=spacing_zyx)
    body = _opened_body(mask, edt, spacing_zyx, BODY_OPEN_FRACTION)
    if body is None:
        return mask
    # on coarse grids thick (thoracic) pedicles survive that opening and pull the body posteriorly;
    # a larger ball (rims given back) cuts them - used when it moves the centroid noticeably
    big = _opened_body(mask, edt, spacing_zyx, BODY_OPEN_FRACTION_COARSE)
    if big is not None:
        rim = BODY_RIM_FRACTION * float(edt.max())
        # rims the large ball rounded off (surface voxels near it only, not a pedicle's base)
        big |= (ndi.distance_transform_edt(~big, sampling=spacing_zyx) <= rim) & (edt <= rim) & mask
        shift = (np.argwhere(body).mean(0) - np.argwhere(big).mean(0)) * spacing_zyx
        if float(np.linalg.norm(shift)) > BODY_SHIFT_FRACTION * float(edt.max()):
            return big
    return body


def _opened_body(mask: np.ndarray, edt: np.ndarray, spacing_zyx: np.ndarray, frac: float) -> np.ndarray | None:
    """Component holding the deepest point of the opening of ``mask`` with a ball of ``frac``
    times the largest inscribed radius (None when too thin to open)."""
    r = frac * float(edt.max())
    if r < 0.5 * float(spacing_zyx.min()):
        return None
    core = edt >= r
    opened = (ndi.distance_transform_edt(~core, sampling=spacing_zyx) <= r) & mask
    lab, n = ndi.label(opened)
    if n == 0:
        return None
    deepest = np.unravel_index(int(np.argmax(edt)), edt.shape)
    keep = lab[deepest] if lab[deepest] else int(np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    return lab == keep


def vertebra_frames(vertebrae: LabelMap, levels: list[str] | None = None,
                    vertebrae_summary: dict | None = None) -> dict[str, VertebraFrame]:
    """Frames of all vertebrae T1-L5 present in ``vertebrae`` (cranial to caudal order).

    When ``vertebrae_summary`` (content of vertebrae.json) gives a ``body_centroid_lps_mm`` for a
    level, that centroid is used instead of the one estimated here.
    """
    geo = vertebrae.geometry
    spacing_zyx = np.asarray(geo.spacing_mm[::-1], float)
    arr = vertebrae.array
    levels = levels or anatomy.TARGET_LEVELS
    objs = ndi.find_objects(arr)  # any integer label dtype; no whole-volume int32 copy
    raw: dict[str, dict] = {}
    for lv in levels:
        vid = anatomy.vertebra_id(lv)
        if vid > len(objs) or objs[vid - 1] is None:
            continue
        sl = objs[vid - 1]
        m = arr[sl] == vid
        if m.sum() < 10:
            continue
        offs = np.array([s.start for s in sl], float)
        body = _body_mask(m, spacing_zyx)
        bidx = np.argwhere(body) + offs
        vidx = np.argwhere(m) + offs
        b_lps = geo.index_zyx_to_lps(bidx)
        v_lps = geo.index_zyx_to_lps(vidx)
        c_body = b_lps.mean(axis=0)
        summ = ((vertebrae_summary or {}).get("levels", {}) or {}).get(lv, {}) or {}
        if summ.get("body_centroid_lps_mm") is not None:
            c_body = np.asarray(summ["body_centroid_lps_mm"], float)
        # smallest principal axis of the body (fallback axis), oriented cranially
        cov = np.cov((b_lps - b_lps.mean(0)).T) if len(b_lps) > 3 else np.eye(3)
        w, vec = np.linalg.eigh(cov)
        ax = vec[:, 0] * (1 if vec[2, 0] >= 0 else -1)
        touches = any(s.start == 0 or s.stop == n for s, n in zip(sl, arr.shape))
        vol = body.sum() * float(np.prod(spacing_zyx))
        height = 2.0 * np.sqrt(max(w[0], 1e-6) * 3.0)  # uniform slab: var = h^2/12
        raw[lv] = {"c": c_body, "axis": ax, "vc": v_lps.mean(axis=0),
                   "touch": touches, "n": int(m.sum()), "bp": b_lps, "vp": v_lps, "r": float(np.sqrt(vol / max(height, 1e-3) / np.pi))}
    # a vertebra cut by the field of view and much smaller than its neighbours is unusable
    vols = {lv: r["n"] for lv, r in raw.items()}
    for lv in [lv for lv in raw if raw[lv]["touch"]]:
        others = [vols[o] for o in raw if o != lv and abs(anatomy.level_index(o) - anatomy.level_index(lv)) <= 2]
        if others and vols[lv] < 0.6 * float(np.median(others)):
            raw.pop(lv)
    present = [lv for lv in levels if lv in raw]
    frames: dict[str, VertebraFrame] = {}
    for i, lv in enumerate(present):
        up = raw[present[i - 1]]["c"] if i > 0 and _adjacent(present[i - 1], lv) else None
        dn = raw[present[i + 1]]["c"] if i + 1 < len(present) and _adjacent(lv, present[i + 1]) else None
        c = raw[lv]["c"]
        if up is not None and dn is not None:
            sup = up - dn
        elif up is not None:
            sup = up - c
        elif dn is not None:
            sup = c - dn
        else:
            sup = raw[lv]["axis"]
        sup = sup / np.linalg.norm(sup)
        post = raw[lv]["vc"] - c
        post = post - (post @ sup) * sup
        if np.linalg.norm(post) < 1.0:  # no posterior elements: use the patient's posterior (+y)
            post = np.array([0.0, 1.0, 0.0]) - sup[1] * sup
        ant = -post / np.linalg.norm(post)
        left = np.cross(sup, ant)
        left /= np.linalg.norm(left)
        frames[lv] = VertebraFrame(lv, c, sup, ant, left, raw[lv]["r"], raw[lv]["vc"], raw[lv]["touch"],
                                    raw[lv]["bp"], raw[lv]["vp"])
    return frames


def _adjacent(a: str, b: str) -> bool:
    return abs(anatomy.level_index(a) - anatomy.level_index(b)) <= 2

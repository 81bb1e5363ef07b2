"""Agreement of two vertebra label maps: per-vertebra Dice, HD95 and the VerSe identification rate.

* Dice per id present in either map (0 when one of them lacks it);
* HD95 (mm): 95th percentile of the symmetric surface-to-surface distances, for ids present in
  both maps only;
* identification (VerSe): a reference vertebra is identified when the predicted vertebra whose
  centroid is closest to the reference centroid lies within 20 mm and carries the same label;
* ``error_breakdown``: against a full anatomical truth (a phantom), the disagreement voxels of each
  level split into partial-volume rim, neighbouring vertebra, rib, missed bone and other.

Both maps must describe the same physical space; the reference is resampled onto the prediction's
grid (nearest neighbour) when their grids differ. Label conventions are converted first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .. import DISCLAIMER, __version__, anatomy
from ..errors import InputError
from ..image import LabelMap

CONVENTIONS = ("spinemets", "totalseg", "spinemets_ct_seg")
ID_DISTANCE_MM = 20.0
VERTEBRA_IDS = set(anatomy.VERSE_ID.values()) | {anatomy.SACRUM_ID}


def convert(lm: LabelMap, convention: str) -> LabelMap:
    """Label map in ``convention`` -> spinemets (VerSe) vertebra ids; other classes dropped."""
    if convention == "spinemets":
        arr = np.where(np.isin(lm.array, list(VERTEBRA_IDS)), lm.array, 0).astype(np.uint16)
    elif convention == "totalseg":
        arr = anatomy.from_totalseg_total(lm.array)
    elif convention == "spinemets_ct_seg":
        arr = anatomy.from_spinemets_ct_seg(lm.array)
    else:
        raise InputError(f"unknown label convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    return LabelMap(arr, lm.geometry, anatomy.label_table(np.unique(arr)))


def _onto(ref: LabelMap, pred: LabelMap) -> np.ndarray:
    if ref.geometry.is_same_grid(pred.geometry):
        return ref.array
    import SimpleITK as sitk

    out = sitk.Resample(ref.to_sitk(), pred.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return sitk.GetArrayFromImage(out)


def _surface(m: np.ndarray) -> np.ndarray:
    return m & ~ndi.binary_erosion(m)


def hd95_mm(a: np.ndarray, b: np.ndarray, spacing_zyx: np.ndarray) -> float:
    """95th percentile symmetric surface distance (mm) of two non-empty masks."""
    box = ndi.find_objects((a | b).astype(np.uint8))[0]
    box = tuple(slice(max(0, s.start - 2), s.stop + 2) for s in box)
    a, b = a[box], b[box]
    sa, sb = _surface(a), _surface(b)
    da = ndi.distance_transform_edt(~sa, sampling=spacing_zyx)
    db = ndi.distance_transform_edt(~sb, sampling=spacing_zyx)
    d = np.concatenate([db[sa], da[sb]])
    return float(np.percentile(d, 95))


def evaluate_vertebrae(pred: LabelMap, ref: LabelMap, pred_convention: str = "spinemets",
                       ref_convention: str = "spinemets") -> dict[str, Any]:
    """Metrics dict (see module doc); levels keyed by name ("L1", "sacrum")."""
    pred = convert(pred, pred_convention)
    ref = convert(ref, ref_convention)
    p = pred.array
    r = _onto(ref, pred)
    sp = np.asarray(pred.geometry.spacing_mm)[::-1]
    pids = set(np.unique(p).tolist()) - {0}
    rids = set(np.unique(r).tolist()) - {0}
    pcent = {i: pred.geometry.index_zyx_to_lps(c) for i, c in
             zip(sorted(pids), ndi.center_of_mass(np.ones_like(p), p, sorted(pids)))} if pids else {}
    levels: dict[str, Any] = {}
    identified = 0
    for vid in sorted(pids | rids):
        name = anatomy.level_of(vid) or anatomy.BY_ID[vid].name
        a, b = p == vid, r == vid
        na, nb = int(a.sum()), int(b.sum())
        dice = 2.0 * float((a & b).sum()) / (na + nb)
        entry: dict[str, Any] = {"label": vid, "dice": round(dice, 4), "in_prediction": na > 0,
                                 "in_reference": nb > 0, "hd95_mm": None}
        if na and nb:
            entry["hd95_mm"] = round(hd95_mm(a, b, sp), 2)
        if nb:
            rc = pred.geometry.index_zyx_to_lps(np.asarray(ndi.center_of_mass(b)))
            if pcent:
                cid, cdist = min(((i, float(np.linalg.norm(c - rc))) for i, c in pcent.items()),
                                 key=lambda t: t[1])
                ok = cdist <= ID_DISTANCE_MM and cid == vid
            else:
                cid, cdist, ok = None, None, False
            entry.update({"identified": ok, "closest_predicted_label": cid,
                          "closest_centroid_distance_mm": None if cdist is None else round(cdist, 2)})
            identified += ok
        levels[name] = entry
    n_ref = len(rids)
    matched = [v for v in levels.values() if v["in_prediction"] and v["in_reference"]]
    return {
        "disclaimer": DISCLAIMER,
        "spinemets_version": __version__,
        "levels": levels,
        "n_reference": n_ref,
        "n_prediction": len(pids),
        "identification_rate": (identified / n_ref) if n_ref else None,
        "mean_dice_matched": float(np.mean([v["dice"] for v in matched])) if matched else None,
        "identification_distance_mm": ID_DISTANCE_MM,
    }


#: Disagreement categories of ``error_breakdown`` (voxel counts per level).
ERROR_CATEGORIES = ("fp_border", "fp_neighbour", "fp_rib", "fp_other",
                    "fn_border", "fn_neighbour", "fn_missed")


def error_breakdown(pred: LabelMap, truth: LabelMap) -> dict[str, dict[str, int]]:
    """Where a vertebra label map disagrees with a full anatomical truth (spinemets ids: vertebrae,
    ribs, discs, soft tissues ... on the same grid, e.g. a phantom's ``labels``), per T1-L5 level:

    * ``fp_border`` - predicted voxels of the level whose truth is neither a vertebra nor a rib,
      within one voxel (face neighbour) of the level's true surface (partial-volume rim);
    * ``fp_neighbour`` / ``fn_neighbour`` - voxels of a neighbouring vertebra given to the level /
      voxels of the level given to another vertebra;
    * ``fp_rib`` - rib voxels given to the level; ``fp_other`` - the remaining false positives;
    * ``fn_border`` - missed voxels of the level on its true surface (not given to another vertebra);
    * ``fn_missed`` - missed voxels inside the level (marrow, lesions, thin processes).
    """
    if not pred.geometry.is_same_grid(truth.geometry):
        raise InputError("error_breakdown needs the prediction and the truth on the same grid")
    p = convert(pred, "spinemets").array
    t = truth.array
    vert_ids = list(anatomy.VERSE_ID.values())
    rib_ids = [s.id for s in anatomy.STRUCTURES if s.group == "rib"]
    is_vert_t = np.isin(t, vert_ids)
    is_rib_t = np.isin(t, rib_ids)
    is_vert_p = np.isin(p, vert_ids)
    out: dict[str, dict[str, int]] = {}
    for lv in anatomy.TARGET_LEVELS:
        vid = anatomy.vertebra_id(lv)
        tv, pv = t == vid, p == vid
        if not tv.any() and not pv.any():
            continue
        box = ndi.find_objects((tv | pv).astype(np.uint8))[0]
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        tv, pv = tv[box], pv[box]
        band = ndi.binary_dilation(tv) & ~ndi.binary_erosion(tv)
        fp, fn = pv & ~tv, tv & ~pv
        fp_nb = fp & is_vert_t[box]
        fp_rib = fp & is_rib_t[box]
        fp_border = fp & band & ~fp_nb & ~fp_rib
        fn_nb = fn & is_vert_p[box]
        fn_border = fn & band & ~fn_nb
        out[lv] = {"truth_voxels": int(tv.sum()), "fp_border": int(fp_border.sum()),
                   "fp_neighbour": int(fp_nb.sum()), "fp_rib": int(fp_rib.sum()),
                   "fp_other": int((fp & ~fp_nb & ~fp_rib & ~fp_border).sum()),
                   "fn_border": int(fn_border.sum()), "fn_neighbour": int(fn_nb.sum()),
                   "fn_missed": int((fn & ~fn_nb & ~fn_border).sum())}
    return out


def evaluate_files(pred_path: str | Path, ref_path: str | Path, pred_convention: str = "spinemets",
                   ref_convention: str = "spinemets") -> dict[str, Any]:
    from ..io import read_label_map

    return evaluate_vertebrae(read_label_map(pred_path, labels={}), read_label_map(ref_path, labels={}),
                              pred_convention, ref_convention)

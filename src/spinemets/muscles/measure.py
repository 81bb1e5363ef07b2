"""Per-group measures in a mid-vertebral plane: CSA, density, fat fraction, centroid, offsets.

* ``csa_mm2``: area of the group's outline in the oblique plane (mm^2): for the classic backend
  its pixels closed with a 2 mm disc and holes filled, i.e. muscle plus the intramuscular fat it
  encloses (the anatomical CSA; the lean CSA is ``csa_mm2 * (1 - fat_fraction)``), with the
  pixels on its border with fat counted by their muscle fraction (``partial_volume``); for model
  backends the model's mask as it is;
* ``hu_mean`` / ``hu_sd``: CT numbers (HU, linearly interpolated onto the plane) of the group's
  muscle-window (-29..150 HU) pixels inside the outline (the usual skeletal-muscle attenuation);
* ``fat_fraction``: share of fat-window pixels (-190..-30 HU) within the outline;
* ``centroid_lps_mm``: centroid of the group's pixels (LPS mm);
* ``offset_mm``: that centroid in the vertebra's frame (origin = body centroid): ``anterior``
  positive towards the patient's front, ``lateral`` positive towards the patient's left.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .morphology import disk
from .tissue import FAT_HU, MUSCLE_HU
from .plane import Plane


def group_outline(mask: np.ndarray, hu: np.ndarray, px: float, close_mm: float = 2.0) -> np.ndarray:
    """The group's outline: ``mask`` closed with a ``close_mm`` disc and holes filled, keeping
    only enclosed fat/muscle-window pixels (not neighbouring bone or air); ``mask`` itself when
    ``close_mm`` is 0."""
    outline = np.zeros_like(mask)
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return outline
    m = int(np.ceil(3.0 / px)) + 1
    box = (slice(max(rows.min() - m, 0), rows.max() + m + 1), slice(max(cols.min() - m, 0), cols.max() + m + 1))
    sub = mask[box]
    closed = ndi.binary_fill_holes(ndi.binary_closing(sub, structure=disk(close_mm / px)) | sub) \
        if close_mm > 0 else sub
    # closing must not bridge into other tissue: keep only enclosed fat, not neighbouring bone etc.
    hb = hu[box]
    outline[box] = closed & (sub | ((hb >= FAT_HU[0]) & (hb <= MUSCLE_HU[1])))
    return outline


def measure_group(mask: np.ndarray, hu: np.ndarray, plane: Plane, close_mm: float = 2.0,
                  outline: np.ndarray | None = None, csa_mm2: float | None = None) -> dict:
    """Measures of one group's mask in the plane. ``close_mm``: radius of the closing that forms
    the outline (0 for model label maps, whose masks already include intramuscular fat);
    ``outline``: that outline when already computed; ``csa_mm2``: the area to report instead of
    the outline's pixel count (the partial-volume area of the classic backend)."""
    px = plane.pixel_mm
    if outline is None:
        outline = group_outline(mask, hu, px, close_mm)
    n = int(outline.sum())
    lean = outline & (hu >= MUSCLE_HU[0]) & (hu <= MUSCLE_HU[1])
    vals = hu[lean if lean.any() else mask].astype(float)
    fat = (hu >= FAT_HU[0]) & (hu <= FAT_HU[1]) & outline
    r, c = np.nonzero(outline)
    y = (r.mean() - plane.shape[0] // 2) * px
    x = (c.mean() - plane.shape[1] // 2) * px
    centroid = plane.origin_lps_mm + x * plane.left + y * plane.posterior
    return {
        "csa_mm2": round(n * px * px if csa_mm2 is None else csa_mm2, 1),
        "hu_mean": round(float(vals.mean()), 1),
        "hu_sd": round(float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, 1),
        "fat_fraction": round(float(fat.sum()) / float(outline.sum()), 3) if outline.any() else None,
        "centroid_lps_mm": [round(float(v), 2) for v in centroid],
        "offset_mm": {"anterior": round(float(-y), 1), "lateral": round(float(x), 1)},
        "status": "ok",
    }


def null_group(status: str, reason: str) -> dict:
    return {"csa_mm2": None, "hu_mean": None, "hu_sd": None, "fat_fraction": None,
            "centroid_lps_mm": None, "offset_mm": {"anterior": None, "lateral": None},
            "status": status, "reason": reason}

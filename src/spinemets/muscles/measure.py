"""Per-group measures in a mid-vertebral plane: CSA, density, fat fraction, centroid, offsets.

* ``csa_mm2``: pixels of the group (muscle-window pixels for the classic backend, model pixels for
  the DL backends) x pixel area in the oblique plane (mm^2);
* ``hu_mean`` / ``hu_sd``: CT numbers (HU, linearly interpolated onto the plane) inside the group;
* ``fat_fraction``: share of fat-window pixels (-190..-30 HU) within the group's outline (the group
  closed with a 2 mm disc and its holes filled), i.e. intramuscular fat / (muscle + that fat);
* ``centroid_lps_mm``: centroid of the group's pixels (LPS mm);
* ``offset_mm``: that centroid in the vertebra's frame (origin = body centroid): ``anterior``
  positive towards the patient's front, ``lateral`` positive towards the patient's left.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .classic import FAT_HU, _disk
from .plane import Plane


def measure_group(mask: np.ndarray, hu: np.ndarray, plane: Plane) -> dict:
    px = plane.pixel_mm
    n = int(mask.sum())
    vals = hu[mask].astype(float)
    outline = ndi.binary_fill_holes(ndi.binary_closing(mask, structure=_disk(2.0 / px)) | mask)
    fat = (hu >= FAT_HU[0]) & (hu <= FAT_HU[1]) & outline & ~mask
    r, c = np.nonzero(mask)
    y = (r.mean() - plane.shape[0] // 2) * px
    x = (c.mean() - plane.shape[1] // 2) * px
    centroid = plane.origin_lps_mm + x * plane.left + y * plane.posterior
    return {
        "csa_mm2": round(n * px * px, 1),
        "hu_mean": round(float(vals.mean()), 1),
        "hu_sd": round(float(vals.std(ddof=1)) if n > 1 else 0.0, 1),
        "fat_fraction": round(float(fat.sum()) / float(outline.sum()), 3) if outline.any() else None,
        "centroid_lps_mm": [round(float(v), 2) for v in centroid],
        "offset_mm": {"anterior": round(float(-y), 1), "lateral": round(float(x), 1)},
        "status": "ok",
    }


def null_group(status: str, reason: str) -> dict:
    return {"csa_mm2": None, "hu_mean": None, "hu_sd": None, "fat_fraction": None,
            "centroid_lps_mm": None, "offset_mm": {"anterior": None, "lateral": None},
            "status": status, "reason": reason}

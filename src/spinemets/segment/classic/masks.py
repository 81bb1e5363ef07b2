"""Body and bone masks on a canonical working grid (arrays [z, y, x], isotropic spacing in mm).

Bone is found by hysteresis thresholding: voxels above ``BONE_HIGH_HU`` (cortex, endplates,
sclerotic bone) seed the mask, which grows into connected voxels above ``BONE_LOW_HU``
(trabecular bone). Osteoporotic or lytic marrow falls below any fixed threshold, so cavities
enclosed by cortex are filled in sagittal and coronal planes: a vertebral body is closed by its
walls and endplates in those planes, whereas the spinal canal stays open along its length and
through the intervertebral foramina, so it is not filled.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold

#: Soft tissue / air boundary used for the body outline (HU).
BODY_HU = -300.0
#: Bone seeds: cortical bone and endplates remain above this even at 3 mm partial volume (HU).
BONE_HIGH_HU = 250.0
#: Bone growth limit (HU): above soft tissue and discs (~40-100 HU); trabecular bone of older
#: adults (~100-200 HU) is partly below it and is recovered by cavity filling.
BONE_LOW_HU = 110.0
#: Cortical gaps up to about twice this size (mm) are bridged before cavities are filled.
CLOSING_MM = 2.0


def body_mask(hu: np.ndarray) -> np.ndarray:
    """The patient's body: largest component above ``BODY_HU``, holes filled slice by slice."""
    m = hu > BODY_HU
    m = ndi.binary_opening(m, iterations=1)
    lab, n = ndi.label(m)
    if n == 0:
        return m
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    m = lab == int(np.argmax(sizes))
    return ndi.binary_fill_holes(m, structure=_plane_structure(0))


def _plane_structure(normal_axis: int) -> np.ndarray:
    """4-connected structure within planes orthogonal to ``normal_axis`` (per-slice operations)."""
    s = np.zeros((3, 3, 3), bool)
    s[1, 1, 1] = True
    for ax in range(3):
        if ax == normal_axis:
            continue
        idx = [1, 1, 1]
        for v in (0, 2):
            idx[ax] = v
            s[tuple(idx)] = True
    return s


def bone_mask(hu: np.ndarray, body: np.ndarray | None = None) -> np.ndarray:
    """Hysteresis bone mask (no cavity filling)."""
    m = apply_hysteresis_threshold(hu, BONE_LOW_HU, BONE_HIGH_HU)
    if body is not None:
        m &= body
    return m


def fill_enclosed(bone: np.ndarray, lid: tuple[np.ndarray, np.ndarray] | None = None,
                  spacing_mm: float | None = None) -> np.ndarray:
    """Fill cavities enclosed by bone in sagittal (x=const) and coronal (y=const) planes.

    ``lid`` (two [y, x] masks, e.g. the vertebral-body cross-sections at the lowest and the
    highest slice) closes the z ends of the volume, so a body cut by the field of view is filled like a whole one.
    """
    if lid is not None:
        pad = np.concatenate([lid[0][None], bone, lid[1][None]], axis=0)
    else:
        pad = bone
    if spacing_mm is not None:
        # bridge small cortical gaps (basivertebral foramen, partial volume) within axial planes
        # only, so that discs are never bridged
        it = max(1, int(round(CLOSING_MM / spacing_mm)))
        st = _plane_structure(0)
        padded = np.pad(pad, ((0, 0), (it, it), (it, it)), mode="edge")
        pad = pad | ndi.binary_closing(padded, structure=st, iterations=it)[:, it:-it, it:-it]
    sag = ndi.binary_fill_holes(pad, structure=_plane_structure(2))
    cor = ndi.binary_fill_holes(pad, structure=_plane_structure(1))
    out = sag | cor
    return out[1:-1] if lid is not None else out


"""Body and bone masks on a canonical working grid (arrays [z, y, x], isotropic spacing in mm).

Bone is found by hysteresis thresholding: voxels above ``BONE_HIGH_HU`` (cortex, endplates,
sclerotic bone) seed the mask, which grows into connected voxels above ``BONE_LOW_HU``
(trabecular bone). Osteoporotic or lytic marrow falls below any fixed threshold, so cavities
enclosed by cortex are filled in sagittal and coronal planes: a vertebral body is closed by its
walls and endplates in those planes, whereas the spinal canal stays open along its length and
through the intervertebral foramina, so it is not filled.

Contrast-enhanced blood (heart chambers, aorta: 250-700 HU in the arterial phase) passes the
bone seed threshold. It is told apart by texture and size: blood pools are homogeneous (local SD at the
image's noise level: ``spinemets.homogeneity``, the rule phantomless calibration uses), at least as thick
as the aorta (inscribed radius >= 6 mm) and longer along z than a vertebral body, whereas
homogeneous marrow is held between the endplates of one vertebra. Such pools are removed before hysteresis, so they
neither seed nor carry bone.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import apply_hysteresis_threshold

from ...homogeneity import local_mean_sd, noise_floor_hu, sd_limit_hu

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


#: Contrast-enhanced blood that would seed bone: local mean HU from the bone seed level
#: (``BONE_HIGH_HU``; arterial phase 250-600 HU) to above dense contrast. Fainter (venous-phase)
#: blood only joins bone where it touches it, like any soft tissue above ``BONE_LOW_HU``, and
#: stays out of this rule, which keeps it clear of trabecular marrow (100-250 HU).
BLOOD_MIN_HU = 250.0
BLOOD_MAX_HU = 700.0
#: Local statistics window (mm); the homogeneity limit is ``spinemets.homogeneity``'s.
HOMOGENEITY_WINDOW_MM = 5.0
#: A blood pool is at least as thick as the aorta (inscribed radius, mm) and longer along z (mm)
#: than any vertebral body (adult lumbar bodies are <= ~35 mm high), so homogeneous marrow held
#: between two endplates is never taken for blood.
BLOOD_MIN_RADIUS_MM = 6.0
BLOOD_MIN_LENGTH_MM = 40.0


def contrast_blood(hu: np.ndarray, spacing_mm: float, body: np.ndarray | None = None) -> np.ndarray:
    """Contrast-enhanced blood pools on an isotropic grid (spacing in mm): homogeneous regions
    with a local mean of ``BLOOD_MIN_HU``-``BLOOD_MAX_HU``, each connected pool at least as thick
    as the aorta and ``BLOOD_MIN_LENGTH_MM`` long, widened by the half window to cover the
    partial-volume rim (only voxels not brighter than blood)."""
    k = max(3, 2 * int(round(HOMOGENEITY_WINDOW_MM / spacing_mm / 2)) + 1)
    h = hu.astype(np.float32)
    mean, sd = local_mean_sd(h, k)
    sd_max = sd_limit_hu(noise_floor_hu(sd, h, body))
    cand = (mean >= BLOOD_MIN_HU) & (mean <= BLOOD_MAX_HU) & (sd <= sd_max)
    if body is not None:
        cand &= body
    out = np.zeros(hu.shape, bool)
    if not cand.any():
        return out
    lab, n = ndi.label(cand)
    edt = ndi.distance_transform_edt(cand, sampling=spacing_mm)
    thick = ndi.maximum(edt, lab, index=np.arange(1, n + 1))
    # the SD window erodes a homogeneous region by half its width
    min_core = BLOOD_MIN_RADIUS_MM - 0.5 * (k - 1) * spacing_mm
    keep = np.zeros(n + 1, bool)
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None or thick[i - 1] < min_core:
            continue
        if (sl[0].stop - sl[0].start) * spacing_mm >= BLOOD_MIN_LENGTH_MM:
            keep[i] = True
    out = keep[lab]
    if out.any():
        it = max(1, int(round(0.5 * k)))
        out = ndi.binary_dilation(out, iterations=it, mask=h <= BLOOD_MAX_HU) | out
    return out


def bone_mask(hu: np.ndarray, body: np.ndarray | None = None, exclude: np.ndarray | None = None) -> np.ndarray:
    """Hysteresis bone mask (no cavity filling); voxels in ``exclude`` (e.g. ``contrast_blood``)
    neither seed nor carry bone."""
    src = hu
    if exclude is not None and exclude.any():
        src = np.where(exclude, np.float32(-1000.0), hu)
    m = apply_hysteresis_threshold(src, BONE_LOW_HU, BONE_HIGH_HU)
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


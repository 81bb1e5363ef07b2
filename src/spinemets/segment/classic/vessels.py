"""Faintly enhanced blood vessels (venous / portal phase, ~110-250 HU) on an isotropic working
grid (arrays [z, y, x], spacing in mm).

In the venous phase the aorta and the vena cava hold blood of ~120-250 HU: as bright as
trabecular marrow (100-250 HU), so neither a threshold nor homogeneity alone tells them apart,
and bright enough to carry bone growth (``masks.BONE_LOW_HU``). Where a calcified aortic wall or a
vertebral spur touches the lumen, the lumen joins the bone mask and its region floods the front
of the vertebral body. A vessel is recognised by its shape and its surroundings, tests that marrow
fails:

* a tube: each axial cross-section of the homogeneous pool is a round disc of vessel size
  (radius ``VESSEL_MIN_RADIUS_MM``-``VESSEL_MAX_RADIUS_MM``, elongation at most
  ``VESSEL_MAX_ELONGATION``), and these discs continue along z for at least
  ``masks.BLOOD_MIN_LENGTH_MM`` or through the whole field of view (a vessel cut by both z edges
  of a thin slab is as long as the image can show);
* outside bone: blood lies outside any cortical shell, so a good part of the layer enclosing a
  vessel's cross-section (``RING_INNER_MM``-``RING_OUTER_MM`` beyond the pool's edge: the vessel
  wall; ``RING_SOFT_FRACTION``) is soft tissue below the bone growth threshold, even where the vessel
  lies against a vertebral body or its wall is calcified; marrow is enclosed by its cortex, i.e.
  almost only by voxels above that threshold.

A pool passing both tests is widened by the half homogeneity window (the partial-volume rim of the
lumen that the local-SD window erodes) into voxels not brighter than ``masks.BLOOD_MIN_HU``, so that
a calcified wall and the cortex it touches stay bone.

The pipeline (``pipeline.run_classic``) takes these lumens, with ``masks.contrast_blood``'s pools,
out of the working grid's bone mask together with their wall (``masks.vessel_wall``), and keeps the
full-resolution border out of both (``refine.refine_on_ct``, ``barrier_work``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

#: Radius (mm) of a vessel cross-section: the narrowest portal vein / flattened vena cava (~6 mm)
#: to the widest normal thoracic aorta (~18 mm). Bigger homogeneous pools (heart chambers, liver,
#: spleen, kidneys) are not vessels of this rule.
VESSEL_MIN_RADIUS_MM = 6.0
VESSEL_MAX_RADIUS_MM = 18.0
#: Cross-section area at most this multiple of the inscribed disc's (an ellipse of this axis ratio):
#: the vena cava is oval; a pool spreading along a structure (a body's marrow, the liver) is not a disc.
VESSEL_MAX_ELONGATION = 2.0
#: The layer enclosing each cross-section (mm beyond the pool's edge, past the lumen's partial-volume
#: rim): a vessel's wall (1-2 mm) or a body's cortex. It must be thinner than a cortical shell plus
#: its blur: a wider band reaches past a thin cortex into the soft tissue around the body (a 1-5 mm
#: band read 0.49 soft around homogeneous marrow in a 2 mm shell; 1-3 mm reads 0.03).
RING_INNER_MM = 1.0
RING_OUTER_MM = 3.0
#: The fraction of that layer that must be soft tissue or fat (below the bone growth threshold): at
#: least a quarter. Marrow is enclosed by its cortex all round (soft only through the basivertebral
#: foramen), whereas a vessel's wall is soft except where it lies against bone or is calcified, over
#: at most about half of it: the venous-phase aorta of the DICOM slab, pressed against T12 with a
#: calcified posterior wall, reads 0.32-1.0 per slice on four lattice phases of the 2 mm grid (10th
#: percentile 0.44).
RING_SOFT_FRACTION = 0.25


def _plane_structure() -> np.ndarray:
    s = np.zeros((3, 3, 3), bool)
    s[1, 1, :] = s[1, :, 1] = True
    return s


def faint_vessels(hu: np.ndarray, mean: np.ndarray, homogeneous: np.ndarray, spacing_mm: float,
                  window_voxels: int, lo_hu: float, hi_hu: float, soft_below_hu: float,
                  min_length_mm: float) -> np.ndarray:
    """Vessel lumens of faint blood on an isotropic grid ([z, y, x], ``spacing_mm``).

    ``mean``: the local mean HU in a cube of ``window_voxels``; ``homogeneous``: where the local SD
    is at the image's noise level (and inside the body). Pools are homogeneous voxels with a local
    mean in [``lo_hu``, ``hi_hu``); their axial cross-sections are kept when they are vessel-sized
    round discs mostly surrounded by voxels below ``soft_below_hu``, and those discs, linked along z,
    when they run at least ``min_length_mm`` or from the first slice to the last. The result is
    widened by the half window into voxels below ``hi_hu``.
    """
    shape = hu.shape
    out = np.zeros(shape, bool)
    cand = homogeneous & (mean >= lo_hu) & (mean < hi_hu)
    if not cand.any():
        return out
    w = float(spacing_mm)
    # the SD window erodes a homogeneous region by half its width
    erosion_mm = 0.5 * (window_voxels - 1) * w
    plane = _plane_structure()
    lab, n = ndi.label(cand, structure=plane)
    # in-plane distance to the pool's edge: a z step far longer than any in-plane distance. Taken
    # within the pools' bounding box grown by one voxel (where the grid allows): the nearest voxel
    # outside the pools is the same (one in the grown box's outer layer is nearer than any beyond it)
    box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, k))
                for s, k in zip(ndi.find_objects(cand.view(np.uint8))[0], shape))
    in_pool = cand[box]
    edt = ndi.distance_transform_edt(in_pool, sampling=(1e6, w, w))
    pool_lab = lab[box][in_pool]
    # per pool: its deepest voxel (the inscribed radius) and its area
    r_mm = np.zeros(n + 1)
    np.maximum.at(r_mm, pool_lab, edt[in_pool])
    r_mm[1:] += erosion_mm
    area_mm2 = np.bincount(pool_lab, minlength=n + 1) * w * w
    disc = np.zeros(n + 1, bool)
    pad = int(np.ceil(RING_OUTER_MM / w)) + 1
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None or not (VESSEL_MIN_RADIUS_MM <= r_mm[i] <= VESSEL_MAX_RADIUS_MM):
            continue
        # the pool as seen before the window eroded it: area against the eroded pool's own disc
        eroded_r = r_mm[i] - erosion_mm
        if area_mm2[i] > VESSEL_MAX_ELONGATION * np.pi * max(eroded_r, w) ** 2:
            continue
        z = sl[0].start
        ys = slice(max(sl[1].start - pad, 0), min(sl[1].stop + pad, shape[1]))
        xs = slice(max(sl[2].start - pad, 0), min(sl[2].stop + pad, shape[2]))
        m = lab[z, ys, xs] == i
        d = ndi.distance_transform_edt(~m, sampling=w) - erosion_mm
        band = (d > RING_INNER_MM) & (d <= RING_OUTER_MM)
        if not band.any():
            continue
        soft = float(np.mean(hu[z, ys, xs][band] < soft_below_hu))
        disc[i] = soft > RING_SOFT_FRACTION
    tube = disc[lab]
    if not tube.any():
        return out
    tl, k = ndi.label(tube)
    keep = np.zeros(k + 1, bool)
    for i, sl in enumerate(ndi.find_objects(tl), start=1):
        if sl is None:
            continue
        through = sl[0].start == 0 and sl[0].stop == shape[0]
        keep[i] = through or (sl[0].stop - sl[0].start) * w >= min_length_mm - 1e-6
    out = keep[tl]
    if out.any():
        it = max(1, int(round(0.5 * window_voxels)))
        out = ndi.binary_dilation(out, iterations=it, mask=hu < hi_hu) | out
    return out


def find_faint_vessels(hu: np.ndarray, spacing_mm: float, body: np.ndarray | None = None) -> np.ndarray:
    """``faint_vessels`` with the segmentation's own rules ([z, y, x] HU on an isotropic grid of
    ``spacing_mm``; ``body``: the patient's body mask, optional): the local statistics window and the
    homogeneity limit of ``masks.contrast_blood`` (``spinemets.homogeneity``), pools of local mean
    ``masks.BONE_LOW_HU``-``masks.BLOOD_MIN_HU`` (blood fainter than the bone growth threshold never
    joins bone; brighter blood is ``contrast_blood``'s), surroundings judged against
    ``masks.BONE_LOW_HU``, and the blood pools' length ``masks.BLOOD_MIN_LENGTH_MM``."""
    from ...homogeneity import local_mean_sd, noise_floor_hu, sd_limit_hu
    from . import masks

    k = max(3, 2 * int(round(masks.HOMOGENEITY_WINDOW_MM / spacing_mm / 2)) + 1)
    h = hu.astype(np.float32)
    mean, sd = local_mean_sd(h, k)
    homogeneous = sd <= sd_limit_hu(noise_floor_hu(sd, h, body))
    if body is not None:
        homogeneous &= body
    return faint_vessels(h, mean, homogeneous, spacing_mm, k, lo_hu=masks.BONE_LOW_HU, hi_hu=masks.BLOOD_MIN_HU,
                         soft_below_hu=masks.BONE_LOW_HU, min_length_mm=masks.BLOOD_MIN_LENGTH_MM)


__all__ = ["faint_vessels", "find_faint_vessels"]

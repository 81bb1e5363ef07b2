"""Partial-volume (fractional) cross-sectional area of muscle groups in a plane image.

A muscle sheet 2-6 mm thick has as many border pixels as interior ones: counting a border pixel
as 0 or 1 by a HU threshold gains or loses a large share of its area. Here every pixel on a
group's border with fat counts by its CT number as the fraction of muscle in a two-material
mixture,

    f = clip((HU - HU_fat) / (HU_muscle - HU_fat), 0, 1),

where ``HU_fat`` is the median of pure fat in the plane (fat-window pixels whose 3x3
neighbourhood is all fat) and ``HU_muscle`` the median of the group's own interior muscle-window
pixels (the pooled interior of all groups when the group is too thin to have an interior).
Counted fractionally are the group's outline pixels that touch unlabelled tissue and the
unlabelled pixels below the muscle window (fat/muscle mixtures) within ``band_mm`` of the
outline, each given to the nearest group; interior pixels and pixels bordering another group
count 1. Borders with the vertebra are not weighted (its label map already splits the mixed
voxels). Where a deep group lies directly on a rib (``bone_groups``: erector spinae over the
rib angles, quadratus lumborum on the 12th rib) the unlabelled pixels within ``bone_band_mm`` of
both the group's outline and the rib (bone by HU) mix muscle and bone, in plane and across the
slice thickness: such a pixel counts by its muscle fraction, the fat/muscle fraction above when
darker than the group's muscle reference, else

    f = clip((HU_rib - HU) / (HU_rib - HU_muscle), 0, 1),

``HU_rib`` the brightest HU within 3 mm (the rib's cortex next to it). The superficial sheets
are not weighted against the ribs (the intercostal muscles, no measured group, lie there). All
areas in mm^2; HU of the linearly interpolated plane image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .tissue import BONE_HU, FAT_HU, MUSCLE_HU
from .shape import mask_box

_CROSS = ndi.generate_binary_structure(2, 1)
#: fewest interior pixels for a group's own muscle reference
_MIN_INTERIOR = 10


def pure_fat_hu(hu: np.ndarray, region: np.ndarray | None = None) -> float | None:
    """Median HU of fat-window pixels whose 3x3 neighbourhood is all in the fat window."""
    fat = (hu >= FAT_HU[0]) & (hu <= FAT_HU[1])
    if region is not None:
        fat &= region
    core = ndi.binary_erosion(fat, structure=np.ones((3, 3), bool))
    vals = hu[core] if core.sum() >= 20 else hu[fat]
    return float(np.median(vals)) if len(vals) else None


def rib_bone_mask(hu: np.ndarray, vert: np.ndarray, px: float) -> np.ndarray:
    """Bone of the plane found by its CT number (1 mm-smoothed HU > BONE_HU) outside the
    segmented vertebra and 3 mm away from it: the ribs (and costal cartilage calcification)."""
    hs = ndi.gaussian_filter(hu.astype(np.float32), sigma=max(1.0 / px, 0.5))
    near_vert = ndi.distance_transform_edt(vert == 0) * px <= 3.0
    return (hs > BONE_HU) & ~near_vert


def partial_volume_areas(outlines: dict[int, np.ndarray], hu: np.ndarray, px: float,
                         band_mm: float = 1.5, bone: np.ndarray | None = None,
                         bone_band_mm: float = 3.0, bone_groups: set[int] | None = None) -> dict[int, float]:
    """Fractional CSA (mm^2) of each group ``{label id: outline mask}`` of one plane image.

    ``bone``: rib bone of the plane (``rib_bone_mask``); for the groups ``bone_groups`` (deep
    muscles lying directly on the ribs) unlabelled pixels within ``bone_band_mm`` of the group's
    outline and of that bone count by their muscle fraction in a muscle/bone mixture (see the
    module docstring)."""
    if not outlines:
        return {}
    lab = np.zeros(hu.shape, np.int32)
    for i, m in outlines.items():
        lab[m & (lab == 0)] = i
    fat_ref = pure_fat_hu(hu)
    muscle_win = (hu >= MUSCLE_HU[0]) & (hu <= MUSCLE_HU[1])
    interior = {i: ndi.binary_erosion(lab == i, structure=_CROSS) & muscle_win for i in outlines}
    pooled = np.concatenate([hu[m] for m in interior.values()]) if interior else np.array([])
    if fat_ref is None or len(pooled) < _MIN_INTERIOR:  # no reference: plain pixel count
        return {i: float((lab == i).sum()) * px * px for i in outlines}
    pooled_ref = float(np.median(pooled))
    free = lab == 0
    near_free = ndi.binary_dilation(free, structure=_CROSS)
    # nearest group of every unlabelled pixel and its distance (pixels): the bands around outlines
    dist, (ri, ci) = ndi.distance_transform_edt(free, return_indices=True)
    nearest = lab[ri, ci]
    grown = np.where(dist <= band_mm / px, nearest, 0)
    mixture = free & (hu < MUSCLE_HU[0]) & (hu >= FAT_HU[0])
    bone_mix = None
    use_bone = bone is not None and bone.any() and bool(bone_groups)
    if use_bone:
        # unlabelled tissue against the rib: at the rib's border a pixel (and the slice it
        # averages) holds muscle and bone; the local bone HU is the brightest within 3 mm
        grown_b = np.where(dist <= bone_band_mm / px, nearest, 0)
        cand = free & np.isin(grown_b, list(bone_groups)) & (hu >= MUSCLE_HU[0]) & ~mixture
        near_bone = ndi.distance_transform_edt(~bone) * px <= bone_band_mm
        bone_mix = cand & near_bone
        bone_hi = np.zeros(hu.shape, np.float32)
        if bone_mix.any():
            r = int(round(3.0 / px))
            box = mask_box(bone_mix, r)
            bone_hi[box] = ndi.maximum_filter(hu[box], size=2 * r + 1)
    out: dict[int, float] = {}
    for i in outlines:
        own = lab == i
        ref = float(np.median(hu[interior[i]])) if interior[i].sum() >= _MIN_INTERIOR else pooled_ref
        if ref - fat_ref < 30.0:  # muscle as fatty as fat: no contrast to weigh by
            out[i] = float(own.sum()) * px * px
            continue
        edge = own & near_free
        band = (grown == i) & mixture
        f_edge = np.clip((hu[edge] - fat_ref) / (ref - fat_ref), 0.0, 1.0)
        f_band = np.clip((hu[band] - fat_ref) / (ref - fat_ref), 0.0, 1.0)
        n = float((own & ~edge).sum()) + float(f_edge.sum()) + float(f_band.sum())
        if bone_mix is not None and i in bone_groups:
            # muscle/bone mixtures: below the muscle reference the fat/muscle fraction, above it
            # the share of muscle between the muscle reference and the local bone (rib) HU
            sel = (grown_b == i) & bone_mix
            h, b = hu[sel], bone_hi[sel]
            f_b = np.where(h <= ref, np.clip((h - fat_ref) / (ref - fat_ref), 0.0, 1.0),
                           np.clip((b - h) / np.maximum(b - ref, 1.0), 0.0, 1.0))
            n += float(f_b.sum())
        out[i] = n * px * px
    return out

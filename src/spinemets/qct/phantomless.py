"""Automatic reference-tissue sampling for phantomless (internal) calibration.

All regions are restricted to the axial slab of the given vertebrae and chosen by anatomy, in mm:

* body outline: largest connected component of HU > -500, holes filled per slice;
* air: outside the outline dilated by 10 mm, excluding reconstruction padding (values <= -1100
  HU or the image minimum when it fills > 1 % of the volume);
* subcutaneous fat: 3-25 mm inside the outline;
* skeletal muscle: paraspinal region, 5-60 mm from the spine's midline, posterior to the
  vertebral-body centroids and within 80 mm of them, at least 5 mm from bone;
* aortic blood: a round homogeneous blob (12-40 mm across) anterior-left of the vertebral bodies
  (within 0-45 mm left of and 0-45 mm anterior to the body's anterior surface), recurring at the
  same in-plane place on the most slices;
* cortical bone: vertebral voxels whose 3x3x3 mean exceeds 1000 HU (rarely found at clinical
  resolution because of partial volume; left out when fewer than 20 voxels).

In every region only "homogeneous" voxels are kept: local mean (about 5 mm cube) inside the
tissue's HU window and local SD below 3x the image noise floor (``spinemets.homogeneity``). The sample is the median HU of
those voxels; ``n_voxels`` and the region are reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..homogeneity import local_mean_sd, noise_floor_hu, sd_limit_hu
from ..image import CTImage, Geometry

WINDOWS_HU = {"air": (-1100.0, -850.0), "adipose": (-190.0, -30.0), "muscle": (-29.0, 150.0),
              "blood": (0.0, 500.0)}
CONTRAST_BLOOD_HU = 100.0
#: cortical-bone reference rule (``cortical_values``): 3x3x3 mean HU at least this, and a minimum count
CORTICAL_MIN_HU = 1000.0
CORTICAL_MIN_VOXELS = 20


def _cube(spacing_zyx: np.ndarray, mm: float) -> tuple[int, int, int]:
    return tuple(int(max(1, 2 * round(mm / 2 / s) + 1)) for s in spacing_zyx)  # type: ignore[return-value]


def body_outline(hu: np.ndarray) -> np.ndarray:
    """Largest connected component of HU > -500 with holes filled slice by slice."""
    m = hu > -500
    lab, n = ndimage.label(m)
    if n == 0:
        return m
    sizes = ndimage.sum_labels(m, lab, index=np.arange(1, n + 1))
    body = lab == (1 + int(np.argmax(sizes)))
    for k in range(body.shape[0]):
        body[k] = ndimage.binary_fill_holes(body[k])
    return body


def sample_tissues(ct: CTImage, vertebrae_mask: np.ndarray, bodies_mask: np.ndarray) -> dict[str, Any]:
    """Median HU of the reference tissues plus where/how many voxels. Missing tissue -> None."""
    hu = ct.array.astype(np.float32)
    g = ct.geometry
    sp = np.array(g.spacing_mm[::-1])  # z, y, x
    zs = np.nonzero(vertebrae_mask.any(axis=(1, 2)))[0]
    z0, z1 = zs[0], zs[-1] + 1
    hu = hu[z0:z1]
    vert = vertebrae_mask[z0:z1]
    bodies = bodies_mask[z0:z1]
    out = body_outline(hu)
    size5 = _cube(sp, 5.0)
    mean, sd = local_mean_sd(hu, size5)
    result: dict[str, Any] = {}

    def _take(name: str, region: np.ndarray, sd_max: float) -> None:
        lo, hi = WINDOWS_HU[name]
        sel = region & (mean >= lo) & (mean <= hi) & (sd <= sd_max)
        n = int(sel.sum())
        min_vox = max(8, int(np.ceil(30.0 / float(np.prod(sp)))))  # >= ~30 mm3
        result[name] = {"hu_median": float(np.median(hu[sel])) if n >= min_vox else None,
                        "n_voxels": n}

    # noise floor: SD in homogeneous soft tissue/fat (lower decile of local SD inside the body)
    noise = noise_floor_hu(sd, hu, out)
    sd_max = sd_limit_hu(noise)
    result["noise_sd_hu"] = noise
    # air
    d_out = ndimage.distance_transform_edt(~out, sampling=sp)
    pad_val = float(ct.array.min())
    padding = hu <= -1100
    if np.mean(ct.array == pad_val) > 0.01:
        padding |= hu <= pad_val
    _take("air", (d_out > 10.0) & ~padding & ~ndimage.binary_dilation(padding, iterations=2), sd_max)
    # subcutaneous fat
    d_in = ndimage.distance_transform_edt(out, sampling=sp)
    _take("adipose", out & (d_in >= 3.0) & (d_in <= 25.0), sd_max)
    # paraspinal muscle and aorta, slice by slice relative to the bodies (LPS rules)
    bone_near = ndimage.distance_transform_edt(~vert, sampling=sp) < 5.0
    muscle_region, aorta_region = _lps_regions(hu, bodies, out, bone_near, g, z0)
    _take("muscle", muscle_region, sd_max)
    _blood(result, hu, mean, sd, aorta_region, sp, sd_max)
    result["cortical_bone"] = cortical_sample(cortical_values(hu, vert))
    return result


def cortical_values(hu: np.ndarray, vertebra_mask: np.ndarray) -> np.ndarray:
    """HU of the cortical-bone reference voxels: vertebra voxels whose 3x3x3 mean HU is at least
    ``CORTICAL_MIN_HU`` (the filter's edge mode is "reflect": pass a region grown by one voxel,
    or the whole slab, to get the slab's result)."""
    m3 = ndimage.uniform_filter(hu.astype(np.float32, copy=False), size=3)
    return hu[vertebra_mask & (m3 >= CORTICAL_MIN_HU)]


def cortical_sample(values: np.ndarray) -> dict[str, Any]:
    """The cortical-bone reference: median HU when at least ``CORTICAL_MIN_VOXELS`` were found."""
    n = int(values.size)
    return {"hu_median": float(np.median(values)) if n >= CORTICAL_MIN_VOXELS else None,
            "n_voxels": n}


def _lps_regions(hu: np.ndarray, bodies: np.ndarray, out: np.ndarray, bone_near: np.ndarray,
                 g: "Geometry", z0: int) -> tuple[np.ndarray, np.ndarray]:
    """Muscle and aorta regions from LPS coordinates (any in-plane orientation); slab starts at z0."""
    muscle = np.zeros_like(out)
    aorta = np.zeros_like(out)
    ny, nx = hu.shape[1:]
    jj, ii = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    for k in range(hu.shape[0]):
        b = bodies[k]
        if not b.any():
            continue
        idx = np.stack([np.full(jj.shape, k + z0, float), jj, ii], axis=-1)
        lps = g.index_zyx_to_lps(idx)
        x, y = lps[..., 0], lps[..., 1]
        cx, cy = x[b].mean(), y[b].mean()
        y_ant = y[b].min()
        dx, dy = x - cx, y - cy
        muscle[k] = (dy > 0) & (np.abs(dx) >= 5) & (np.abs(dx) <= 60) & (np.hypot(dx, dy) <= 80) \
            & out[k] & ~bone_near[k]
        ant = y_ant - y
        aorta[k] = (ant >= 0) & (ant <= 45) & (dx >= -5) & (dx <= 45) & out[k] & ~bone_near[k]
    return muscle, aorta


def _blood(result: dict[str, Any], hu: np.ndarray, mean: np.ndarray, sd: np.ndarray,
           region: np.ndarray, sp: np.ndarray, sd_max: float) -> None:
    """Aorta: a round homogeneous blob (12-40 mm across) at the same in-plane place on many slices.

    Per slice, homogeneous candidate blobs in the region are kept when round (area >= 60 % of the
    circle spanning their largest extent); the blob whose centre recurs (within 10 mm) on the
    most slices is the aorta, and all blobs at that place are pooled. Per-slice analysis keeps
    the aorta apart from neighbouring soft tissue it touches on a few slices only."""
    lo, hi = WINDOWS_HU["blood"]
    cand = region & (mean >= lo) & (mean <= hi) & (sd <= sd_max)
    blobs = []  # (k, cy_mm, cx_mm, slice-object, component)
    for k in range(cand.shape[0]):
        lab, _ = ndimage.label(cand[k])
        for i, sl in enumerate(ndimage.find_objects(lab), start=1):
            if sl is None:
                continue
            comp = lab[sl] == i
            area = comp.sum() * sp[1] * sp[2]
            ext = max((s_.stop - s_.start) * d for s_, d in zip(sl, sp[1:]))
            if not (12.0 <= ext <= 40.0) or area < 0.6 * np.pi * (ext / 2) ** 2:
                continue
            jj, ii = np.nonzero(comp)
            blobs.append((k, (sl[0].start + jj.mean()) * sp[1], (sl[1].start + ii.mean()) * sp[2], sl, comp))
    if not blobs:
        result["blood"] = {"hu_median": None, "n_voxels": 0}
        return
    cen = np.array([(b[1], b[2]) for b in blobs])
    ks = np.array([b[0] for b in blobs])
    near = np.hypot(cen[:, None, 0] - cen[None, :, 0], cen[:, None, 1] - cen[None, :, 1]) <= 10.0
    n_slices = [len(set(ks[near[i]].tolist())) for i in range(len(blobs))]
    best = int(np.argmax(n_slices))
    vals = np.concatenate([hu[b[0]][b[3]][b[4]] for b, m in zip(blobs, near[best]) if m])
    result["blood"] = {"hu_median": float(np.median(vals)), "n_voxels": int(vals.size),
                       "n_slices": int(n_slices[best])}
    if result["blood"]["hu_median"] > CONTRAST_BLOOD_HU:
        result["blood"]["contrast_enhanced"] = True

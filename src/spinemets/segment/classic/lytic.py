"""Lytic cavities whose wall is opened: soft tissue inside a vertebral body's own axial outline.

A lytic metastasis replaces trabecular bone, and where it reaches the body's surface the cortex
too, by soft tissue (tumour, ~20-60 HU unenhanced). Where it opens the wall (or an end plate) no
plane through it is closed by bone, so the hole-filling passes (``masks.fill_enclosed``,
``refine.fill_label_holes``, ``masks.enclosed_marrow``) leave it out; a pathological fracture
through such a lesion does the same.

The outline the body should have, per axial slice of the CT grid: the convex hull of the
vertebra's voxels in front of the spinal canal (``front``) together with their mirror image about
the vertebra's mid-sagittal plane (``mirror_axis_x``, from the whole vertebra, arch included).
In an axial plane a body's cross-section is convex in front of the canal, and left-right
symmetric: the hull bridges an opening along the chord between the intact ends of the wall, and
the mirror restores the side a lesion has taken (a lesion that destroys a whole anterolateral
quadrant leaves no wall end to bridge from). Inside that outline, unlabelled soft tissue
(``LYTIC_MIN_HU`` to ``masks.BONE_LOW_HU``: above fat, below bone) joins the vertebra, and with it
the unlabelled bone inside the outline that it touches in its slice (the broken wall's pieces
beside the lesion, out of reach of the border steps, which grow from the labels). Guards that
keep intact vertebrae as they are (on small phantom seeds 1-5, the real 3 mm CT and the 2 mm DICOM
slab no voxel of an intact vertebra changes):

* the outline is axial only, so the concave waist of a body along z (its end plates' rims overhang
  the mid-height wall by 1-2 mm) is never bridged, unlike a 3-D hull, and nothing behind the
  vertebra's posterior wall (canal, pedicles) is considered: the canal cut (a fixed fraction of
  the inscribed radius behind the body column's centreline, in front of the wall) is moved back to
  the wall, the median end of the vertebra's own midline runs behind the cut
  (``to_posterior_wall``; slices whose wall a lesion has taken give no sample);
* only voxels at least one pixel inside the outline count (a digital hull adds staircase pixels
  along a convex wall), and only cavities with a core where a disc of ``OPEN_MM`` radius fits
  in-plane (a sliver between the outline and an imperfect mirror is not a cavity); the core is
  then grown back over the candidates and the outline's edge pixels beside it;
* along z a cavity voxel needs the vertebra beyond it on both sides, or more than the end plate's
  concavity (``bodies.END_PLATE_CONCAVITY_MM``) of vertebra or cavity between it and the open end
  (``beyond_end_plate_concavity``): the disc filling a concave end plate's centre inside its rim is
  left out; within that depth a voxel still joins a cavity when its run of soft tissue along z
  reaches the deeper cavity (no end plate between them: the disc of an intact concave end plate
  rests on the plate) and it lies no further out than the vertebra does in its column or the
  mirror column (``under_end_plate_surface``: the end plate's level over a lesion that broke
  through it, from the body's intact side); and the cavity must run at least
  ``CAVITY_MIN_HEIGHT_MM`` along z;
* bright unlabelled voxels (>= ``BONE_LOW_HU``) are never a cavity: at a real end plate they are
  plate and disc partial volume that the border steps left out on purpose.

Not recovered: a lesion's part behind the posterior wall (in the canal or the pedicles), and the
last ``END_PLATE_CONCAVITY_MM`` of a lesion opened through an end plate where neither its column
nor the mirror column holds the plate (a central lesion through both halves). Over-filled: the
disc in the concave centre of a broken end plate up to the level of the mirror column's plate.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from ..bodies import END_PLATE_CONCAVITY_MM, MIDLINE_HALF_WIDTH_MM, beyond_end_plate_concavity
from .centreline import Centreline
from .grid import labels_to_grid, sub_grid
from .masks import BONE_LOW_HU, CORTICAL_GAP_MM, MARROW_MIN_HEIGHT_MM, _plane_structure

#: Soft tissue above fat (HU): half-way between fat (about -100 HU) and unenhanced tumour or muscle
#: (about +40 HU). Fat outside the body, the lung and air stay out.
LYTIC_MIN_HU = -30.0
#: Shortest z extent (mm) of a cavity filled here: as ``masks.MARROW_MIN_HEIGHT_MM`` (more than a
#: thoracic disc or the disc in a concave end plate's centre).
CAVITY_MIN_HEIGHT_MM = MARROW_MIN_HEIGHT_MM
#: The mid-sagittal plane is searched this far (mm) either side of the middle of the vertebra's
#: lateral extent (an asymmetric process or rib stub moves that middle by a few mm), on at most
#: ``MIRROR_POINTS`` of its voxels (a regular subsample).
MIRROR_SEARCH_MM = 10.0
MIRROR_POINTS = 20000
#: Radius (mm) of the in-plane disc a cavity's core must hold: half the widest cortical gap
#: (``masks.CORTICAL_GAP_MM``); slivers thinner than a cortical gap are partial volume.
OPEN_MM = CORTICAL_GAP_MM / 2
#: Fewest pixels of the vertebra in an axial slice of the front region for its hull to be taken.
MIN_SLICE_PIXELS = 8


def fill_lytic_cavities(labels: np.ndarray, hu: np.ndarray, front: np.ndarray, spacing_zyx: np.ndarray,
                        ids: set[int] | None = None) -> np.ndarray:
    """``labels`` ([z, y, x], axial slices along axis 0; ``spacing_zyx`` in mm) with the soft
    tissue inside each vertebra's axial outline (convex hull of it and its mirror image, within
    ``front``: bool, same grid, the region in front of the spinal canal) given to that vertebra
    (module doc). ``ids``: the labels to process (default: all). Returns a new array; ``labels``
    is not modified."""
    out = labels.copy()
    sp = np.asarray(spacing_zyx, float)
    plane = _plane_structure(0)
    for i, sl in enumerate(ndi.find_objects(labels)):
        vid = i + 1
        if sl is None or (ids is not None and vid not in ids):
            continue
        sub = out[sl]
        v = sub == vid  # the vertebra before its cavities are added (``sub`` changes only at the end)
        if not (v & front[sl]).any():
            continue
        xc = mirror_axis_x(v, MIRROR_SEARCH_MM / float(sp[2]))
        fr = to_posterior_wall(v, front[sl], xc, MIDLINE_HALF_WIDTH_MM / float(sp[2]))
        m = v & fr
        hull = np.zeros(m.shape, bool)
        for z in range(m.shape[0]):
            if m[z].sum() >= MIN_SLICE_PIXELS:
                hull[z] = convex_hull_image(_with_mirror(m[z], xc))
        h = hu[sl]
        soft = (sub == 0) & fr & (h >= LYTIC_MIN_HU) & (h < BONE_LOW_HU)
        # (the hull's edge pixels, bone included: the partial volume of the broken wall's ends)
        rim = hull & (sub == 0) & fr & (h >= LYTIC_MIN_HU)
        need = END_PLATE_CONCAVITY_MM / float(sp[0])
        inner = ndi.binary_erosion(hull, structure=plane) & soft
        cand = beyond_end_plate_concavity(v, inner, need)
        cand |= under_end_plate_surface(v, inner, cand, xc)
        if not cand.any():
            continue
        # the cavity's core: where a disc of OPEN_MM radius fits in-plane (a thin sliver of soft tissue
        # between the outline and its hull is partial volume or an imperfect mirror, not a cavity)
        it = max(1, int(round(OPEN_MM / float(max(sp[1:])))))
        core = ndi.binary_opening(cand, structure=plane, iterations=it)
        lab, n = ndi.label(core)
        keep = np.zeros(n + 1, bool)
        for k, csl in enumerate(ndi.find_objects(lab), start=1):
            keep[k] = (csl[0].stop - csl[0].start) * sp[0] >= CAVITY_MIN_HEIGHT_MM - 1e-6
        add = keep[lab]
        if not add.any():
            continue
        # the kept cores grown back over the candidates they were opened from, and over the hull's
        # edge pixels beside them (the rim of the cavity along the opening)
        grow = cand | beyond_end_plate_concavity(v, rim, need)
        add |= ndi.binary_dilation(add, structure=plane, iterations=it + 1, mask=grow)
        # the unlabelled bone inside the outline that the cavities touch in their slices: the broken
        # wall's pieces beside the lesion, which the border steps (grown from the labels, one working
        # voxel deep) did not reach
        shell = hull & (sub == 0) & (h >= BONE_LOW_HU)
        add |= ndi.binary_dilation(add, structure=plane, iterations=-1, mask=add | shell)
        sub[add] = vid
    return out


def fill_lytic_on_ct(labels_ct: np.ndarray, ct_array: np.ndarray, front_work: np.ndarray, work_img: sitk.Image,
                     ct_img: sitk.Image, ids: set[int] | None = None) -> np.ndarray:
    """``fill_lytic_cavities`` on the CT grid, with ``front_work`` (the body cross-sections in front
    of the canal, on the working grid ``work_img``) brought onto the box of the CT grid that holds
    the labels (nearest neighbour; no whole-volume copy)."""
    nz = np.nonzero(labels_ct.any(axis=(1, 2)))[0]
    if nz.size == 0:
        return labels_ct
    ny = np.nonzero(labels_ct[nz[0]:nz[-1] + 1].any(axis=(0, 2)))[0]
    nx = np.nonzero(labels_ct[nz[0]:nz[-1] + 1].any(axis=(0, 1)))[0]
    box = (slice(int(nz[0]), int(nz[-1]) + 1), slice(int(ny[0]), int(ny[-1]) + 1), slice(int(nx[0]), int(nx[-1]) + 1))
    front = labels_to_grid(front_work.astype(np.uint8), work_img, sub_grid(ct_img, box)) > 0
    sp = np.asarray(ct_img.GetSpacing(), float)[::-1]
    out = labels_ct.copy()
    out[box] = fill_lytic_cavities(labels_ct[box], ct_array[box], front, sp, ids)
    return out


def under_end_plate_surface(v: np.ndarray, inner: np.ndarray, deep: np.ndarray, xc: float) -> np.ndarray:
    """The voxels of ``inner`` (soft tissue inside the outline; [z, y, x], axial slices along
    axis 0) within the concavity depth of an open end that still belong to a lytic cavity: those
    whose run of ``inner`` along z reaches the ``deep`` cavity (no end plate between them and
    it: a disc in an intact concave end plate rests on the plate) and that lie no further out
    than the vertebra ``v`` itself does in their column or in its mirror column about ``xc`` (the
    end plate's surface over the lesion, taken from the body's intact side: an end plate is
    left-right symmetric). Beyond that surface lies the disc the lesion has reached."""
    nz = v.shape[0]
    zz = np.arange(nz)[:, None, None]
    top = np.where(v, zz, -1).max(axis=0)
    bot = np.where(v, zz, nz).min(axis=0)
    xm = np.clip(np.round(2 * xc - np.arange(v.shape[2])).astype(int), 0, v.shape[2] - 1)
    top = np.maximum(top, top[:, xm])
    bot = np.minimum(bot, bot[:, xm])
    within = (zz <= top[None]) & (zz >= bot[None])
    # the runs of ``inner`` along z that hold a deep cavity voxel
    along_z = np.zeros((3, 3, 3), bool)
    along_z[:, 1, 1] = True
    runs, _ = ndi.label(inner, structure=along_z)
    hit = np.zeros(int(runs.max()) + 1, bool)
    hit[runs[deep & inner]] = True
    hit[0] = False
    return inner & hit[runs] & within & ~deep


def to_posterior_wall(v: np.ndarray, front: np.ndarray, xc: float, half_px: float) -> np.ndarray:
    """``front`` ([z, y, x], bool, a half-plane per axial slice, anterior rows (low y) in front of
    a cut line) moved back (towards +y) to the vertebra's own posterior body wall in the midline.

    The cut line lies a fixed fraction of the body's inscribed radius behind its centreline, which
    is in front of the wall (by 2-8 mm on the phantoms), so that a lesion at the back of the body
    would be cut off. In every axial slice and every column of the mid-sagittal band (``xc`` +-
    ``half_px`` pixels) where the vertebra ``v`` holds the cut line's last row, the vertebra's run
    is followed back to its end (the front of the spinal canal), a sample where that run is
    shorter than the vertebra's run in front of the cut (the body's part behind the cut, about
    half an inscribed radius, is far shorter than its part in front, about 1.6 radii; a longer
    run has crossed a canal that the vertebra map filled); the median of these distances over the
    vertebra (robust to slices where a lesion has taken the wall, which give no sample, or a
    shorter one) moves the cut line back. No sample: ``front`` unchanged."""
    samples = []
    ny = front.shape[1]
    for x in range(max(0, int(np.floor(xc - half_px))), min(front.shape[2], int(np.ceil(xc + half_px)) + 1)):
        for z in range(front.shape[0]):
            rows = np.nonzero(front[z, :, x])[0]
            if rows.size == 0 or rows[-1] >= ny - 1 or not v[z, rows[-1], x]:
                continue
            c = rows[-1]
            behind = v[z, c:, x]
            d = int(np.argmin(behind)) - 1 if not behind.all() else behind.size - 1
            ahead = v[z, c::-1, x]
            if ahead.all() or d < int(np.argmin(ahead)):
                samples.append(d)
    d = int(np.median(samples)) if samples else 0
    out = front.copy()
    for k in range(1, d + 1):
        out[:, k:] |= front[:, :-k]
    return out


def mirror_axis_x(v: np.ndarray, search_px: float) -> float:
    """The column x (array index, half-pixel steps, within ``search_px`` of the middle of its x
    extent) about which the vertebra mask ``v`` ([z, y, x],
    all its parts: body, pedicles, laminae, processes) best overlaps its mirror image: its
    mid-sagittal plane, taken from the whole vertebra, so that a lesion of one side of the body
    barely moves it."""
    z, y, x = np.nonzero(v)
    step = max(1, x.size // MIRROR_POINTS)
    z, y, x = z[::step], y[::step], x[::step]
    mid = float(x.min() + x.max())  # twice the middle of the x extent
    best, axis = -1, 0.5 * mid
    for c2 in range(int(np.floor(mid - 2 * search_px)), int(np.ceil(mid + 2 * search_px)) + 1):
        xm = c2 - x
        ok = (xm >= 0) & (xm < v.shape[2])
        ov = int(v[z[ok], y[ok], xm[ok]].sum())
        if ov > best:
            best, axis = ov, 0.5 * c2
    return axis


def _with_mirror(m: np.ndarray, xc: float) -> np.ndarray:
    """``m`` ([y, x]) and its mirror image about the column x = ``xc``."""
    yy, xx = np.nonzero(m)
    xm = np.round(2 * xc - xx).astype(int)
    ok = (xm >= 0) & (xm < m.shape[1])
    out = m.copy()
    out[yy[ok], xm[ok]] = True
    return out


def front_of_canal(cl: Centreline, shape: tuple[int, int, int], w: float, posterior_factor: float) -> np.ndarray:
    """The working-grid region ([z, y, x], spacing ``w`` mm) in front of the line
    ``posterior_factor`` inscribed radii behind the body-column centreline, at its slices: the
    spinal canal lies behind it. Not limited laterally or anteriorly: a vertebra's own voxels in
    front of the canal are its body, and where a lytic lesion has taken part of the body the
    centreline's inscribed radius is that of what is left, so an outline scaled from it would cut
    the lesion off."""
    out = np.zeros(shape, bool)
    yy = np.arange(shape[1])[:, None]
    for k, z in enumerate(cl.z.astype(int)):
        if 0 <= z < shape[0]:
            out[z] = np.broadcast_to(yy <= cl.y[k] + posterior_factor * cl.radius_mm[k] / w, shape[1:])
    return out

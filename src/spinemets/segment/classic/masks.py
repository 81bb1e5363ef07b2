"""Body and bone masks on a canonical working grid (arrays [z, y, x], isotropic spacing in mm).

Bone is found by hysteresis thresholding: voxels above ``BONE_HIGH_HU`` (cortex, endplates,
sclerotic bone) seed the mask, which grows into connected voxels above ``BONE_LOW_HU``
(trabecular bone). Osteoporotic or lytic marrow falls below any fixed threshold, so cavities
enclosed by cortex are filled in sagittal and coronal planes: a vertebral body is closed by its
walls and endplates in those planes, whereas the spinal canal stays open along its length and
through the intervertebral foramina, so it is not filled. Marrow whose thin endplate is lost to
partial volume (osteoporosis) is open towards the disc in those planes; it is filled in axial planes,
where the body's cortical ring (its small gaps bridged along the wall) encloses it, inside the body
cross-sections only (the arch encloses the canal in axial planes too).
On the CT grid, marrow below the threshold that a labelled vertebra's shell holds from most in-plane
directions (the posterior elements of an osteoporotic spine) joins that vertebra (``enclosed_marrow``).

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
#: Gaps up to about twice this size (mm) between thick bone are bridged before cavities are filled
#: in sagittal and coronal planes.
CLOSING_MM = 2.0
#: Widest cortical gap (mm) bridged before cavities are filled: the basivertebral foramen and the
#: partial-volume breaks of a ~1 mm cortical wall sampled at a 1.5-3 mm working grid (one voxel
#: there). Anatomical openings of the spine are wider: the intervertebral and sacral foramina
#: (>= 6-8 mm) and the costotransverse gaps stay open.
CORTICAL_GAP_MM = 4.0
#: Shortest z extent (mm) of marrow filled only in axial planes (``marrow_enclosed_axially``):
#: more than a thoracic disc (4-6 mm) or one partial-volume slice of a 3 mm grid at a disc level.
MARROW_MIN_HEIGHT_MM = 6.0
#: In-plane directions (dy, dx) of the lines that bridge gaps: the two axes, the two diagonals and
#: the four knight moves, so that a wall of any in-plane orientation (a digital line of slope 0,
#: 1/2, 1, 2, ... ) has a direction along it.
GAP_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1), (1, 2), (2, 1), (1, -2), (2, -1))


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
    return fill_holes_in_planes(m, 0)


def fill_holes_in_planes(mask: np.ndarray, normal_axis: int) -> np.ndarray:
    """``ndi.binary_fill_holes(mask, structure=_plane_structure(normal_axis))`` of a [z, y, x]
    mask: in every plane orthogonal to ``normal_axis``, the background 4-connected regions that do
    not reach the plane's edge are filled. One labelling of the background instead of the
    border-seeded dilation run to convergence (same sets, far fewer passes over the volume)."""
    m = np.asarray(mask, bool)
    lab, n = ndi.label(~m, structure=_plane_structure(normal_axis))
    if n == 0:
        return m.copy()
    open_ = np.zeros(n + 1, bool)  # background regions reaching a plane's edge
    for ax in range(3):
        if ax == normal_axis:
            continue
        for end in (0, m.shape[ax] - 1):
            open_[np.take(lab, end, axis=ax)] = True
    open_[0] = False  # (label 0: the mask itself)
    return ~open_[lab]


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


#: Thickness (mm) of a large vessel's wall beyond its lumen (aortic wall ~1.5-2.5 mm: intima, media,
#: adventitia), where atherosclerotic calcification lies: bright as bone, but never vertebra.
VESSEL_WALL_MM = 2.0


def vessel_wall(blood: np.ndarray, spacing_mm: float) -> np.ndarray:
    """The layer ``VESSEL_WALL_MM`` thick around ``blood`` (lumens on an isotropic grid of
    ``spacing_mm``; at least one voxel): the vessel wall, calcified or not."""
    if not blood.any():
        return np.zeros_like(blood)
    it = max(1, int(round(VESSEL_WALL_MM / spacing_mm)))
    return ndi.binary_dilation(blood, iterations=it) & ~blood


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
                  spacing_mm: float | None = None, axial: bool | np.ndarray = True,
                  hu: np.ndarray | None = None) -> np.ndarray:
    """Fill cavities enclosed by bone in sagittal (x=const) and coronal (y=const) planes, then
    the marrow left enclosed in axial planes (``marrow_enclosed_axially``).

    ``axial``: where the axial-plane pass may fill (True: anywhere; False: not at all; a [z, y, x]
    mask: holes lying mostly inside it, e.g. the vertebral bodies' cross-sections in front of the
    spinal canal). It needs ``spacing_mm`` (the gap bridging of the axial shell is in mm).
    ``hu``: the image (HU) on the same grid, for the axial pass's cortical-ring test.
    ``lid`` (two [y, x] masks, e.g. the vertebral-body cross-sections at the lowest and the
    highest slice) closes the z ends of the volume, so a body cut by the field of view is filled like a whole one.
    """
    if lid is not None:
        pad = np.concatenate([lid[0][None], bone, lid[1][None]], axis=0)
    else:
        pad = bone
    closed = pad
    if spacing_mm is not None:
        # bridge small gaps between thick bone (partial volume) within axial planes only, so that
        # discs are never bridged
        it = max(1, int(round(CLOSING_MM / spacing_mm)))
        st = _plane_structure(0)
        padded = np.pad(pad, ((0, 0), (it, it), (it, it)), mode="edge")
        closed = pad | ndi.binary_closing(padded, structure=st, iterations=it)[:, it:-it, it:-it]
    sag = fill_holes_in_planes(closed, 2)
    cor = fill_holes_in_planes(closed, 1)
    out = sag | cor
    if spacing_mm is not None and axial is not False:
        region = None if axial is True else np.asarray(axial, bool)
        if region is not None and lid is not None:
            region = np.concatenate([region[:1], region, region[-1:]], axis=0)
        if hu is not None and lid is not None:
            hu = np.concatenate([hu[:1], hu, hu[-1:]], axis=0)
        out |= marrow_enclosed_axially(bridge_gaps(pad, spacing_mm), out, region, hu, spacing_mm)
    return out[1:-1] if lid is not None else out


def marrow_enclosed_axially(shell: np.ndarray, filled: np.ndarray, region: np.ndarray | None = None,
                            hu: np.ndarray | None = None, spacing_mm: float | None = None) -> np.ndarray:
    """Axial-plane holes of ``shell | filled`` ([z, y, x]) whose rim is mostly marrow, i.e. voxels
    of ``filled`` that are not ``shell``.

    Where a thin endplate is lost to partial volume, the marrow cavity of an osteoporotic body is
    open towards the disc in sagittal and coronal planes, so only its periphery is filled there
    (each plane near a wall is closed by it) and its centre is left as a hole ringed by that
    filled marrow. The shell's gaps of up to ``CORTICAL_GAP_MM`` are bridged along the wall
    (``bridge_gaps``) so that the axial ring is closed. The spinal canal, also enclosed in axial
    planes (by the posterior body wall, pedicles and laminae), is flanked left and right by the
    pedicles, i.e. by cortex rather than marrow: a hole is taken when more than half of its lateral
    rim (the voxels beside it along x) is marrow, and, with ``region``, when more than half of it
    lies in ``region`` (sagittal and coronal planes behind the body can enclose part of the canal,
    which then counts as marrow). With ``hu`` (the image, HU), the whole marrow cross-section
    (the hole and the marrow filled around it) must also be ringed by cortex: the ring's mean HU
    at least ``BONE_HIGH_HU``, the level cortex keeps at a 3 mm grid (a disc, whose annulus may pass
    a low bone growth threshold, has a ring of ~100-180 HU; a thin osteoporotic cortex ~250-650 HU).
    With ``spacing_mm`` (isotropic grid), the holes taken must run at least
    ``MARROW_MIN_HEIGHT_MM`` along z (connected across slices): a body's marrow spans most of its
    height (>= 15 mm), whereas a partial-volume slice at a disc level, ringed by the endplates'
    rims, is one slice of a 3 mm grid (a thoracic disc is 4-6 mm thick). (A short hole in a
    fractured body is left too: on the small-preset L1 fracture of seed 4 it would help.)
    """
    ring = shell | filled
    plane = _plane_structure(0)
    holes = ndi.binary_fill_holes(ring, structure=plane) & ~ring
    if not holes.any():
        return holes
    lab, n = ndi.label(holes, structure=plane)
    # the lateral rim: the voxels beside the hole along x (left-right)
    lateral = np.zeros((1, 1, 3), bool)
    lateral[0, 0, [0, 2]] = True
    rim_lab = ndi.grey_dilation(lab, footprint=lateral) * ~holes
    marrow = filled & ~shell
    rim = np.bincount(rim_lab.ravel(), minlength=n + 1)
    rim_marrow = np.bincount(rim_lab.ravel(), weights=marrow.ravel(), minlength=n + 1)
    keep = rim_marrow > 0.5 * rim
    if hu is not None:
        # the whole marrow cross-section (the hole and the marrow filled around it) must be ringed
        # by cortex: the ring's mean HU at least the cortical seed level ``BONE_HIGH_HU`` (a disc's
        # annulus that passes a low bone growth threshold stays far below it)
        cav = holes | (filled & ~shell)
        clab, m = ndi.label(cav, structure=plane)
        ring_lab = ndi.grey_dilation(clab, footprint=plane) * (shell & ~cav)
        ring_n = np.bincount(ring_lab.ravel(), minlength=m + 1)
        ring_hu = np.bincount(ring_lab.ravel(), weights=hu.ravel(), minlength=m + 1)
        hole_cav = np.zeros(n + 1, int)
        hole_cav[lab[holes]] = clab[holes]
        keep &= (ring_hu >= BONE_HIGH_HU * np.maximum(ring_n, 1))[hole_cav]
    if region is not None:
        size = np.bincount(lab.ravel(), minlength=n + 1)
        inside = np.bincount(lab.ravel(), weights=region.ravel(), minlength=n + 1)
        keep &= inside > 0.5 * size
    keep[0] = False
    out = keep[lab]
    if spacing_mm is not None and out.any():
        # marrow spans a body's height; a partial-volume slice at a disc level does not
        run, k = ndi.label(out)
        tall = np.zeros(k + 1, bool)
        for i, sl in enumerate(ndi.find_objects(run), start=1):
            tall[i] = (sl[0].stop - sl[0].start) * spacing_mm >= MARROW_MIN_HEIGHT_MM - 1e-6
        out = tall[run]
    return out


def bridge_gaps(mask: np.ndarray, spacing_mm: float, max_gap_mm: float = CORTICAL_GAP_MM) -> np.ndarray:
    """``mask`` ([z, y, x] or one [y, x] slice; isotropic spacing in mm) with gaps of at most
    ``max_gap_mm`` bridged within axial planes where they interrupt a straight run of the mask.

    The union of closings by short lines (``GAP_DIRECTIONS``): a closing by a line of n voxels
    fills a background run of at most n - 1 voxels along that line with mask at both ends. So a
    gap in a one-voxel-thick cortical wall is bridged along the wall, whereas a concave corner, a
    cavity wider than the gap (the spinal canal) or an opening wider than the gap (a foramen) is
    left as it is. (A closing by a 2-D square or cross fills more: the square rounds every corner
    and seals openings up to twice its radius; the cross never bridges a gap in a one-voxel wall.)
    """
    flat = mask.ndim == 2
    m = mask[None] if flat else mask
    out = m.copy()
    for dy, dx in GAP_DIRECTIONS:
        step_mm = spacing_mm * float(np.hypot(dy, dx))
        n = int(np.floor(max_gap_mm / step_mm + 1e-9)) + 1  # line length in voxels: gaps up to n - 1
        if n < 2:
            continue
        half = (n - 1) * max(abs(dy), abs(dx))
        st = np.zeros((1, 2 * half + 1, 2 * half + 1), bool)
        for k in range(n):
            st[0, half + k * dy - ((n - 1) // 2) * dy, half + k * dx - ((n - 1) // 2) * dx] = True
        padded = np.pad(m, ((0, 0), (half, half), (half, half)), mode="edge")
        out |= ndi.binary_closing(padded, structure=st)[:, half:-half, half:-half]
    return out[0] if flat else out





def _line_structure(dy: int, dx: int, n: int) -> np.ndarray:
    """A digital line of ``n`` voxels along (dy, dx) in one axial plane ([1, y, x] structure)."""
    half = (n - 1) * max(abs(dy), abs(dx))
    st = np.zeros((1, 2 * half + 1, 2 * half + 1), bool)
    for k in range(n):
        st[0, half + k * dy - ((n - 1) // 2) * dy, half + k * dx - ((n - 1) // 2) * dx] = True
    return st


def enclosed_marrow(labels: np.ndarray, spacing_yx_mm: float, max_gap_mm: float = CORTICAL_GAP_MM) -> np.ndarray:
    """``labels`` ([z, y, x] label map, in-plane pixel size ``spacing_yx_mm``) with unlabelled
    voxels inside a label's bony shell given to that label: those the label holds on both sides,
    within ``max_gap_mm``, along more than half of the in-plane directions (``GAP_DIRECTIONS``)
    whose step allows such a gap at this spacing (at 2 mm pixels: 3 of the axes and diagonals;
    at 3 mm: both axes, i.e. one-voxel pockets; at 1 mm: 5 of 8).

    In osteoporosis the marrow of the posterior elements (pedicles, laminae, articular and
    spinous processes; a few millimetres between two cortical lines) is as dark as soft tissue
    and below any bone threshold, and the cortical lines are not always joined into a closed
    ring, so hole filling misses it. Such marrow is held by the shell across it from most
    directions, whereas the soft tissue in a concave corner or a notch of the outline is held
    from one or two (a bridge along the opening), and the spinal canal and foramina are wider
    than the gap."""
    dirs = []
    for dy, dx in GAP_DIRECTIONS:
        n = int(np.floor(max_gap_mm / (spacing_yx_mm * float(np.hypot(dy, dx))) + 1e-9)) + 1
        if n >= 2:
            dirs.append(_line_structure(dy, dx, n))
    out = labels.copy()
    if not dirs:
        return out
    need = len(dirs) // 2 + 1
    pad = max(st.shape[1] // 2 for st in dirs)
    for i, sl in enumerate(ndi.find_objects(labels)):
        if sl is None:
            continue
        sl = (sl[0],) + tuple(slice(max(s.start - pad, 0), s.stop + pad) for s in sl[1:])
        sub = out[sl]
        m = sub == i + 1
        p = np.pad(m, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
        count = np.zeros(m.shape, np.int16)
        for st in dirs:
            count += ndi.binary_closing(p, structure=st)[:, pad:-pad, pad:-pad] & ~m
        sub[(count >= need) & (sub == 0)] = i + 1
    return out

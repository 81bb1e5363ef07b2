"""Bring working-grid labels back onto the CT grid and refine their borders at full resolution.

Labels are resampled by nearest neighbour in physical space. When the CT is finer than the working
grid, the border is redrawn from the CT's own bone mask (same hysteresis thresholds): voxels of
the label's interior (eroded by one working voxel) keep their label; in the one-working-voxel band
around it, CT voxels that are bone take the label of the adjacent vertebra (working labels
dilated by one voxel), and voxels that are not bone are dropped. At rib-bearing levels the midline
laminae and spinous processes are then partitioned again on the CT grid, from the top down
(``posterior_partition``): on the CT grid the thin fat gaps between overlapping thoracic spinous
processes are resolved more often than on the working grid, and a process is kept with the lamina
it hangs from.

Then the partial-volume border along z (``majority_z_border``): a CT voxel counts as vertebra when
bone fills most of its volume. Along z the slice profile averages several millimetres, so the voxel
that holds a vertebra's end plate or an oblique outer surface contains some of the thin, very
bright cortical shell, maybe some trabecular bone, and soft tissue. A fixed bone threshold keeps
every such voxel (even one third of a slice of cortex lifts soft tissue far above trabecular
bone). With the surface anywhere in the voxel (bone fraction f uniform on [0, 1]), the first
``a = CORTEX_MM / slice thickness`` of that fraction being shell,

    HU(f) = S + min(f, a) (C - S) + max(f - a, 0) (Tb - S)  (+ image noise),

with C the vertebra's cortical HU, Tb its trabecular HU and S the soft tissue beyond the surface
(the outer z neighbour); the voxel stays vertebra when the posterior probability of f >= 1/2 is at
least one half. This is applied to thick-slice CT only (``THICK_SLICE_RATIO``).

One voxel's HU decides this poorly: a 1 mm plate at the top or in the middle of a 3 mm slice
(one or two of three sub-slices bone) differs by (Tb - S) / 3, ~40 HU, about the image noise plus
trabecular texture. A bony surface is smooth, and its neighbouring border voxels in the same slice
(same side, within ``SURFACE_NEIGHBOUR_MM`` in-plane) hold it at nearly the same depth in the
slice, so each voxel is judged on the mean HU (and mean S) of those judged neighbours whose HU
lies within two noise SDs of its own (Lee's sigma filter: a step in the surface, where the depth
jumps by a sub-slice, differs by more than the noise and is not averaged across), with the noise
SD divided by the square root of their number. ``SURFACE_NEIGHBOUR_MM``: a surface tilted
up to ~20 deg to the slices (lumbar lordosis, the wedged end plates of L5) changes its depth by
about the cortex thickness (the model's resolution) within 3 mm in-plane.

Before that, two steps recover bone below the fixed threshold: cavities each label encloses in
sagittal or coronal planes are filled (low-density or lytic marrow inside the cortex), and one in-plane ring of voxels brighter
than half-way between the vertebra's trabecular HU and the tissue just outside is added
(``halfway_inplane_rim``). At full resolution (pixels no wider than the ~1 mm cortical shell) the
blurred halo outside the cortex is then peeled at the local half maximum (``edge.halfmax_border``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from . import cortex, masks
from .edge import halfmax_border
from .grid import labels_to_grid, labels_to_grid_image, sub_grid

#: Thickness of the cortical shell / bony end plate (mm): ~0.4-1 mm in adult vertebrae.
CORTEX_MM = 1.0
#: The z-border model applies to thick-slice CT only (slice spacing at least this multiple of the
#: pixel size), where the slice profile, not the in-plane blur, makes the partial volume of the
#: shell; near-isotropic voxels would need the same model in every direction, which is not built.
THICK_SLICE_RATIO = 1.25
#: Tissue below this HU (lung, air) is not the soft-tissue side of a bone surface.
SOFT_MIN_HU = -300.0
#: Cortex = the vertebra's voxels this far (fraction) from its trabecular HU to its 99th percentile.
CORTEX_TOP_FRACTION = 0.75
#: Border voxels of the same surface within this in-plane distance (mm) are judged together.
SURFACE_NEIGHBOUR_MM = 3.0
#: Neighbours whose HU differs from the voxel's by more than this many noise SDs are not averaged.
SIGMA_GATE = 2.0
#: Passes of ``drop_beyond_bone`` (each takes off at most one voxel per column end): the working
#: grid's slice (3 mm) can leave up to one CT slice of disc beyond an end plate.
BEYOND_PLATE_PASSES = 2


def refine_on_ct(labels_work: np.ndarray, work_img: sitk.Image, ct_img: sitk.Image,
                 ct_array: np.ndarray, seeds_work: np.ndarray | None = None,
                 posterior_work: np.ndarray | None = None,
                 slice_thickness_mm: float | None = None,
                 barrier_work: np.ndarray | None = None) -> np.ndarray:
    """Working-grid labels -> CT grid (module doc). With ``seeds_work`` (each level's body and
    arch seeds, labelled like ``labels_work``) and ``posterior_work`` (the posterior-element region
    to partition again), the posterior elements there are re-partitioned on the CT grid
    (``posterior_partition``). ``slice_thickness_mm``: the reconstructed slice thickness when
    known (DICOM SliceThickness; None: equal to the slice spacing), for ``majority_z_border``.
    ``barrier_work``: working-grid voxels that are never vertebra (blood and vessel walls): the border
    band does not grow into them on the CT grid."""
    w = float(work_img.GetSpacing()[0])
    sp = np.asarray(ct_img.GetSpacing())[::-1]  # (z, y, x) spacing of the CT array
    if np.all(sp >= 0.8 * w):  # the CT no finer than the working grid: its z border only
        up = labels_to_grid(labels_work, work_img, ct_img)
        if not up.any():
            return up
        psf = cortex.psf_sigma_mm(ct_array, sp) if _thick_slices(sp) else None
        return majority_z_border(up, ct_array, sp, psf, slice_thickness_mm)
    lab = labels_work.astype(np.uint16)
    interior = np.where(ndi.grey_erosion(lab, size=3) == lab, lab, 0).astype(np.uint16)
    grown = np.where(lab > 0, lab, ndi.grey_dilation(lab, size=3)).astype(np.uint16)
    # one nearest-neighbour resampling carries all working-grid maps to the CT grid (every map
    # samples the same working-grid voxel at a CT voxel): the interior, the grown labels, whether
    # the voxel is labelled and the barrier, packed in the bits of one integer; read through a
    # view of its SimpleITK image, kept alive here (no whole-volume copies)
    packed, unpack = _pack_maps(interior, grown, lab > 0,
                                barrier_work if barrier_work is not None and barrier_work.any() else None)
    packed_img = labels_to_grid_image(packed, work_img, ct_img, packed.dtype)
    del packed
    packed_up = sitk.GetArrayViewFromImage(packed_img)
    obj = _grown_box(packed_up, unpack["grown_mask"])
    out = np.zeros(packed_up.shape, np.uint16)
    if obj is None:
        return out
    maps = {k: f(packed_up[obj]) for k, f in unpack.items() if k != "grown_mask"}
    if not maps["labelled"].any():  # every label vanished between the CT voxels
        return out
    psf = cortex.psf_sigma_mm(ct_array, sp) if _thick_slices(sp) else None
    hu = ct_array[obj]
    bone = masks.bone_mask(hu.astype(np.float32))
    g = maps["grown"]
    if "barrier" in maps:
        g = np.where(maps["barrier"], 0, g)
    interior_o = maps["interior"]
    out[obj] = np.where(interior_o > 0, interior_o, np.where(bone, g, 0))
    if seeds_work is not None and posterior_work is not None and posterior_work.any():
        sub_img = sub_grid(ct_img, obj)
        seeds_up = labels_to_grid(seeds_work, work_img, sub_img)
        post_up = labels_to_grid(posterior_work.astype(np.uint8), work_img, sub_img) > 0
        offset = tuple(s.start for s in obj)
        out[obj] = posterior_partition(out[obj], bone, seeds_up, post_up,
                                       lambda box: superior_mm(ct_img, box, offset))
    # the border steps below change voxels at most 2 voxels beyond a label's bounding box, and
    # every label lies in ``obj``: they run on ``obj`` grown by 3 voxels (same result as on the
    # whole grid, without whole-volume passes)
    big = tuple(slice(max(s.start - 3, 0), min(s.stop + 3, n)) for s, n in zip(obj, out.shape))
    sub = fill_label_holes(out[big])
    sub = halfway_inplane_rim(sub, ct_array[big], sp)
    sub = halfmax_border(sub, ct_array[big], sp)  # partial-volume halo of the cortex (edge.py)
    out[big] = majority_z_border(sub, ct_array[big], sp, psf, slice_thickness_mm)
    return out


def _pack_maps(interior: np.ndarray, grown: np.ndarray, labelled: np.ndarray,
               barrier: np.ndarray | None) -> tuple[np.ndarray, dict]:
    """The label maps ``interior`` and ``grown`` (same ids) and the masks ``labelled`` and
    ``barrier`` (or None) packed into the bits of one unsigned integer array, and per map a
    function that reads it back from (part of) the packed array (``grown_mask``: grown > 0)."""
    bits = max(int(grown.max()).bit_length(), int(interior.max()).bit_length(), 1)
    dt = next(t for t in (np.uint16, np.uint32, np.uint64) if 2 * bits + 2 <= 8 * np.dtype(t).itemsize)
    field = dt((1 << bits) - 1)
    b1, b2, b3 = dt(bits), dt(2 * bits), dt(2 * bits + 1)
    packed = interior.astype(dt) | (grown.astype(dt) << b1) | (labelled.astype(dt) << b2)
    unpack = {"interior": lambda a: (a & field).astype(np.uint16),
              "grown": lambda a: ((a >> b1) & field).astype(np.uint16),
              "grown_mask": lambda a: (a & dt(int(field) << bits)) != 0,
              "labelled": lambda a: ((a >> b2) & dt(1)) != 0}
    if barrier is not None:
        packed |= (barrier != 0).astype(dt) << b3
        unpack["barrier"] = lambda a: ((a >> b3) & dt(1)) != 0
    return packed, unpack


def _grown_box(packed: np.ndarray, grown_mask, chunk: int = 64) -> tuple[slice, ...] | None:
    """Bounding box (slices) of the voxels where ``grown_mask`` of the packed array is set, read
    in chunks of ``chunk`` slices (no whole-volume temporaries); None when there is none."""
    zs, ys, xs = [], [], []
    for z0 in range(0, packed.shape[0], chunk):
        m = grown_mask(packed[z0:z0 + chunk])
        if not m.any():
            continue
        iz = np.nonzero(m.any(axis=(1, 2)))[0]
        zs += [z0 + iz[0], z0 + iz[-1]]
        iy = np.nonzero(m.any(axis=(0, 2)))[0]
        ix = np.nonzero(m.any(axis=(0, 1)))[0]
        ys += [iy[0], iy[-1]]
        xs += [ix[0], ix[-1]]
    if not zs:
        return None
    return tuple(slice(int(min(v)), int(max(v)) + 1) for v in (zs, ys, xs))


def _thick_slices(spacing_zyx: np.ndarray) -> bool:
    """Slice spacing at least ``THICK_SLICE_RATIO`` times the pixel size (``majority_z_border``)."""
    return float(spacing_zyx[0]) >= THICK_SLICE_RATIO * float(max(spacing_zyx[1:]))


def posterior_partition(labels: np.ndarray, bone: np.ndarray, seeds: np.ndarray, region: np.ndarray,
                        superior: Callable[[tuple[slice, ...]], np.ndarray]) -> np.ndarray:
    """Re-partition the labelled bone in ``region`` (the midline posterior elements at rib-bearing
    levels: laminae and spinous processes) on the CT grid, from the top down.

    A thoracic spinous process hangs from its own lamina and slopes caudally (25-60 degrees below
    the horizontal) over the lamina and spinous process of the level below; where the two touch
    (partial volume of a fat gap thinner than a slice), a geodesic partition hands the long
    process's lower part to the level below, whose arch is nearer. Here the region is flooded
    from the seeds (``seeds``: each level's arch seeds, and every labelled voxel outside the
    region, e.g. the lateral laminae) in order of height, superior first (``superior(box)``:
    LPS z in mm of the voxels of ``box``), so a voxel goes to the level it is reached from
    without descending below itself: a process is reached down its own length from its root,
    whereas the level below reaches it only from underneath. ``bone``: the CT bone mask; arrays
    share one grid; unlabelled voxels and voxels outside the bone mask keep their label.
    """
    part = region & bone & (labels > 0)
    if not part.any():
        return labels
    box = ndi.find_objects(part.astype(np.uint8))[0]
    box = tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(box, labels.shape))
    lab, pm = labels[box], part[box]
    fixed = (lab > 0) & ~region[box]
    markers = np.where(fixed, lab, np.where(pm, seeds[box], 0)).astype(np.int32)
    ws = watershed(-superior(box).astype(np.float32), markers=markers, mask=pm | fixed, connectivity=1)
    out = labels.copy()
    take = pm & (ws > 0)
    out[box][take] = ws[take]
    return out


def superior_mm(img: sitk.Image, box: tuple[slice, ...], offset: tuple[int, ...] = (0, 0, 0)) -> np.ndarray:
    """LPS z (mm, + = superior) of the voxels of ``box`` (slices of an array [z, y, x] whose
    index 0 lies at ``offset`` on ``img``'s grid)."""
    d = np.asarray(img.GetDirection()).reshape(3, 3)
    sp = np.asarray(img.GetSpacing())
    idx = [np.arange(b.start, b.stop, dtype=np.float64) + o for b, o in zip(box, offset)]  # z, y, x
    # array axis a (z, y, x) is image axis 2 - a
    parts = [idx[a] * d[2, 2 - a] * sp[2 - a] for a in range(3)]
    return (img.GetOrigin()[2] + parts[0][:, None, None] + parts[1][None, :, None]
            + parts[2][None, None, :]).astype(np.float32)


def _label_crops(labels: np.ndarray, hu: np.ndarray, pad_yx: int):
    """Per label with a trabecular HU (``_trabecular_hu``): ``(vid, sl, lab, m, h, tb)``, the crop
    ``sl`` around it (one slice beyond it in z, ``pad_yx`` pixels in-plane), the label map and
    float32 HU in the crop, its mask there and its trabecular HU."""
    for i, sl in enumerate(ndi.find_objects(labels)):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - (1 if k == 0 else pad_yx), 0), s.stop + (1 if k == 0 else pad_yx))
                   for k, s in enumerate(sl))
        lab = labels[sl]
        m = lab == i + 1
        h = hu[sl].astype(np.float32)
        tb = _trabecular_hu(m, h)
        if tb is not None:
            yield i + 1, sl, lab, m, h, tb


def halfway_inplane_rim(labels: np.ndarray, hu: np.ndarray, spacing_zyx: np.ndarray) -> np.ndarray:
    """Add the unlabelled voxels below the bone threshold that touch a label in-plane and are
    brighter than half-way between the vertebra's trabecular HU and the tissue just outside them
    (the next voxel in the same direction, soft tissue between -300 HU and the trabecular HU):
    at the outer surface of low-density bone the fixed bone threshold misses trabecular voxels
    that the cortex, thinner than a pixel, does not cover. One voxel ring, beside the label's
    voxels whose z neighbours both carry it (the side walls; beside an end slice lies disc, as
    bright as low-density trabecular bone); voxels of another label, bright unlabelled bone
    (ribs, neighbours) and voxels next to lung are never taken."""
    out = labels.copy()
    for vid, sl, lab, m, h, tb in _label_crops(labels, hu, 2):
        free = (lab == 0) & (h < masks.BONE_LOW_HU)
        # only beside the label's z-interior: at an end slice the voxel beyond the label in-plane
        # is disc (partial volume of the end plate's rim), not the trabecular bone under a side wall
        zin = m.copy()
        zin[1:] &= m[:-1]
        zin[:-1] &= m[1:]
        zin[0] = zin[-1] = False
        add = np.zeros_like(m)
        for ax in (1, 2):
            for d in (1, -1):
                inner = np.roll(zin, d, axis=ax)    # the label voxel on the inner side
                outer = np.roll(h, -d, axis=ax)     # the tissue on the outer side
                edge = [slice(None)] * 3
                edge[ax] = slice(0, 1) if d == 1 else slice(-1, None)
                inner[tuple(edge)] = False
                edge[ax] = slice(-1, None) if d == 1 else slice(0, 1)
                ok = np.ones_like(m)
                ok[tuple(edge)] = False
                soft = (outer > SOFT_MIN_HU) & (outer < tb)
                add |= free & inner & ok & soft & (h > 0.5 * (tb + outer))
        out[sl][add] = vid
    return out


def _trabecular_hu(m: np.ndarray, h: np.ndarray) -> float | None:
    """Median HU of the label's voxels whose z neighbours both carry the label (None if few)."""
    core = m.copy()
    core[1:] &= m[:-1]
    core[:-1] &= m[1:]
    core[0] = core[-1] = False
    return float(np.median(h[core])) if core.sum() >= 10 else None


def fill_label_holes(labels: np.ndarray) -> np.ndarray:
    """Fill, per label, the unlabelled cavities it encloses in sagittal (x = const) or coronal
    (y = const) planes (marrow below the bone threshold inside the cortex: osteoporotic or lytic
    bone; cf. ``masks.fill_enclosed``). The spinal canal and the foramina run on beyond the
    vertebra along z, so in those planes they are not enclosed by a single label."""
    out = labels.copy()
    for i, sl in enumerate(ndi.find_objects(labels)):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        sub = out[sl]
        m = sub == i + 1
        filled = masks.fill_holes_in_planes(m, 2) | masks.fill_holes_in_planes(m, 1)
        sub[filled & ~m & (sub == 0)] = i + 1
    return out


def majority_z_border(labels: np.ndarray, hu: np.ndarray, spacing_zyx: np.ndarray,
                      psf_sigma_mm: float | None = None, slice_thickness_mm: float | None = None) -> np.ndarray:
    """Drop the z-border voxels of each label that bone fills less than half of (module doc).

    ``labels``: label map on the CT grid; ``hu``: the CT (HU); ``spacing_zyx``: mm. Judged are
    the voxels whose outer z neighbour is unlabelled soft tissue (below the trabecular HU) and
    whose own HU and whose inner z neighbour's HU lie above half-way between that tissue and
    trabecular bone, the inner neighbour carrying the label (below it a voxel reads as soft
    tissue, or as marrow under a missing shell; a dark or unlabelled inner neighbour is a lytic or
    empty cavity behind the shell, or a one-voxel layer, not the model's surface with trabecular
    bone behind it; such voxels are left as they are). Each judged voxel is decided on the mean
    HU of its judged neighbours on the same surface (module doc; the noise SD divided by the
    square root of their number, as for independent noise).

    The cortical HU C: the median of the vertebra's brightest voxels (``cortical_hu``) and, with
    ``psf_sigma_mm`` (the scan's in-plane PSF SD, ``cortex.psf_sigma_mm``), the least
    compact-bone HU that reproduces the blurred profiles of its side walls
    (``cortex.wall_cortical_hu``) are both lower bounds of it (the blur of a wall thinner than the
    PSF only lowers its peak; the wall fit takes the thickest wall the profile allows): the larger
    is used. Pixels much wider than the PSF leave a 1 mm wall's thickness unresolved and the fit
    adds nothing; pixels about as wide as the PSF make the brightest voxels read low and the fit
    raises it.

    ``slice_thickness_mm``: the reconstructed slice thickness when it differs from the spacing
    (overlapping reconstruction, e.g. 3 mm slices every 2 mm): each voxel's HU then averages a
    window that reaches beyond its own cell into both z neighbours (``bone_majority_probability``,
    ``profile_ratio``); None: the thickness equals the spacing.
    """
    dz = float(spacing_zyx[0])
    if not _thick_slices(spacing_zyx):
        return labels
    a = min(CORTEX_MM / dz, 0.5)
    ratio = float(slice_thickness_mm) / dz if slice_thickness_mm is not None and slice_thickness_mm > 0 else 1.0
    out = labels
    for _ in range(BEYOND_PLATE_PASSES):
        out, n_drop = drop_beyond_bone(out, hu)
        if not n_drop:
            break
    labels = out
    out = labels.copy()
    objs = ndi.find_objects(labels)
    for i, sl in enumerate(objs):
        if sl is None:
            continue
        vid = i + 1
        # in-plane 3 voxels of margin: the wall profiles of ``cortex`` reach 2 pixels beyond a wall
        sl = tuple(slice(max(s.start - (1 if k == 0 else 3), 0), s.stop + (1 if k == 0 else 3))
                   for k, s in enumerate(sl))
        lab = labels[sl]
        m = lab == vid
        h = hu[sl].astype(np.float32)
        # interior along z: both z neighbours carry the label
        up_out = np.zeros_like(m)
        dn_out = np.zeros_like(m)
        up_out[:-1] = m[:-1] & ~m[1:]
        dn_out[1:] = m[1:] & ~m[:-1]
        core = m & ~up_out & ~dn_out
        if core.sum() < 10:
            continue
        tb = float(np.median(h[core]))
        cort = cortical_hu(h[m], tb)
        trab = h[core]
        trab = trab[trab < tb + 0.25 * (cort - tb)]
        sigma = max(1.4826 * float(np.median(np.abs(trab - np.median(trab)))), 1.0)
        if psf_sigma_mm is not None:
            c_wall = cortex.wall_cortical_hu(h, core, tb, psf_sigma_mm / float(np.mean(spacing_zyx[1:])), sigma)
            if c_wall is not None:
                cort = max(cort, c_wall)
        for border, shift in ((up_out, 1), (dn_out, -1)):
            idx = np.nonzero(border)
            zo = idx[0] + shift
            ok = (zo >= 0) & (zo < m.shape[0])
            idx = tuple(j[ok] for j in idx)
            zo = zo[ok]
            outer_lab = lab[zo, idx[1], idx[2]]
            s = h[zo, idx[1], idx[2]]
            x = h[idx]
            # the inner z neighbour: the bone behind the surface
            zi = np.clip(idx[0] - shift, 0, m.shape[0] - 1)
            has_inner = m[zi, idx[1], idx[2]] & (zi == idx[0] - shift)
            inner = h[zi, idx[1], idx[2]]
            # the outer voxel must be soft tissue (not another vertebra, not bone); the model's
            # trabecular bone behind the shell must be there: a labelled inner neighbour above
            # half-way (not a one-voxel layer over an unlabelled or lytic cavity, which the
            # shell is all that closes)
            judge = (outer_lab == 0) & (x > 0.5 * (tb + s)) & (cort > x) & (s < tb) & \
                has_inner & (inner > 0.5 * (tb + s))
            xm, sm, n = _surface_means(idx, judge, x, s, m.shape, spacing_zyx, sigma)
            p_bone = bone_majority_probability(xm, sm, cort, tb, a, sigma / np.sqrt(n), profile_ratio=ratio)
            drop = np.zeros_like(judge)
            drop[judge] = p_bone < 0.5
            sub = out[sl]
            sub[tuple(j[drop] for j in idx)] = 0
    return out


def drop_beyond_bone(labels: np.ndarray, hu: np.ndarray) -> tuple[np.ndarray, int]:
    """Drop the z-border voxels of each label that read as the soft tissue beyond them rather than
    as the bone behind them: HU at most half-way between the vertebra's trabecular HU and the
    outer z neighbour (unlabelled soft tissue, below the trabecular HU), while the inner z
    neighbour carries the label and reads above that half-way level (bone: the end plate or
    trabecular bone). Such a voxel lies beyond the bony surface: it holds less bone than tissue
    (linear partial volume), e.g. disc left on the far side of an end plate by the working grid or
    the cavity fill. A dark voxel behind a dark inner neighbour (a lytic cavity reaching the end
    slice) is left as it is. Returns the new map and the number of voxels dropped."""
    out = labels.copy()
    n_drop = 0
    for _, sl, lab, m, h, tb in _label_crops(labels, hu, 1):
        drop = np.zeros_like(m)
        cur, hc = m[1:-1], h[1:-1]
        # (outer, inner) z neighbours of the voxels with both: above/below, and below/above
        for out_l, out_h, in_m, in_h in ((lab[2:], h[2:], m[:-2], h[:-2]), (lab[:-2], h[:-2], m[2:], h[2:])):
            hv = 0.5 * (tb + out_h)
            drop[1:-1] |= cur & (out_l == 0) & (out_h > SOFT_MIN_HU) & (out_h < tb) & (hc <= hv) & \
                in_m & (in_h > hv)
        if drop.any():
            sub = out[sl]
            sub[drop] = 0
            n_drop += int(drop.sum())
    return out, n_drop


def _surface_means(idx: tuple[np.ndarray, ...], judge: np.ndarray, x: np.ndarray, s: np.ndarray,
                   shape: tuple[int, ...], spacing_zyx: np.ndarray, sigma: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per judged border voxel: the mean HU ``x`` and mean outer HU ``s`` of the judged border
    voxels (same side) in its slice within ``SURFACE_NEIGHBOUR_MM`` in-plane whose HU lies within
    ``SIGMA_GATE`` noise SDs of its own (Lee's sigma filter: a neighbour where the surface lies
    at another depth, a step in the surface, differs by more than the noise and is left out;
    itself included), and their number. ``idx``: the border voxels' (z, y, x) indices in an
    array of ``shape``."""
    ry = int(SURFACE_NEIGHBOUR_MM // float(spacing_zyx[1]))
    rx = int(SURFACE_NEIGHBOUR_MM // float(spacing_zyx[2]))
    j = tuple(k[judge] for k in idx)
    xj, sj = x[judge].astype(np.float64), s[judge].astype(np.float64)
    gx = np.full(tuple(n + 2 * r for n, r in zip(shape, (0, ry, rx))), np.nan)
    gs = np.zeros_like(gx)
    gx[j[0], j[1] + ry, j[2] + rx] = xj
    gs[j[0], j[1] + ry, j[2] + rx] = sj
    sum_x, sum_s, n = (np.zeros_like(xj) for _ in range(3))
    for dy in range(-ry, ry + 1):
        for dx in range(-rx, rx + 1):
            if (dy * float(spacing_zyx[1])) ** 2 + (dx * float(spacing_zyx[2])) ** 2 > SURFACE_NEIGHBOUR_MM ** 2:
                continue
            vx = gx[j[0], j[1] + ry + dy, j[2] + rx + dx]
            use = np.abs(vx - xj) <= SIGMA_GATE * sigma  # False where no judged neighbour (NaN)
            sum_x += np.where(use, vx, 0.0)
            sum_s += np.where(use, gs[j[0], j[1] + ry + dy, j[2] + rx + dx], 0.0)
            n += use
    return sum_x / n, sum_s / n, n


def bone_majority_probability(x: np.ndarray, s: np.ndarray, c: float, tb: float, a: float,
                              sigma: float | np.ndarray, n_grid: int = 64,
                              profile_ratio: float = 1.0) -> np.ndarray:
    """P(bone fills at least half of the voxel | its HU ``x``).

    The bone surface lies anywhere in the voxel with equal probability: bone fills a fraction f
    (uniform on [0, 1]) of it, the first ``a`` of that fraction being the cortical shell, so
    HU(f) = S + min(f, a) (C - S) + max(f - a, 0) (Tb - S), observed with Gaussian noise
    ``sigma`` (one value, or one per voxel); ``s`` is the soft tissue beyond the surface (per voxel).

    ``profile_ratio``: slice thickness / slice spacing. The HU averages a box of that many voxel
    heights centred on the voxel (overlapping reconstruction when > 1): the window [-e, 1 + e]
    (voxel units, e = (ratio - 1) / 2, the inner side at 0) holds L = f + e of bone (clipped to
    [0, ratio]), the outer ``a`` of it shell, so
    HU(f) = S + (min(L, a) (C - S) + max(L - a, 0) (Tb - S)) / ratio (the formula above at ratio 1).
    Half a bony voxel then shows the shell plus e of trabecular bone in a wider window; a voxel
    with no bone at all still holds up to e of the shell beside it."""
    from scipy.stats import norm

    f = (np.arange(n_grid) + 0.5) / n_grid
    x = np.asarray(x, np.float64)[:, None]
    s = np.asarray(s, np.float64)[:, None]
    ratio = float(profile_ratio)
    length = np.clip(f + 0.5 * (ratio - 1.0), 0.0, ratio)
    model = s + (np.minimum(length, a) * (c - s) + np.maximum(length - a, 0.0) * (tb - s)) / ratio
    sd = np.broadcast_to(np.asarray(sigma, np.float64), x.shape[:1])[:, None]
    like = norm.pdf((x - model) / sd)
    total = like.sum(axis=1)
    upper = like[:, f >= 0.5].sum(axis=1)
    return np.where(total > 0, upper / np.maximum(total, 1e-300), (x[:, 0] >= model[:, n_grid // 2]).astype(float))


def cortical_hu(values: np.ndarray, tb: float) -> float:
    """The vertebra's cortical HU: the median of its voxels in the top part of its HU range
    (above the trabecular level plus three quarters of the way to its 99th percentile)."""
    top = float(np.percentile(values, 99))
    hi = values[values >= tb + CORTEX_TOP_FRACTION * (top - tb)]
    return float(np.median(hi)) if hi.size else top

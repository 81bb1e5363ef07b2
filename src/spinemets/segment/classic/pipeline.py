"""The classic (no learned weights) vertebra segmentation: detection on a coarse grid, separation
and labelling on a finer grid around the spine, labels brought back onto the CT grid.

Steps: body + bone masks (3 mm, whole field of view) -> body-column centreline -> region of
interest -> masks and centreline again at the working spacing -> discs along the centreline ->
per-vertebra watershed with disc barriers and non-vertebral competitors -> sacrum and rib
findings per segment -> level labelling -> nearest-neighbour resampling to the CT grid and a
full-resolution boundary refinement against the CT's own bone mask, the lytic cavities opened through a
body's wall (``lytic``), and the dark marrow each vertebra's shell holds on the CT grid (``masks.enclosed_marrow``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from ... import anatomy
from ...errors import InputError
from ...image import CTImage
from ..labelling import Labelling, SegmentFinding, label_levels
from . import lytic, masks, vessels
from .arch_midline import arch_midline
from .centreline import Centreline, find_centreline
from .discs import GAP_MAX_MM, coverage_profile, end_slice_is_disc, select_discs
from .grid import labels_to_grid, make_workgrid, resample_input
from .refine import refine_on_ct
from .separate import (OTHER_OFFSET, RIB_RUN_MIN_MM, ZONE_RIB_LATERAL_MM, body_row_run, detached_lateral_runs,
                       posterior_region, release_other_bone, segment_bounds, separate)

log = logging.getLogger(__name__)

COARSE_MM = 3.0
#: Finest working spacing (mm); inputs coarser than this are processed at their own spacing.
FINE_MIN_MM = 1.5
#: ROI half extents around the coarse centreline (mm): lateral, anterior, posterior.
ROI_LATERAL_MM = 90.0
ROI_ANTERIOR_MM = 60.0
ROI_POSTERIOR_MM = 120.0
#: Sacrum: continuous bone across the body row at least this wide (mm) and this multiple of the
#: median body width of the segments.
SACRUM_MIN_WIDTH_MM = 85.0
SACRUM_WIDTH_RATIO = 1.7
#: A rib must be within this distance (mm) of the vertebra and thinner than this half-thickness (mm).
RIB_CONTACT_MM = 5.0
#: Rib-like bone this close (mm) behind the body plane is weaker evidence (used at the FOV edge).
RIB_NEAR_MM = 40.0
RIB_MAX_HALF_THICKNESS_MM = 8.0
#: A partial end segment shorter than this fraction of the typical level height is dropped.
MIN_END_FRACTION = 0.3
LUNG_HU = -500.0


@dataclass
class ClassicOutput:
    labels_ct: np.ndarray            # VerSe ids on the CT grid
    labelling: Labelling
    uncertain_ids: set[int] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


def _lps_z_to_index(grid_img: sitk.Image, z_lps: float) -> float:
    return (z_lps - grid_img.GetOrigin()[2]) / grid_img.GetSpacing()[2]


def _remap_centreline(cl: Centreline, src: sitk.Image, dst: sitk.Image, w: float) -> Centreline:
    """Express a centreline of grid ``src`` in the indices of grid ``dst`` (both canonical)."""
    so, do = np.asarray(src.GetOrigin()), np.asarray(dst.GetOrigin())
    ws = src.GetSpacing()[0]
    lps = np.stack([so[0] + cl.x * ws, so[1] + cl.y * ws, so[2] + cl.z * ws], -1)
    idx = (lps - do) / w
    zq = np.arange(np.ceil(idx[0, 2]), np.floor(idx[-1, 2]) + 1)
    return Centreline(zq, np.interp(zq, idx[:, 2], idx[:, 1]), np.interp(zq, idx[:, 2], idx[:, 0]),
                      np.interp(zq, idx[:, 2], cl.radius_mm), np.ones(zq.size, bool), w)


def _row_run_width(filled: np.ndarray, cl: Centreline, lo: float, hi: float, w: float) -> float:
    """Max width (mm) of the continuous bone run through the body row, over slices lo..hi."""
    best = 0.0
    for z in range(int(np.ceil(lo)), int(np.floor(hi)) + 1):
        if z < 0 or z >= filled.shape[0]:
            continue
        run = body_row_run(filled, cl, z, w)
        if run is not None:
            best = max(best, (run[1] - run[0] + 1) * w)
    return best


def _near_other(labels: np.ndarray, n_vert: int, thick: np.ndarray, w: float
                ) -> list[dict[int, tuple[int, float, float, float, float, float, float]]]:
    """Other-bone regions near each vertebral segment (one distance transform for all).

    Returns, per segment k (0-based), {label: (voxels within RIB_NEAR_MM, mean x and y index of
    those voxels, half-thickness mm = 95th percentile of ``thick`` over them, closest distance mm,
    mean x and y index of the contact: the voxels within one working voxel of the closest distance)}.
    """
    vert = (labels > 0) & (labels < OTHER_OFFSET)
    out: list[dict[int, tuple[int, float, float, float, float, float, float]]] = [dict() for _ in range(n_vert)]
    if not vert.any():
        return out
    dist, ind = ndi.distance_transform_edt(~vert, sampling=w, return_indices=True)
    near = (labels >= OTHER_OFFSET) & (dist <= RIB_NEAR_MM)
    if not near.any():
        return out
    idx = np.nonzero(near)
    owner = labels[tuple(i[idx] for i in ind)]
    other = labels[idx]
    d = dist[idx]
    th = thick[idx]
    for k in np.unique(owner):
        mk = owner == k
        for j in np.unique(other[mk]):
            m = mk & (other == j)
            dm = float(d[m].min())
            # the contact: the voxels within one working voxel of the closest distance
            c = m & (d <= dm + w)
            out[int(k) - 1][int(j)] = (int(m.sum()), float(idx[2][m].mean()), float(idx[1][m].mean()),
                                        float(np.percentile(th[m], 95)), dm, float(idx[2][c].mean()),
                                        float(idx[1][c].mean()))
    return out


def _extend_to_ends(cl: Centreline, nz: int, max_gap_mm: float = 20.0) -> Centreline:
    """Extend the centreline (constant position) to the volume's z ends when they are close."""
    z0, z1 = int(cl.z[0]), int(cl.z[-1])
    lo = 0 if z0 * cl.spacing_mm <= max_gap_mm else z0
    hi = nz - 1 if (nz - 1 - z1) * cl.spacing_mm <= max_gap_mm else z1
    if lo == z0 and hi == z1:
        return cl
    zq = np.arange(lo, hi + 1, dtype=float)
    return Centreline(zq, np.interp(zq, cl.z, cl.y), np.interp(zq, cl.z, cl.x),
                      np.interp(zq, cl.z, cl.radius_mm), np.isin(zq, cl.z[cl.valid]), cl.spacing_mm)


def _lids(cl: Centreline, bone: np.ndarray, w: float, hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body cross-sections at the two z ends (only where the centreline reaches the end and the
    end slice is not an intervertebral disc): the region enclosed by the cortex in that slice
    (axial fill after its cortical gaps are bridged) plus a core disc, within the body outline expected from
    the median body radius."""
    shape = bone.shape
    yy, xx = np.mgrid[0:shape[1], 0:shape[2]]
    r_med = float(np.median(cl.radius_mm)) / w
    out = []
    for zend in (0, shape[0] - 1):
        lid = np.zeros(shape[1:], bool)
        if cl.z[0] <= zend <= cl.z[-1] and not end_slice_is_disc(hu, cl, zend):
            y, x, _ = (float(v[0]) for v in cl.at(np.array([zend])))
            ring = ndi.binary_fill_holes(masks.bridge_gaps(bone[zend], w))
            core = np.hypot(yy - y, xx - x) <= r_med
            # (never behind 0.6 radius: a lid over the spinal canal would let it fill)
            ap = np.where(yy < y, BODY_ANTERIOR_FACTOR * r_med, 0.6 * r_med)
            outline = ((xx - x) / (BODY_LATERAL_FACTOR * r_med)) ** 2 + ((yy - y) / ap) ** 2 <= 1.0
            lid = (ring | core) & outline
        out.append(lid)
    return out[0], out[1]


#: Vertebral-body cross-section around the centreline: semi-axes as multiples of the inscribed
#: radius (lateral, anterior-posterior).
BODY_LATERAL_FACTOR = 1.7
BODY_AP_FACTOR = 1.15
#: In front of the centreline the body may extend further (the inscribed radius of a poorly
#: filled body underestimates its depth; no canal there to protect).
BODY_ANTERIOR_FACTOR = 1.6


#: Marrow cavities enclosed only in axial planes are filled in front of this multiple of the
#: inscribed radius behind the centreline (as the lids: the spinal canal lies behind it).
BODY_FRONT_POSTERIOR_FACTOR = 0.6


def _body_front(cl: Centreline, shape: tuple[int, int, int], w: float) -> np.ndarray:
    """Where marrow enclosed only in axial planes is filled: the body cross-section around the
    centreline, cut ``BODY_FRONT_POSTERIOR_FACTOR`` radii behind it (the spinal canal, also
    enclosed in axial planes by the arch, lies behind the body)."""
    return _body_cylinder(cl, shape, w, posterior_factor=BODY_FRONT_POSTERIOR_FACTOR)


def _body_cylinder(cl: Centreline, shape: tuple[int, int, int], w: float,
                   posterior_factor: float = BODY_AP_FACTOR) -> np.ndarray:
    out = np.zeros(shape, bool)
    yy, xx = np.mgrid[0:shape[1], 0:shape[2]]
    for k, z in enumerate(cl.z.astype(int)):
        if 0 <= z < shape[0]:
            r = cl.radius_mm[k] / w
            dy = yy - cl.y[k]
            ap = np.where(dy < 0, BODY_ANTERIOR_FACTOR * r, posterior_factor * r)
            out[z] = ((xx - cl.x[k]) / (BODY_LATERAL_FACTOR * r)) ** 2 + (dy / ap) ** 2 <= 1.0
    return out


def _inplane_edge_distance_mm(ct: CTImage, grid, cl: Centreline) -> np.ndarray:
    """Per centreline point: in-plane distance (mm) to the nearest edge of the CT's field of view
    (rows and columns of the original image; slices are not counted)."""
    lps = grid.index_to_lps(np.stack([cl.z, cl.y, cl.x], -1))
    idx = ct.geometry.lps_to_index_zyx(lps)
    shape = np.asarray(ct.array.shape, float)
    sp = np.asarray(ct.geometry.spacing_mm, float)[::-1]  # (z, y, x)
    d = np.minimum(idx[:, 1:] + 0.5, shape[None, 1:] - 0.5 - idx[:, 1:]) * sp[None, 1:]
    return d.min(axis=1)


def _body_on_grid(body: np.ndarray, src: sitk.Image, dst: sitk.Image) -> np.ndarray:
    """The body mask of grid ``src`` on grid ``dst`` (nearest neighbour).

    The coarse grid's end slices may lie up to half a coarse voxel inside the field of view, so
    a finer grid's end slice can fall outside it; the body there continues the end slice's
    outline (the mask is padded by one replicated slice at each z end), rather than being empty,
    which would drop every voxel of that slice from bone.
    """
    pad = np.concatenate([body[:1], body, body[-1:]], axis=0).astype(np.uint16)
    img = sitk.GetImageFromArray(pad)
    img.SetSpacing(src.GetSpacing())
    img.SetDirection(src.GetDirection())
    img.SetOrigin(src.TransformContinuousIndexToPhysicalPoint((0.0, 0.0, -1.0)))
    return sitk.GetArrayFromImage(sitk.Resample(img, dst, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                                                sitk.sitkUInt16)) > 0


def run_classic(ct: CTImage) -> ClassicOutput:
    img = resample_input(ct.to_sitk())  # (a 16-bit CT is resampled as it is: no float32 copy)
    warnings: list[str] = []
    coarse_w = max(COARSE_MM, max(ct.geometry.spacing_mm))
    coarse = make_workgrid(img, coarse_w)
    body_c = masks.body_mask(coarse.array)
    # contrast-enhanced blood pools are neither bone nor cavities of bone
    blood_c = masks.contrast_blood(coarse.array, coarse_w, body_c)
    bone_c = masks.bone_mask(coarse.array, body_c, exclude=blood_c)
    filled_c = masks.fill_enclosed(bone_c, spacing_mm=coarse_w, axial=False) & body_c & ~blood_c
    cl_c = find_centreline(filled_c, body_c, coarse_w)
    if cl_c is None:
        raise InputError("no vertebral column found in the CT (no thick bone near the body midline)")
    # region of interest around the coarse centreline
    o = np.asarray(coarse.image.GetOrigin())
    xs = o[0] + cl_c.x * coarse_w
    ys = o[1] + cl_c.y * coarse_w
    # (z: the whole field of view, so vertebrae cut by its edges are kept)
    cz = o[2] + np.array([-0.5, coarse.array.shape[0] - 0.5]) * coarse_w
    lo = np.array([xs.min() - ROI_LATERAL_MM, ys.min() - ROI_ANTERIOR_MM, cz[0]])
    hi = np.array([xs.max() + ROI_LATERAL_MM, ys.max() + ROI_POSTERIOR_MM, cz[1]])
    w = float(np.clip(max(ct.geometry.spacing_mm), FINE_MIN_MM, coarse_w))
    fine = make_workgrid(img, w, np.stack([lo, hi]))
    body_f = _body_on_grid(body_c, coarse.image, fine.image)
    # blood (arterial-phase pools, and the faint venous-phase lumens whose shape and surroundings
    # tell them from marrow) and the vessel wall around it: never bone, neither for separation nor
    # for the full-resolution border (a barrier there too)
    blood = masks.contrast_blood(fine.array, w, body_f) | vessels.find_faint_vessels(fine.array, w, body_f)
    wall = masks.vessel_wall(blood, w)
    bone = masks.bone_mask(fine.array, body_f, exclude=blood) & ~wall
    # (the body mask without blood: cavities are never filled with it)
    body_f &= ~blood
    prior = _remap_centreline(cl_c, coarse.image, fine.image, w)
    # marrow that a lost thin endplate opens towards the disc (osteoporosis) is filled in axial
    # planes, in front of the canal of the column tracked so far
    filled = masks.fill_enclosed(bone, spacing_mm=w, axial=_body_front(prior, bone.shape, w),
                                 hu=fine.array) & body_f
    cl = find_centreline(filled, body_f, w, prior=prior) or prior
    # close the vertebral bodies cut by the field of view, then track again
    cl = _extend_to_ends(cl, filled.shape[0])
    filled = masks.fill_enclosed(bone, _lids(cl, bone, w, fine.array), spacing_mm=w,
                                 axial=_body_front(cl, bone.shape, w), hu=fine.array) & body_f
    cl = find_centreline(filled, body_f, w, prior=cl) or cl
    cl = _extend_to_ends(cl, filled.shape[0])
    # cavities are filled only inside the vertebral bodies, never in the spinal canal
    # (the outer layer of the filled mask is dropped unless it is bone: closing adds partial-volume
    # soft tissue in concavities of the outline)
    cyl = _body_cylinder(cl, filled.shape, w)
    interior = filled & ndi.binary_erosion(filled, structure=masks._plane_structure(0)) & cyl
    filled = bone | interior
    # the disc profile is read from this mask, the one the partition uses: the unrestricted fill
    # also holds cavities behind the body (canal side, between the laminae) and closing voxels, which
    # the probe of a small upper-thoracic body reaches, so that in osteoporosis (marrow as dark as a
    # disc) the disc slices read as covered as the bodies and discs were placed inside the bodies
    prof = coverage_profile(filled, cl, hu=fine.array)
    disc_idx = select_discs(prof)
    disc_z = [float(prof.z[i]) for i in disc_idx]
    if len(disc_z) >= 2:
        typical_gap = float(np.median(np.diff(disc_z)))
    else:
        typical_gap = 30.0 / w
    bounds = segment_bounds(disc_z, cl)
    log.debug("discs at slices %s, centreline z %s..%s, bounds %s", disc_z, cl.z[0], cl.z[-1], bounds)
    # a sliver below the lowest disc is kept as a partial vertebra when the field of view ends in
    # its body, and dropped when it ends in the disc (then it holds no vertebra); at the top a
    # sliver is kept since its arch is seeded from the top slice
    if len(bounds) > 1 and (bounds[0][1] - bounds[0][0]) < MIN_END_FRACTION * typical_gap \
            and end_slice_is_disc(fine.array, cl, int(np.ceil(bounds[0][0]))):
        bounds = bounds[1:]
        # nor is that disc cut: no vertebra lies beyond it. Its position there (``discs``: where
        # the coverage has fallen half-way towards the disc) is the bony end plate's surface, and a
        # cut plane at it took the end plate's own slice and detached the ring apophysis and rim,
        # which reach caudally around the disc's bulge, from the body that holds them
        sep_discs = disc_z[1:]
    else:
        sep_discs = disc_z
    if not bounds:
        raise InputError("no vertebra found along the spinal column")
    span_mm = (cl.z[-1] - cl.z[0]) * w
    if not disc_z and span_mm > GAP_MAX_MM:
        # any stretch of the column longer than one level holds a disc: this is another structure
        # (e.g. the heart in a crop that holds only the front of the vertebral bodies)
        raise InputError(f"no vertebral column found: no intervertebral disc along {span_mm:.0f} mm "
                         "of the thick bone found near the midline")
    # a whole vertebral body's deepest point lies at least its inscribed radius from the in-plane
    # edge of the field of view; along most of the column nearer than that (plus a voxel), the
    # bodies are cut by the field of view (e.g. a cardiac crop holding only their front): neither
    # the bodies nor their levels can be measured
    edge_mm = _inplane_edge_distance_mm(ct, fine, cl)
    cut = edge_mm <= cl.radius_mm + w
    log.debug("column to in-plane FOV edge: median %.1f mm (radius %.1f mm), cut on %.0f %%",
              float(np.median(edge_mm)), float(np.median(cl.radius_mm)), 100.0 * cut.mean())
    if cut.mean() > 0.5:
        raise InputError("no vertebral column found: the vertebral bodies are cut by the in-plane field of view "
                         f"along {100.0 * cut.mean():.0f} % of the column (only part of each body is imaged)")
    # --- sacrum-like segments (wide continuous bone across the body row)
    med_r = float(np.median(cl.radius_mm))
    body_width = 2.6 * med_r
    sacral_width = max(SACRUM_MIN_WIDTH_MM, SACRUM_WIDTH_RATIO * body_width)
    findings: list[SegmentFinding] = []
    widths = []
    for k, (lo_, hi_, _) in enumerate(bounds):
        width = _row_run_width(filled | bone, cl, lo_ + 0.15 * (hi_ - lo_), hi_ - 0.15 * (hi_ - lo_), w)
        widths.append(width)
        partial = bool(bounds[k][2] and (hi_ - lo_) < MIN_END_FRACTION * typical_gap)
        # a sacrum lies below the lumbosacral disc: the top segment of the field of view (no disc
        # above it) is never taken for the sacrum, however wide (a contrast-filled heart)
        has_disc_above = k < len(bounds) - 1
        findings.append(SegmentFinding(sacral=width >= sacral_width and has_disc_above, partial=partial,
                                       sacral_misplaced=width >= sacral_width and not has_disc_above,
                                       at_fov_edge=bool(bounds[k][2]), height_mm=float((hi_ - lo_) * w),
                                       width_mm=float(width)))
    sacrum_top = max((k for k, f in enumerate(findings) if f.sacral), default=None)
    # the arch seeds and the midline band of the posterior elements centre on the arches' mid-sagittal
    # plane: a lytic lesion that takes one side of a body moves the inscribed-circle centre, not the
    # arch (``arch_midline``); the disc barriers and body seeds keep following the bodies
    cl_arch = arch_midline(bone, cl)
    labels, zone, vseeds = separate(bone, filled, cl, sep_discs, bounds, w, typical_gap, hu=fine.array,
                                    sacrum_top=sacrum_top, arch_cl=cl_arch)
    # other-bone regions touching a sacral segment are pelvis, not ribs
    thick = ndi.distance_transform_edt(bone | filled, sampling=w)
    adj = _near_other(labels, len(bounds), thick, w)
    pelvis = set()
    for k, f in enumerate(findings):
        if f.sacral:
            pelvis.update(adj[k].keys())
    for k, f in enumerate(findings):
        if f.sacral:
            continue
        yq, xq, rq = cl.at(np.array([0.5 * (bounds[k][0] + bounds[k][1])]))
        for j, (cnt, mx, my, th, dmin, cx, cy) in adj[k].items():
            # where the region comes closest to the vertebra, not the mean over its near part
            dy_mm = (cy - yq[0]) * w
            dx_mm = abs(cx - xq[0]) * w
            log.debug("segment %d: other %d contact %d at dx %.1f dy %.1f mm (mean dy %.1f mm), closest %.1f mm, "
                      "local half-thickness %.1f mm", k, j, cnt, dx_mm, dy_mm, (my - yq[0]) * w, dmin, th)
            # ribs articulate with the posterolateral body and the transverse processes; bright
            # structures touching the body from the front (contrast-filled aorta) are not ribs. A
            # rib may touch in front of the body centre only beyond the transverse-process tips:
            # the short first rib curves forward within a few cm of its joints with T1
            in_front = dy_mm < 0 and dx_mm <= ZONE_RIB_LATERAL_MM
            if j in pelvis or th > RIB_MAX_HALF_THICKNESS_MM or in_front:
                continue
            if dmin > RIB_CONTACT_MM:
                f.rib_near = True
                continue
            if mx > xq[0]:
                f.rib_left = True
            else:
                f.rib_right = True
        # ribs inside the spine zone (short lower ribs, or ribs cut by the field of view before they
        # leave it): joined to the vertebra only through their joints, so part of its label, but
        # detached from it in the axial slices they cross beside it (none below the sacrum's top)
        if sacrum_top is not None and k < sacrum_top:
            continue
        right_mm, left_mm = detached_lateral_runs(labels, k + 1, cl, w)
        if right_mm or left_mm:
            log.debug("segment %d: detached lateral bone runs right %.0f mm, left %.0f mm", k, right_mm, left_mm)
        # ribs come in pairs: a detached run on one side only is more likely a process tip or a
        # piece of a lytic or osteoporotic cortex that fell apart in its slice
        if min(right_mm, left_mm) >= RIB_RUN_MIN_MM:
            f.rib_right = f.rib_left = True
    # second pass: at rib-bearing levels the region lateral to the body seeds the ribs (the sacrum,
    # and a sliver of a vertebra cut by the field of view, whose only seeds lie in the dark marrow
    # of its body or at the far end of its arch, keep their geodesic partition: ``separate``)
    rib_slices = np.zeros(filled.shape[0], bool)
    for k, f in enumerate(findings):
        if f.rib:
            lo_, hi_, _ = bounds[k]
            rib_slices[max(0, int(np.floor(lo_))):int(np.ceil(hi_)) + 1] = True
    if rib_slices.any():
        labels, zone, vseeds = separate(bone, filled, cl, sep_discs, bounds, w, typical_gap, rib_slices=rib_slices,
                                hu=fine.array, fixed={k + 1 for k, f in enumerate(findings) if f.sacral or f.partial},
                                sacrum_top=sacrum_top, arch_cl=cl_arch)
    # lung fraction at each segment's level (coarse grid covers the whole body)
    lung_c = body_c & (coarse.array < LUNG_HU)
    for k, (lo_, hi_, _) in enumerate(bounds):
        z_lps = fine.image.GetOrigin()[2] + np.array([lo_, hi_]) * w
        zi = [int(round(_lps_z_to_index(coarse.image, z))) for z in z_lps]
        z0, z1 = max(0, min(zi)), min(coarse.array.shape[0], max(zi) + 1)
        area = body_c[z0:z1].sum()
        findings[k].lung_fraction = float(lung_c[z0:z1].sum() / area) if area else None
    lab = label_levels(findings)
    log.info("classic: %d segments, widths %s, findings %s, labels %s", len(bounds),
             [round(x) for x in widths], findings, lab.names)
    # --- VerSe ids on the working grid
    lut = np.zeros(int(labels.max()) + 1, np.uint16)
    uncertain_ids: set[int] = set()
    for k, name in enumerate(lab.names):
        if name is None:
            continue
        if name == "sacrum":
            vid = anatomy.SACRUM_ID
        else:
            if name not in anatomy.TARGET_LEVELS + ["L6", "T13"]:
                continue
            vid = anatomy.vertebra_id(name)
        lut[k + 1] = vid
        if k in lab.uncertain:
            uncertain_ids.add(vid)
    lab_small = lut[np.where(labels < OTHER_OFFSET, labels, 0)]
    ref = img  # the CT's grid (only its geometry is used; no second copy of the CT)
    # posterior elements at rib-bearing levels are partitioned again on the CT grid from each level's seeds
    # (the reconstructed slice thickness, where the reader knows it, shapes the z-border model:
    # overlapping slices, e.g. 3 mm every 2 mm, average beyond their own voxel)
    labels_ct = refine_on_ct(lab_small, fine.image, ref, ct.array, seeds_work=lut[vseeds],
                             posterior_work=posterior_region(labels.shape, cl_arch, w, rib_slices),
                             slice_thickness_mm=ct.metadata.get("slice_thickness_mm"),
                             barrier_work=blood | wall)
    # bone the working grid gave to a rib or an ilium stays out of the vertebrae on the CT grid (the
    # border step above grows each vertebra into any CT bone)
    labels_ct = release_other_bone(labels_ct, labels, fine.image, ref)
    # lytic cavities whose wall is opened: soft tissue inside a body's own axial outline and its
    # mirror image, in front of the canal (``lytic``)
    front = lytic.front_of_canal(cl, filled.shape, w, BODY_FRONT_POSTERIOR_FACTOR)
    labels_ct = lytic.fill_lytic_on_ct(labels_ct, ct.array, front, fine.image, ref,
                                       ids={int(v) for v in lut if v and v != anatomy.SACRUM_ID})
    # marrow below the bone threshold held by a vertebra's shell on the CT grid (osteoporotic
    # posterior elements: dark marrow between their cortical lines). Only where a pixel is at most
    # half the cortical gap: coarser pixels cannot show marrow between two cortical lines (at 3 mm
    # the rule reduces to one-voxel pockets, and on the real 3 mm CT those few voxels moved L5's
    # reported heights by 7.5 mm through the max-spread plane choice of ``qct.shape``)
    px = float(max(ct.geometry.spacing_mm[:2]))
    if px <= masks.CORTICAL_GAP_MM / 2:
        labels_ct = masks.enclosed_marrow(labels_ct, px)
    warnings.extend(lab.warnings)
    return ClassicOutput(labels_ct, lab, uncertain_ids, warnings)

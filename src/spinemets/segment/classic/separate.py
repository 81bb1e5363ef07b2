"""Per-vertebra separation on the working grid.

Each vertebra grows from a seed in its body (the middle of the centreline between two discs) by
marker-controlled watershed on a flat landscape, i.e. a geodesic Voronoi partition of the bone
mask: every bone voxel joins the seed it can reach by the shortest path through bone, so the
posterior elements follow their own pedicles. Thin planes at every disc cut the body column so two bodies cannot merge across a disc.
Bone outside an anatomical "spine zone" around the centreline (ribs beyond the transverse
processes, pelvis, shoulder girdle) seeds competing non-vertebral regions, which detaches ribs
and the ilia from the vertebrae. Beside the body at rib-bearing levels (rib heads and necks,
transverse processes, costotransverse joints) the vertebra-vs-rib boundary is then redrawn by a
watershed on HU (``rib_contact_partition``), along the cortex between the two bones' marrow.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from .centreline import Centreline
from .grid import labels_to_grid_image

#: Spine zone around the body centre in each axial slice (mm): lateral half width (transverse
#: process tips reach ~45-50 mm), anterior margin beyond the body, posterior reach (spinous tips).
ZONE_LATERAL_MM = 58.0
ZONE_ANTERIOR_MARGIN_MM = 15.0
ZONE_POSTERIOR_MM = 105.0
#: At rib-bearing levels the transverse-process tips (costotransverse joints) lie at most ~38 mm
#: from the midline (T1, the widest; ~22 mm at T12): bone further out is rib.
ZONE_RIB_LATERAL_MM = 38.0
#: Body half width as a multiple of its inscribed radius (~ half its sagittal depth): thoracic
#: bodies are at most ~1.65 times as wide as deep (T1; ~1.2-1.4 at T5-T12), so bone further out in
#: front of the pedicles is a rib head or neck. And how far behind the body centre
#: (beyond one radius) the rib-head and rib-neck region reaches (mm): the rib neck runs in front
#: of the transverse process, which is centred on the pedicle-lamina junction ~8-10 mm behind the
#: posterior body wall (thoracic pedicle length) and ~8-10 mm thick, so its anterior face lies
#: ~4 mm behind the wall. (At 8 mm the region held the roots of the long, near-horizontal upper
#: thoracic processes, T1-T3, and handed the whole process to the rib.)
BODY_HALF_WIDTH_FACTOR = 1.7
RIB_ZONE_BEHIND_MM = 4.0
#: Seed radius as a fraction of the body radius, and the central fraction of each segment seeded.
SEED_RADIUS_FRACTION = 0.5
SEED_CENTRAL_FRACTION = 0.5
#: Arch seeds (mm / multiples of the body radius behind the body centre).
ARCH_SEEDS = True
ARCH_FROM_FACTOR = 0.9
ARCH_REACH_MM = 22.0
ARCH_HALF_WIDTH_MM = 15.0
#: At rib-bearing levels the arch seeds continue along the transverse processes: behind the rib
#: head and neck region (``RIB_ZONE_BEHIND_MM`` beyond one body radius behind the centre: the rib
#: neck runs in front of the transverse process) out to this lateral half width (mm), the shortest
#: transverse-process half span at a rib-bearing level (T12, ~22 mm from the midline; T1 ~38 mm).
#: Otherwise the rib, which touches the process along its neck and at the tubercle, is nearer to
#: the process tip through bone than the arch seed is, and takes it.
TP_SEED_HALF_WIDTH_MM = 22.0
#: ... and from this far (mm) behind the rib head and neck region: the diameter of a rib shaft
#: (~8 mm), whose neck runs in front of the process, behind that region's back line.
TP_SEED_BEHIND_NECK_MM = 8.0
#: ... within this distance (mm) of the arch seeds' mid-plane: half the cranio-caudal height of a
#: thoracic transverse process (~10 mm), so that the seeds hold the process, not the articular
#: processes above and below it (which meet the neighbours' at the facet joints).
TP_SEED_HALF_HEIGHT_MM = 5.0
#: Disc barrier: radius as a fraction of the body radius.
BARRIER_RADIUS_FRACTION = 1.6
#: Label offset of non-vertebral bone regions.
OTHER_OFFSET = 1000
#: An end segment shorter than this fraction of the level height has no usable body seed.
MIN_BODY_FRACTION = 0.3


def body_row_run(mask: np.ndarray, cl: Centreline, z: int, w: float,
                 front_only: bool = False) -> tuple[int, int, float] | None:
    """The continuous run of ``mask`` voxels along x through the centreline at slice ``z``, in
    the body row (projected over y within half a body radius of the centre; with ``front_only``,
    only its anterior half, up to the centre): (first x index, last x index, centreline x as a
    continuous index), or None where the centreline voxel is not in the mask. ``w`` is the
    in-plane voxel size (mm)."""
    y, x, r = (float(v[0]) for v in cl.at(np.array([z])))
    b = max(1, int(round(0.5 * r / w)))
    row = mask[z, max(0, int(round(y)) - b):int(round(y)) + (1 if front_only else b + 1), :].any(0)
    xi = int(round(x))
    if not (0 <= xi < row.size) or not row[xi]:
        return None
    left = xi
    while left - 1 >= 0 and row[left - 1]:
        left -= 1
    right = xi
    while right + 1 < row.size and row[right + 1]:
        right += 1
    return left, right, x


def body_half_widths(mask: np.ndarray, cl: Centreline, bounds: list[tuple[float, float, bool]],
                     w: float, front_only: bool = False) -> np.ndarray:
    """Per axial slice, the vertebral body's extent (mm) to the right (-x) and left (+x) of the
    centreline, measured at mid-height of each segment: the median over the central slices of
    the continuous bone run through the body row (within half a radius of the centre in y).
    Rib heads articulate at the ends of the body (thoracic demifacets at the discs; the whole
    facet in the upper half at T1, T10-T12), so mid-height is free of them; with ``front_only``
    the row is the body's anterior half only (``body_row_run``), clear of the rib heads at its
    posterolateral corners even where they reach mid-height. End segments (cut by the field of
    view: their mid-height is not the body's) are not measured. NaN where unknown."""
    out = np.full((mask.shape[0], 2), np.nan)
    for lo, hi, is_end in bounds:
        if is_end and len(bounds) > 1:
            continue
        mid, half = 0.5 * (lo + hi), BODY_WIDTH_CENTRAL_FRACTION * 0.5 * (hi - lo)
        ext = []
        for z in range(int(np.ceil(mid - half)), int(np.floor(mid + half)) + 1):
            if not 0 <= z < mask.shape[0]:
                continue
            run = body_row_run(mask, cl, z, w, front_only)
            if run is None:
                continue
            left, right, x = run
            ext.append(((x - left) * w, (right - x) * w))
        if ext:
            z0, z1 = max(0, int(np.floor(lo))), min(mask.shape[0], int(np.ceil(hi)) + 1)
            out[z0:z1] = np.median(np.asarray(ext), axis=0)
    return out


#: Central fraction of each segment's height where the body width is measured; margin (mm) added
#: to the measured half width: the end-plate rims flare 1-3 mm beyond the waist of the body; and
#: the narrowest thoracic bodies (T8-T9) are still ~1.2 times as wide as deep, so the limit never
#: comes nearer than 1.2 inscribed radii (a lytic body whose bone row is broken is not cut).
BODY_WIDTH_CENTRAL_FRACTION = 0.3
BODY_WIDTH_MARGIN_MM = 3.0
BODY_MIN_HALF_WIDTH_FACTOR = 1.2
#: The zone's front never lies further than this many inscribed radii (plus
#: ``ZONE_ANTERIOR_MARGIN_MM``) in front of the centreline: the body outline's anterior semi-axis
#: (``pipeline.BODY_ANTERIOR_FACTOR``: a poorly filled body's inscribed radius underestimates its
#: depth), so a bright structure joined to the body's front (a calcified aortic wall on a scan
#: without contrast) cannot carry the zone forward.
ZONE_ANTERIOR_MAX_FACTOR = 1.6


def front_reach(mask: np.ndarray, cl: Centreline, w: float) -> np.ndarray:
    """Per axial slice, how far (mm) the body's own bone reaches in front of the centreline: the
    continuous run of ``mask`` forwards (-y) from the centreline voxel through the body's central
    column (projected over x within half an inscribed radius of the centre). NaN where the
    centreline voxel is not in the mask or the slice is off the centreline. The prevertebral space
    holds no bone (anterior longitudinal ligament, fat, the aorta and azygos vein, the crura), so
    bone continuous with the body's front is the body's: its anterior rim and the marginal
    osteophytes that grow from it. A contrast-filled vessel lying against the body stops the run:
    its lumen and wall are not in the bone mask (``vessels``, ``masks.vessel_wall``)."""
    out = np.full(mask.shape[0], np.nan)
    for z in range(mask.shape[0]):
        if not (cl.z[0] <= z <= cl.z[-1]):
            continue
        y, x, r = (float(v[0]) for v in cl.at(np.array([z])))
        yi, xi = int(round(y)), int(round(x))
        h = max(1, int(round(0.5 * r / w)))
        col = mask[z, :, max(0, xi - h):xi + h + 1].any(1)
        if not (0 <= yi < col.size) or not col[yi]:
            continue
        front = yi
        while front - 1 >= 0 and col[front - 1]:
            front -= 1
        out[z] = (y - front) * w
    return out


def spine_zone(shape: tuple[int, int, int], cl: Centreline, w: float,
               rib_slices: np.ndarray | None = None, half_widths: np.ndarray | None = None,
               front_mm: np.ndarray | None = None) -> np.ndarray:
    """Anatomical zone of the vertebrae around the centreline (working grid). In ``rib_slices``,
    bone lateral to the body (beyond ``BODY_HALF_WIDTH_FACTOR`` radii, or beyond the body's own
    measured extent ``half_widths`` (``body_half_widths``) plus ``BODY_WIDTH_MARGIN_MM``) and in
    front of the transverse processes and behind the body centre is rib head or neck, and bone
    beyond ``ZONE_RIB_LATERAL_MM`` is rib. In front, the zone ends ``ZONE_ANTERIOR_MARGIN_MM``
    beyond one inscribed radius, or ``BODY_WIDTH_MARGIN_MM`` beyond the body's own front
    (``front_mm``, ``front_reach``) where that is further, but never beyond
    ``ZONE_ANTERIOR_MAX_FACTOR`` radii plus ``ZONE_ANTERIOR_MARGIN_MM``."""
    nz, ny, nx = shape
    zone = np.zeros(shape, bool)
    yi = np.arange(ny)[:, None]
    xi = np.arange(nx)[None, :]
    for k, z in enumerate(cl.z.astype(int)):
        if z < 0 or z >= nz:
            continue
        dx = (xi - cl.x[k]) * w
        dy = (yi - cl.y[k]) * w
        r = cl.radius_mm[k]
        front = r + ZONE_ANTERIOR_MARGIN_MM
        if front_mm is not None and np.isfinite(front_mm[z]):
            # the body's own front (``front_reach``) plus the margin its rim flares beyond the
            # central column: one inscribed radius places the front too near where the centreline
            # lies behind mid-depth (a dark marrow cavity the fill left open moves the deepest
            # point of the filled body back); within the body's largest anterior extent
            front = max(front, min(front_mm[z] + BODY_WIDTH_MARGIN_MM,
                                   ZONE_ANTERIOR_MAX_FACTOR * r + ZONE_ANTERIOR_MARGIN_MM))
        zone[z] = (np.abs(dx) <= ZONE_LATERAL_MM) & (dy >= -front) & (dy <= ZONE_POSTERIOR_MM)
        # at rib-bearing levels, lateral to the body, behind its centre and in front of the
        # pedicles there is no vertebral bone, only rib heads and necks: that bone seeds the rib
        # side. (In front of the centre no rib touches the body, whose end-plate rims and marginal
        # osteophytes may flare beyond the waist measured at mid-height; the rib-head limit there
        # seeded the rib side inside the body's own rim)
        if rib_slices is not None and rib_slices[z]:
            lim = np.full(dx.shape, BODY_HALF_WIDTH_FACTOR * r)
            if half_widths is not None and np.all(np.isfinite(half_widths[z])):
                # the body's own width where it was measured (``body_half_widths``)
                hw = np.clip(half_widths[z] + BODY_WIDTH_MARGIN_MM, BODY_MIN_HALF_WIDTH_FACTOR * r,
                             BODY_HALF_WIDTH_FACTOR * r)
                lim = np.where(dx < 0, hw[0], hw[1])
            zone[z] &= ~((np.abs(dx) > lim) & (dy >= 0) & (dy < r + RIB_ZONE_BEHIND_MM))
            zone[z] &= np.abs(dx) <= ZONE_RIB_LATERAL_MM
    return zone


def body_extent(shape: tuple[int, int, int], cl: Centreline, w: float, rib_slices: np.ndarray,
                half_widths: np.ndarray) -> np.ndarray:
    """Working-grid region of the vertebral bodies' own bone where the rib heads meet them: in
    each slice of ``rib_slices`` whose body width was measured (``body_half_widths``), the
    posterior half of the body (from the centre back to the posterior wall, one inscribed radius
    behind it) within its measured extent to either side of the centreline less
    ``BODY_WIDTH_MARGIN_MM``. A rib head sits on the body's surface (the demifacets at its
    posterolateral corner, next to the pedicle root), never inside it, so bone here is vertebral
    whatever the rib's geodesic reach: the rib seeds, a few millimetres from the body's lateral
    wall, are otherwise nearer to that wall through the rib head than the body seed at its
    centre is. The rib-head seeds start the same margin outside the measured extent
    (``spine_zone``), so the geodesic contest between the two is decided at the body's surface.
    The anterior half, which no rib touches, is left to the usual competition (a box reaching
    the anterior wall took contrast-lit tissue touching the front of the real slab's T12)."""
    nz, ny, nx = shape
    out = np.zeros(shape, bool)
    yi = np.arange(ny)[:, None]
    xi = np.arange(nx)[None, :]
    for k, z in enumerate(cl.z.astype(int)):
        if not (0 <= z < nz and rib_slices[z] and np.all(np.isfinite(half_widths[z]))):
            continue
        dx = (xi - cl.x[k]) * w
        dy = (yi - cl.y[k]) * w
        lim = np.where(dx < 0, half_widths[z][0], half_widths[z][1]) - BODY_WIDTH_MARGIN_MM
        out[z] = (np.abs(dx) <= lim) & (dy >= 0) & (dy <= cl.radius_mm[k])
    return out


def segment_bounds(disc_z: list[float], cl: Centreline) -> list[tuple[float, float, bool]]:
    """(z_low, z_high, is_end) of every body segment, caudal to cranial; end segments are partial."""
    z0, z1 = float(cl.z[0]), float(cl.z[-1])
    cuts = sorted(disc_z)
    bounds = []
    edges = [z0] + cuts + [z1]
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        is_end = k == 0 or k == len(edges) - 2
        bounds.append((lo, hi, is_end))
    return bounds


def seeds(filled: np.ndarray, cl: Centreline, bounds: list[tuple[float, float, bool]], w: float,
          typical_gap_vox: float, zone: np.ndarray | None = None, no_arch: set[int] = frozenset(),
          upper_arch: set[int] = frozenset(), rib_slices: np.ndarray | None = None,
          arch_cl: Centreline | None = None) -> np.ndarray:
    """Marker array: segment k+1 in the central part of its body, 0 elsewhere.

    Segments in ``upper_arch`` (0-based; the sacrum's top segment, S1) have their arch seeded in
    the upper half of the segment instead of at mid-height: the S1 pedicles and superior articular
    processes spring from the top of the sacrum, whose fused segment reaches far below them.
    In ``rib_slices`` (with ``zone``) the arch seeds reach along the transverse processes
    (``TP_SEED_HALF_WIDTH_MM``), behind the rib head and neck region, inside the spine zone.
    ``arch_cl``: the arches' mid-sagittal plane (``arch_midline``); the arch seeds are centred
    laterally on it instead of on the body centreline (which a lytic lesion of one side of a
    body moves towards the intact side; the arch does not move).
    """
    shape = filled.shape
    pts = np.zeros(shape, np.int32)
    rad = np.zeros(len(bounds) + 1)
    arch: list[tuple[int, float, float]] = []
    for k, (lo, hi, is_end) in enumerate(bounds):
        length = hi - lo
        if is_end and len(bounds) > 1:
            # partial end segment: seed away from its disc only
            margin = 0.25 * min(typical_gap_vox, length)
            if k == 0:
                a, b = lo, hi - margin
            else:
                a, b = lo + margin, hi
        else:
            margin = 0.5 * (1 - SEED_CENTRAL_FRACTION) * length
            a, b = lo + margin, hi - margin
        zz = np.arange(np.ceil(a), np.floor(b) + 1)
        if zz.size == 0:
            continue
        yq, xq, rq = cl.at(zz)
        rad[k + 1] = float(np.median(rq)) * SEED_RADIUS_FRACTION / w
        for z, y, x in zip(zz.astype(int), np.round(yq).astype(int), np.round(xq).astype(int)):
            if 0 <= z < shape[0] and 0 <= y < shape[1] and 0 <= x < shape[2]:
                pts[z, y, x] = k + 1
        if ARCH_SEEDS and k not in no_arch and not (is_end and (hi - lo) < MIN_BODY_FRACTION * typical_gap_vox):
            half = 0.5 * (b - a)
            arch.append((k + 1, b - 0.5 * half if k in upper_arch else a + half, half))
    markers = np.zeros(shape, np.int32)
    if pts.any():
        # distance to the seeded centreline points, computed only in their bounding box
        m = int(np.ceil(rad.max())) + 2
        box = ndi.find_objects((pts > 0).astype(np.uint8))[0]
        box = tuple(slice(max(0, b.start - m), min(n, b.stop + m)) for b, n in zip(box, shape))
        sub = pts[box]
        dist, ind = ndi.distance_transform_edt(sub == 0, return_indices=True)
        nearest = sub[tuple(ind)]
        markers[box] = np.where(filled[box] & (dist <= rad[nearest]), nearest, 0)
    # neural arch at mid-body height, in the vertebra's own plane (normal = centreline tangent):
    # pedicles and the laminae next to the canal, right behind the body, belong to this vertebra
    # (seeding them keeps spinous and articular processes with their own arch, not a neighbour's)
    for lab, zmid, half in arch:
        yq, xq, rq = cl.at(np.array([zmid]))
        if arch_cl is not None:
            xq = arch_cl.at(np.array([zmid]))[1]
        t = cl.tangent(np.array([zmid]))[0]
        p = np.array([zmid, yq[0], xq[0]])
        post = np.array([0.0, 1.0, 0.0]) - t[1] * t
        post /= np.linalg.norm(post)
        lat = np.cross(t, post)
        r = rq[0] / w
        reach = r + ARCH_REACH_MM / w
        ext = int(np.ceil(max(reach, half) + 2))
        lo = np.maximum(np.floor(p).astype(int) - ext, 0)
        hi = np.minimum(np.floor(p).astype(int) + ext + 1, shape)
        g = np.mgrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(np.float32)
        d = g - p[:, None, None, None].astype(np.float32)
        a_t = np.tensordot(t, d, axes=1)
        a_p = np.tensordot(post, d, axes=1)
        a_l = np.tensordot(lat, d, axes=1)
        sel = (np.abs(a_t) <= half) & (a_p >= ARCH_FROM_FACTOR * r) & (a_p <= reach) & \
            (np.abs(a_l) <= ARCH_HALF_WIDTH_MM / w)
        if rib_slices is not None and zone is not None:
            # transverse processes, behind the rib necks, in the rib-bearing slices of the zone
            behind_neck = r + (RIB_ZONE_BEHIND_MM + TP_SEED_BEHIND_NECK_MM) / w
            tp = (np.abs(a_t) <= min(half, TP_SEED_HALF_HEIGHT_MM / w)) & (a_p >= behind_neck) & \
                (a_p <= reach) & (np.abs(a_l) <= TP_SEED_HALF_WIDTH_MM / w)
            tp &= rib_slices[lo[0]:hi[0], None, None] & zone[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            sel |= tp
        sub_m = markers[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        sub_f = filled[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        sub_m[sel & sub_f & (sub_m == 0)] = lab
    # a vertebra whose body is (almost) outside the top of the field of view: its arch still shows
    # above the disc (spinous processes slope caudally, so that bone belongs to it)
    lo, hi, is_end = bounds[-1]
    if len(bounds) > 1 and is_end and (hi - lo) < MIN_BODY_FRACTION * typical_gap_vox and zone is not None:
        # seed its bone above the disc plane (extended backwards), at least one voxel clear of it,
        # where that bone is joined to the column (``_joined_to_column``)
        t = cl.tangent(np.array([lo]))[0]
        yq, xq, _ = cl.at(np.array([lo]))
        z0 = max(0, int(np.floor(lo)) - int(np.ceil(typical_gap_vox)))
        g = np.mgrid[z0:shape[0], 0:shape[1], 0:shape[2]].astype(np.float32)
        along = t[0] * (g[0] - lo) + t[1] * (g[1] - yq[0]) + t[2] * (g[2] - xq[0])
        sub = markers[z0:]
        bone_zone = filled[z0:] & zone[z0:]
        sub[(along >= 1.5) & bone_zone & (sub == 0) & _joined_to_column(bone_zone, sub > 0)] = len(bounds)
    return markers


def _joined_to_column(mask: np.ndarray, column_seeds: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (bone in the spine zone) 26-connected to ``column_seeds`` (the
    vertebrae's body and arch seeds). A vertebra's arch is joined to the column by bone or by
    the partial volume of its joints; bone that is not (the patient table, which the posterior
    reach of the spine zone can hold behind a thin back) is no vertebra's."""
    lab, _ = ndi.label(mask, structure=np.ones((3, 3, 3), bool))
    keep = np.unique(lab[column_seeds & mask])
    return np.isin(lab, keep[keep > 0])


def cut_discs(mask: np.ndarray, cl: Centreline, disc_z: list[float], w: float) -> np.ndarray:
    """Remove thin planes (normal = centreline tangent) at each disc from ``mask`` (copy)."""
    out = mask.copy()
    shape = mask.shape
    for zd in disc_z:
        yq, xq, rq = cl.at(np.array([zd]))
        t = cl.tangent(np.array([zd]))[0]
        p = np.array([zd, yq[0], xq[0]])
        rad = BARRIER_RADIUS_FRACTION * rq[0] / w + 2
        lo = np.maximum(np.floor(p - rad).astype(int), 0)
        hi = np.minimum(np.ceil(p + rad).astype(int) + 1, shape)
        g = np.mgrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]].astype(float)
        d = g - p[:, None, None, None]
        along = np.tensordot(t, d, axes=1)
        perp = np.sqrt(np.maximum((d ** 2).sum(0) - along ** 2, 0))
        # laterally the body is wider than its inscribed radius; posteriorly stop at the body's
        # back wall so the articular processes are not cut
        cut = (np.abs(along) <= 0.6) & (perp <= rad) & (d[1] <= rq[0] / w + 1)
        sub = out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        sub[cut] = False
    return out


#: A rib leaves the vertebra laterally and runs down and out behind the transverse process, so in
#: the axial slices below its joints its cross-section lies beside the vertebra, not joined to it
#: in the slice; the vertebra's own lateral parts (transverse processes, a horizontal plate) are
#: joined to the pedicle in the slices through them. Bone of a vertebra's label that is detached in
#: its axial slice and lies beyond the widest body (``BODY_HALF_WIDTH_FACTOR`` radii) through
#: consecutive slices spanning at least this height (mm; a transverse-process tip that separates
#: from its root by partial volume does so in one slice) is a rib.
RIB_RUN_MIN_MM = 6.0
#: Smallest axial cross-section (mm^2) of a rib: the shaft of the smallest (12th) rib is ~6 mm
#: across (a circle of 3 mm radius); an axial cut through a sloping rib is larger still. Specks of
#: a few voxels (partial volume at a process tip) are not ribs.
RIB_MIN_SECTION_MM2 = float(np.pi * 3.0 ** 2)


def detached_lateral_runs(labels: np.ndarray, k: int, cl: Centreline, w: float) -> tuple[float, float]:
    """Height (mm) of the tallest run of bone of segment ``k`` (label value) on its right (-x)
    and left (+x) that, in each axial slice, is not connected to the part of the label crossing
    the midline band (within one body radius of the centreline: body, arch, spinous process) and
    whose centre lies beyond ``BODY_HALF_WIDTH_FACTOR`` radii from the centreline (the local
    radius, at least the column's median one: the tapering sacrum and coccyx are no measure of
    a body's width), each slice's section at least ``RIB_MIN_SECTION_MM2``: rib cross-sections
    joined to the vertebra only through their joints in other slices. ``labels`` is on the
    isotropic working grid of spacing ``w`` (mm)."""
    m = labels == k
    box = ndi.find_objects(m.astype(np.int8))
    if not box or box[0] is None:
        return 0.0, 0.0
    box = box[0]  # the segment's bounding box: labelling inside it is labelling the volume
    m = m[box]
    z0, x0 = box[0].start, box[2].start
    zs = np.nonzero(m.any(axis=(1, 2)))[0]
    islands = np.zeros(m.shape, np.int8)  # -1 right, +1 left
    conn = np.ones((3, 3), bool)
    xi = np.arange(x0, x0 + m.shape[2])[None, :]
    r_med = float(np.median(cl.radius_mm))
    min_vox = RIB_MIN_SECTION_MM2 / (w * w)
    for z in zs:
        if not cl.z[0] <= z + z0 <= cl.z[-1]:
            continue
        _, xc, rc = (float(v[0]) for v in cl.at(np.array([float(z + z0)])))
        rc = max(rc, r_med)
        lab, n = ndi.label(m[z], conn)
        if n < 2:
            continue
        dx = np.broadcast_to((xi - xc) * w, lab.shape)
        core = np.unique(lab[np.abs(dx) <= rc])
        sums = ndi.sum(dx, lab, np.arange(1, n + 1))
        cnt = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        for j in range(1, n + 1):
            if j in core or cnt[j - 1] < min_vox:
                continue
            cx = sums[j - 1] / cnt[j - 1]
            if abs(cx) > BODY_HALF_WIDTH_FACTOR * rc:
                islands[z][lab == j] = 1 if cx > 0 else -1
    out = []
    for side in (-1, 1):
        lab3, n3 = ndi.label(islands == side)
        best = 0
        for sl in ndi.find_objects(lab3):
            if sl is not None:
                best = max(best, sl[0].stop - sl[0].start)
        out.append(best * w)
    return out[0], out[1]


#: Landscape of the vertebra-vs-vertebra watershed (HU): bone at least this bright is flat
#: (geodesic growth through cortex); darker bone is flooded later, darkest last.
LANDSCAPE_BRIGHT_HU = 300.0


def joint_landscape(hu: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Watershed landscape: 0 on bright cortex, rising as bone gets darker (joint clefts are
    darker than the cortex on both sides even after partial volume)."""
    return np.clip(LANDSCAPE_BRIGHT_HU - hu, 0.0, LANDSCAPE_BRIGHT_HU).astype(np.float32)


def cleft_depth(hu: np.ndarray) -> np.ndarray:
    """Depth (HU) of narrow dark valleys: grey closing over the 3x3x3 neighbourhood minus HU.

    A joint space (cartilage, fluid: soft-tissue HU) between the cortical plates of two articular
    processes is at most about one working voxel (1.5-3 mm) wide, so the closing fills it with
    the brightness of the plates on either side; cancellous marrow is wider than the neighbourhood
    and stays near 0, so, unlike ``joint_landscape``, a seed in dark (osteoporotic, sacral) marrow
    does not flood late.
    """
    h = hu.astype(np.float32)
    return np.maximum(ndi.grey_closing(h, size=(3, 3, 3)) - h, 0.0)


#: The rib-contact region reaches this far (mm) beyond the rib zone's lateral limit
#: (``ZONE_RIB_LATERAL_MM``), so that the tips of the longest transverse processes (T1), which
#: reach that limit, are redrawn together with the rib bone around them.
RIB_CONTACT_BEYOND_MM = 6.0


#: Coarsest working spacing (mm) at which the HU partition can tell the rib neck from the
#: transverse process it runs along: the marrow of a 6-8 mm thick process shows between its two
#: cortices only when a voxel is at most about a third of it. On coarser grids the rib-neck seeds
#: behind the body wall are kept (``rib_contact_region``): the process is two or three
#: partial-volume voxels there and the rib, flooding along its neck, took it (3 mm phantoms, T2
#: 0.900 -> 0.883 on default seed 1).
RIB_NECK_RESOLVED_MM = 2.0


def rib_contact_region(shape: tuple[int, int, int], cl: Centreline, w: float, rib_slices: np.ndarray,
                       half_widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Working-grid region where a vertebra and its ribs touch, and the part of it behind the
    posterior body wall. The region: in each slice of ``rib_slices``, behind the body centre,
    beyond the body's measured extent (``body_half_widths``; at least ``BODY_MIN_HALF_WIDTH_FACTOR``
    radii) plus ``BODY_WIDTH_MARGIN_MM`` (where the rib-head seeds start, ``spine_zone``) and within
    ``RIB_CONTACT_BEYOND_MM`` beyond ``ZONE_RIB_LATERAL_MM``: rib heads and necks, transverse
    processes, costotransverse joints. Behind the wall: one inscribed radius behind the centre,
    only on grids of spacing ``w`` up to ``RIB_NECK_RESOLVED_MM`` (else empty)."""
    nz, ny, nx = shape
    region = np.zeros(shape, bool)
    behind = np.zeros(shape, bool)
    yi = np.arange(ny)[:, None]
    xi = np.arange(nx)[None, :]
    for k, z in enumerate(cl.z.astype(int)):
        if not (0 <= z < nz and rib_slices[z]):
            continue
        dx = (xi - cl.x[k]) * w
        dy = (yi - cl.y[k]) * w
        r = cl.radius_mm[k]
        hw = half_widths[z] if np.all(np.isfinite(half_widths[z])) else np.full(2, BODY_HALF_WIDTH_FACTOR * r)
        hw = np.maximum(hw, BODY_MIN_HALF_WIDTH_FACTOR * r) + BODY_WIDTH_MARGIN_MM
        lim = np.where(dx < 0, hw[0], hw[1])
        region[z] = (np.abs(dx) > lim) & (np.abs(dx) <= ZONE_RIB_LATERAL_MM + RIB_CONTACT_BEYOND_MM) & (dy >= 0)
        if w <= RIB_NECK_RESOLVED_MM:
            behind[z] = np.broadcast_to(dy >= r, (ny, nx))
    return region, behind


def rib_contact_partition(labels: np.ndarray, markers: np.ndarray, mask: np.ndarray, hu: np.ndarray,
                          region: np.ndarray, behind: np.ndarray) -> np.ndarray:
    """``labels`` (from the flat geodesic partition) with the bone of ``region``
    (``rib_contact_region``) partitioned again by a watershed on HU. Every voxel outside the
    region keeps its label, and inside it the vertebral seeds (``markers``: body, arch, transverse
    processes) and the rib seeds outside ``behind`` keep theirs (in front of the posterior body
    wall, lateral to the body, there lies only a rib head); the rib seeds behind the wall, where
    the rib neck runs along the front of the transverse process and position does not tell the
    two apart, are dropped where the grid resolves the process's marrow. Each bone then floods the
    region through its own marrow, darkest first, and two bones meet on the bright cortex between
    their marrow cavities (a cortical plate on either side of a joint, or the one plate of two
    bones in contact), not where the nearer seed happens to lie: the rib neck no longer reaches the
    tip of the process through the plate between them. A joint space (a dark cleft between the two
    cortices) is flooded from whichever bone reaches it first, so less of the tip is kept across a
    cleft (synthetic level, ``tests/test_segment_tp.py``: 0.92 on a 2 mm grid, 0.98 on 1 mm; 1.0
    with the cortices in contact). On a 3 mm grid the process is two or three partial-volume
    voxels and the result is noisier (3 mm phantoms: thoracic mean Dice -0.001 to +0.009 per
    case, single levels -0.02 to +0.03). (Filling clefts by a grey closing cost the clinical-size
    phantom, which has none, up to 0.011 Dice at T3: the closing fills part of the rib's marrow.)"""
    reg = region & mask & (labels > 0)
    if not reg.any():
        return labels
    box = ndi.find_objects(reg.view(np.uint8))[0]
    box = tuple(slice(max(0, b.start - 1), min(n, b.stop + 1)) for b, n in zip(box, labels.shape))
    rb = reg[box]
    mb = markers[box]
    mb = np.where((mb >= OTHER_OFFSET) & behind[box], 0, mb)
    again = watershed(hu[box].astype(np.float32), markers=np.where(rb, mb, labels[box]), mask=mask[box])
    out = labels.copy()
    out[box] = np.where(rb & (again > 0), again, labels[box])
    return out


def separate(bone: np.ndarray, filled: np.ndarray, cl: Centreline, disc_z: list[float],
             bounds: list[tuple[float, float, bool]], w: float, typical_gap_vox: float,
             no_arch: set[int] = frozenset(), rib_slices: np.ndarray | None = None,
             hu: np.ndarray | None = None, fixed: set[int] = frozenset(),
             sacrum_top: int | None = None, arch_cl: Centreline | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Watershed labels: 1..n vertebral segments (index+1 of ``bounds``), OTHER_OFFSET+j other bone.

    With ``hu`` and ``rib_slices``, the partition between vertebrae (other than ``fixed``) at
    rib-bearing levels is redrawn along the joint clefts (``joint_landscape``). With ``hu`` and
    ``sacrum_top`` (0-based index of the highest sacral segment), the boundary between the sacrum
    and the vertebra above it (L5) is redrawn along the lumbosacral facet-joint clefts
    (``cleft_depth``). ``arch_cl``: the arches' mid-sagittal plane, on which the arch seeds are
    centred (``seeds``; the disc barriers, body seeds and zones follow the body centreline ``cl``).

    Returns (labels, zone, markers): the markers are the vertebral seeds (segment index + 1; body
    and arch), for the full-resolution posterior-element partition (``refine.posterior_partition``).
    """
    mask = bone | filled
    hw = body_half_widths(mask, cl, bounds, w) if rib_slices is not None else None
    zone = spine_zone(mask.shape, cl, w, rib_slices, hw, front_reach(mask, cl, w))
    upper = {sacrum_top} if sacrum_top is not None else set()
    markers = seeds(filled, cl, bounds, w, typical_gap_vox, zone, no_arch, upper, rib_slices, arch_cl)
    outside = mask & ~zone
    olab, nother = ndi.label(outside)
    markers = np.where(olab > 0, olab + OTHER_OFFSET, markers)
    cut = cut_discs(mask, cl, disc_z, w)
    markers = np.where(cut, markers, 0)
    # flat landscape: every bone voxel goes to the seed it is geodesically closest to (through
    # bone), so posterior elements follow their own pedicles rather than a neighbour's facet
    if hw is not None:
        # the bodies' own extent is vertebral (``body_extent``): partitioned among the vertebral
        # seeds first, then held as their seeds against the rib seeds
        own = body_extent(mask.shape, cl, w, rib_slices, body_half_widths(mask, cl, bounds, w, True)) & cut
        vmark = np.where(own & (markers > 0) & (markers < OTHER_OFFSET), markers, 0)
        if vmark.any():
            inner = watershed(np.zeros(cut.shape, np.uint8), markers=vmark, mask=own)
            markers = np.where((markers == 0) & own & (inner > 0), inner, markers)
    labels = watershed(np.zeros(cut.shape, np.uint8), markers=markers, mask=cut)
    if hu is not None and hw is not None:
        # vertebra against rib beside the body (heads, necks, transverse processes, tubercles):
        # the boundary between the two bones is redrawn along the cortex where they meet
        labels = rib_contact_partition(labels, markers, cut, hu,
                                       *rib_contact_region(cut.shape, cl, w, rib_slices, hw))
    if hu is not None and rib_slices is not None:
        # between vertebrae, the boundary is redrawn at the joint clefts (facet joints, contacts of
        # sloping spinous processes with the lamina below): darker than the cortex on both sides
        # (``fixed`` segments, e.g. the sacrum, keep their geodesic partition: a seed in dark
        # cancellous bone floods late and would lose its own cortex to a neighbour)
        # only at rib-bearing levels: there the spinous processes slope 30-60 degrees caudally and
        # overlap the lamina below; lumbar processes are near horizontal and the geodesic
        # partition holds
        vert = (labels > 0) & (labels < OTHER_OFFSET) & ~np.isin(labels, list(fixed))
        vert &= rib_slices[:, None, None]
        vmark = np.where(vert & (markers > 0), markers, 0)
        again = watershed(joint_landscape(hu, cut.shape), markers=vmark, mask=vert)
        labels = np.where(vert & (again > 0), again, labels)
    if hu is not None and sacrum_top is not None and sacrum_top + 1 < len(bounds):
        # lumbosacral junction: the sacrum is one long fused segment whose seeds lie far below its
        # superior articular processes, so a geodesic partition hands them to L5, whose inferior
        # articular processes abut them; the L5-vs-sacrum boundary follows the facet clefts (and
        # the L5/S1 disc plane, removed from the mask) instead
        pair = [sacrum_top + 1, sacrum_top + 2]
        vert = np.isin(labels, pair)
        if vert.any():
            box = ndi.find_objects(vert.astype(np.uint8))[0]
            vb = vert[box]
            vmark = np.where(vb & np.isin(markers[box], pair), markers[box], 0)
            again = watershed(cleft_depth(hu[box]), markers=vmark, mask=vb)
            labels[box] = np.where(vb & (again > 0), again, labels[box])
    # keep, for every vertebral segment, the component that holds its seed (for a segment cut by
    # the end of the field of view, every component that holds one: its parts may be joined only
    # beyond the field of view, e.g. the lower end of a body cut by the top of the field of view
    # and the lower part of its arch, joined through the pedicles above it)
    boxes = ndi.find_objects(np.where(labels < OTHER_OFFSET, labels, 0), max_label=len(bounds))
    for k, box in enumerate(boxes, start=1):
        if box is None:
            continue
        sub = labels[box]  # a view: components inside the segment's bounding box are its components
        reg = sub == k
        lab, n = ndi.label(reg)
        if n > 1:
            seeded = np.unique(lab[(markers[box] == k) & reg])
            seeded = seeded[seeded > 0]
            if seeded.size:
                if bounds[k - 1][2] and len(bounds) > 1:
                    sub[reg & ~np.isin(lab, seeded)] = 0
                else:
                    sizes = np.bincount(lab.ravel())
                    best = seeded[np.argmax(sizes[seeded])]
                    sub[reg & (lab != best)] = 0
    vseeds = np.where((markers > 0) & (markers < OTHER_OFFSET), markers, 0).astype(np.int32)
    return labels.astype(np.int32), zone, vseeds


#: Half width (mm) of the midline band of the posterior elements re-partitioned from the top down
#: (``refine.posterior_partition``): thoracic spinous processes are 5-8 mm wide, and the articular
#: processes lie over the pedicles, beyond the canal (half width ~7.5-8.5 mm), so the band holds
#: the spinous processes and the laminae where they meet, never a facet joint.
MIDLINE_HALF_WIDTH_MM = 6.0
#: The band starts this far (mm) behind the posterior body wall (one inscribed radius behind the
#: centre): inside the spinal canal (thoracic canal depth 14-17 mm), clear of the body and the
#: pedicle bases, so only laminae and spinous processes lie in it.
MIDLINE_FROM_WALL_MM = 10.0


def posterior_region(shape: tuple[int, int, int], cl: Centreline, w: float,
                     rib_slices: np.ndarray, half_width_mm: float = MIDLINE_HALF_WIDTH_MM) -> np.ndarray:
    """Working-grid region of the midline posterior elements at rib-bearing levels: in each axial
    slice with ribs, the band within ``half_width_mm`` of the centreline that starts
    ``MIDLINE_FROM_WALL_MM`` behind the posterior body wall: laminae and spinous processes."""
    nz, ny, nx = shape
    out = np.zeros(shape, bool)
    yi = np.arange(ny)[:, None]
    for k, z in enumerate(cl.z.astype(int)):
        if 0 <= z < nz and rib_slices[z]:
            r = cl.radius_mm[k] / w
            sl = np.broadcast_to(yi - cl.y[k] >= r + MIDLINE_FROM_WALL_MM / w, (ny, nx))
            out[z] = sl & (np.abs(np.arange(nx)[None, :] - cl.x[k]) * w <= half_width_mm)
    return out


def release_other_bone(labels_ct: np.ndarray, labels_work: np.ndarray, work_img: sitk.Image,
                       ct_img: sitk.Image) -> np.ndarray:
    """Vertebra labels on the CT grid (``labels_ct``, changed in place and returned) without the
    bone that the working-grid partition (``labels_work``, from ``separate``) gave to a
    non-vertebral competitor (rib, ilium: labels from ``OTHER_OFFSET``): a CT voxel whose nearest
    working voxel is such bone is set to 0. The full-resolution border step grows every vertebra
    by one working voxel into the CT's bone mask, and a rib touching the vertebra (head at the
    body, neck along the transverse process, tubercle at its tip) is bone within that voxel; the
    rib's side of the working partition is kept instead, just as the vertebra's side is."""
    other = labels_to_grid_image((labels_work >= OTHER_OFFSET).astype(np.uint8), work_img, ct_img)
    drop = sitk.GetArrayViewFromImage(other) > 0
    labels_ct[drop] = 0
    return labels_ct

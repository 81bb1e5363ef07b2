"""Classic (no weights) segmentation of the trunk muscle groups in one mid-vertebral plane.

Method (all lengths in mm, scaled to the pixel size; all anchors from the segmented vertebra):

1. Tissue classes on the plane image smoothed with a 1 mm Gaussian: muscle -29..150 HU, fat
   -190..-30 HU, bone > 200 HU or any vertebra label; the body outline is the component of
   tissue (> -400 HU) that holds the vertebral body, holes filled.
2. Subcutaneous fat (SAT) = fat reconstructed from the outer 8 mm of the body outline. The depth of
   every muscle pixel below the SAT (distance to it, mm) separates the superficial muscle sheet
   from deep muscles.
3. Markers: paraspinal compartment per side (muscle posterior to the transverse processes,
   lateral to the spinous process, more than 3 mm below the SAT or lying on the compartment's bony
   floor: the laminae and, at T1-T12, the transverse processes and the ribs medial to the rib
   angles);
   psoas (beside the body: centre one body radius lateral to its side, at mid-depth);
   quadratus lumborum (lateral to the transverse-process tip, slightly anterior to it); the
   superficial sheet (muscle within 6 mm of the SAT outside the lumbar paraspinal zone); viscera
   (muscle-window tissue deeper than 20 mm below the SAT and anterior to the body, or far lateral
   and anterior to the transverse processes).
4. Marker-controlled watershed on the negated smoothed HU image restricted to the muscle mask:
   regions meet on the thin low-HU fat planes between muscles. Beside the body (psoas gutter,
   quadratus lumborum bed) fat planes too thin to reach the fat window are cut as HU valleys
   (``valley.py``), and the psoas/QL rim expansion does not step over them. Psoas seed pieces
   brighter than the caudal psoas are organ; QL seed pieces joined to the psoas or the paraspinal
   seed without a fat plane belong to those muscles.
5. The paraspinal region (ending medially at the spinous process) is split into
   transversospinalis (medial, against laminae and spinous process) and erector spinae (lateral)
   by a second watershed with markers at the medial 35 % and the lateral 30 % of the
   spinous-to-transverse-process span. Below the lung bases, erector spinae protrusions that reach
   other muscle-window tissue (iso-dense kidney, liver, diaphragm grown onto it) are trimmed
   (``_trim_wings``).
   At T1-T10 the sheet over the paraspinal mass (trapezius, rhomboids) is the first muscle layer
   below the SAT, except pieces lying on that bony floor (the erector spinae under thin fat, where
   the rays pass beside the trapezius) and, for the thin lower trapezius (T7-T10), pieces
   continuous with thick muscle under them (the deep muscles' surface) or lying across the skin's
   layers rather than along them (a deep muscle's side wrapped by the SAT); the thin sheet's
   pieces then grow through muscle-window pixels away from thick muscle (the steps' ends the rays
   missed; ``_sheet_course``). At T1-T10, beyond the
   paraspinal zone's lateral limit, muscle behind the ribs in the posterior trunk (the latissimus'
   and trapezius' sectors) that a disc thicker than the thin lower trapezius reaches together
   with a paraspinal region, joined to it without a fat plane, is that region's lateral end (the
   iliocostalis spread over the ribs out to the rib angles), not a sheet; the paraspinal region
   also keeps what it grew beyond that limit in the trapezius' sector. Above the lung bases no
   organ touches the paraspinal region, so no organ contact is cut from it.
6. The superficial sheet is assigned to the wall groups by its angle around the trunk centre
   (0 deg anterior, 180 deg posterior) and, for the lateral abdominal wall, by depth: where the
   obliques show as one layer (no fat plane seen between them) the external oblique is its outer
   share, the two muscles' thickness ratio measured where a fat plane does part them in the same
   plane (this side, else both sides; 40 % where they are never seen apart). Below the costal
   margin, between the rectus and the front of the arc where both obliques are seen, the first
   layer is the internal oblique's fleshy medial part (the external oblique turns aponeurotic
   first); tissue there deeper than the wall's inner layer is bowel
   (``_in_front_of_two_layer_arc``). On the lateral ribs the external oblique ends where the
   serratus anterior stops being seen beneath it (its posterior free border): behind that the
   single sheet is the serratus, whatever the sector; at T6-T7 the outer of two layers in the
   serratus sector is the external oblique's upper slips.
7. Psoas and quadratus lumborum: the quadratus lumborum region ends 0.5 body radius anterior to
   the posterior body wall (the kidney lies in front of it); where either touches an iso-dense
   organ without a fat plane, the ellipse of its outline seen against fat and bone adds back the
   part the organ's region took (``shape.complete_outline``).
8. The rectus abdominis ends at the linea semilunaris: lateral to the first angular bin where the
   outer run thins to less than half the rectus belly, the sheet is no rectus
   (``_beyond_linea_semilunaris``). The latissimus dorsi and the pectoralis major, which thin below
   a pixel at their lower ends, and the serratus anterior, whose upper slips on ribs 1-2 are
   thinner than a pixel, are followed along their course through the fat from the pieces the rays
   found, and pieces of the latissimus and pectoralis lying under their own course (reached by
   the rays between the beads of a sub-pixel sheet) are dropped (``thin_sheet.py``; their area is
   the HU integral across the course, ``core.py``).
9. Pectoral group: at T1-T5 the muscle beneath the pectoralis major (the pectoralis minor behind
   the clavipectoral fascia; the pectoral muscle area of chest-CT body composition) joins it
   (``pectoral.py``); at T6-T7 pieces of its lowest fibres lying on the pleura are chest wall.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels, watershed

from .. import anatomy
from .landmarks import Landmarks
from .wall import wall_layers
from .presence import expected
from .pectoral import beneath_cover
from .shape import complete_outline, mask_box
from .thin_sheet import beneath_own_sheet, depth_normal, follow_course, near_lung, ridge_excess, ridge_threshold
from .valley import fat_valleys, image_noise_hu

MUSCLE_HU = (-29.0, 150.0)
FAT_HU = (-190.0, -30.0)
BONE_HU = 200.0
#: a pixel this far into the fat window is fat however thin the plane it belongs to (HU, about
#: half-way from the muscle window's lower limit to fat at -90..-100 HU)
FAT_PLANE_HU = -60.0
#: deepest extent of the superficial muscle sheet below the subcutaneous fat (mm)
WALL_MAX_MM = 25.0
#: thickest sheet of the wall below the pectoral region (rectus abdominis ~10-15 mm) and in the
#: upper chest (pectoralis major, mm)
WALL_SHEET_MAX_MM = 16.0
WALL_SHEET_MAX_MM_CHEST = 26.0
#: the thick pectoralis major (the chest cap) down to T6; at T7 only its thin lowest fibres
CHEST_CAP_LAST = "T6"
#: muscle-window tissue thicker than this radius away from the spine is an organ (mm)
ORGAN_MIN_RADIUS_MM = 12.0
#: lateral extent of the paraspinal compartment in vertebral-body half-widths
PS_REACH_HALF_WIDTHS = 4.0
#: how far the thoracic erector spinae (iliocostalis over the ribs) may spread beyond the
#: paraspinal zone's lateral limit, in vertebral-body radii (about 12-15 mm at T5-T9): beyond it
#: the latissimus dorsi lies on the ribs, at places joined to the erector spinae's tip without a
#: visible fat plane
ES_SPREAD_RADII = 1.0
#: lateral extent of transversospinalis as a fraction of the spinous-process-to-transverse-process-tip
#: span (multifidus and the rotatores lie against the laminae, medial to longissimus)
TS_MAX_REL_SPAN = 0.75
#: psoas major arises from the lateral surfaces of the vertebral bodies T12-L4: its seed must come
#: this close to the body (mm; 1 mm bone margin + 1.5 mm seed erosion + a 2-3 mm fat plane)
PSOAS_BODY_CONTACT_MM = 6.0
#: psoas seed band: out to this many body radii beyond the body's side (+ 3 mm); quadratus
#: lumborum seed band: out to this many body radii beyond the transverse-process tip (the psoas
#: at L3 is about as wide as the body's radius; QL lies within a body radius of the TP tip)
PSOAS_SEED_REACH = 0.86
QL_SEED_REACH = 0.86
#: quadratus lumborum lies in the plane of the transverse processes, its anterior surface covered
#: by the anterior layer of the thoracolumbar fascia (attached to the transverse processes' anterior
#: surfaces), with the kidney in front of that layer: the region ends this many body radii anterior
#: to the body's posterior wall (about 8 mm in the lumbar spine: half the ~15 mm thickness of the
#: muscle in front of the processes' level). Iso-dense kidney grown onto it without a fat plane lies
#: further anterior
QL_ANTERIOR_RADII = 0.5
#: erector spinae core: opening with this fraction of its largest inscribed radius; pixels farther
#: than WING_CORNER_FRACTION of that radius from the core are protrusions (a right-angle corner
#: of a compact muscle lies within sqrt(2) - 1 = 0.41 of it)
WING_CORE_FRACTION = 0.5
WING_CORNER_FRACTION = 0.45
#: lung (air) in the posterior half of the plane within the paraspinal reach above this area
#: (mm^2): a level above the lung bases
LUNG_RECESS_MIN_MM2 = 100.0
#: a muscle piece this close to the laminae lies on them (a fat plane of up to ~3 mm, plus the
#: 1 mm partial-volume rim of the bone; mm)
LAMINA_CONTACT_MM = 4.0
#: the lower trapezius is a thin sheet (mm) lying on fat; a piece of it with more than
#: SHEET_SURFACE_FRACTION of its pixels touching muscle under it (no fat plane) is the surface of
#: a deep muscle that the subcutaneous fat reaches between the sheet's pieces
THIN_SHEET_MM = 5.0
SHEET_SURFACE_FRACTION = 0.3
#: an organ reached through a deep region (``_split_organ_contact``, ``beyond``) is cut as a mass at
#: least this radius wide (mm): the 2 mm smoothing sigma of the HU map the cut is made on; bright
#: texture of the muscle joined to it by narrower bridges is the muscle's own
ORGAN_CORE_RADIUS_MM = 2.0
#: smallest HU tolerance around a deep group's seed attenuation (3 mm-smoothed HU)
HU_CONSISTENCY_MIN = 12.0

_PS, _PSOAS, _QL, _WALL, _OTHER = 1, 3, 5, 7, 8



def _disk(radius_px: float) -> np.ndarray:
    r = max(int(np.ceil(radius_px)), 1)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return xx ** 2 + yy ** 2 <= radius_px ** 2 + 1e-9


def _component_at(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    ids = np.unique(lab[seed & mask])
    ids = ids[ids > 0]
    return np.isin(lab, ids) if len(ids) else np.zeros_like(mask)


def _largest(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n <= 1:
        return mask
    return lab == int(np.argmax(np.bincount(lab.ravel())[1:]) + 1)


def _touching(mask: np.ndarray, dist_mm: np.ndarray, reach_mm: float) -> np.ndarray:
    """The largest component of ``mask`` that comes within ``reach_mm`` of the structure whose
    distance map is ``dist_mm``; the largest component overall when none does."""
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    near = ndi.minimum(dist_mm, lab, index=np.arange(1, n + 1))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    ok = np.nonzero(np.asarray(near) <= reach_mm)[0]
    pick = ok[np.argmax(sizes[ok])] if len(ok) else int(np.argmax(sizes))
    return lab == pick + 1


def body_outline(hu: np.ndarray, px: float) -> np.ndarray:
    """Body (patient) outline: tissue > -400 HU, opened 2 mm, component at the image centre."""
    tissue = ndi.binary_opening(hu > -400, structure=_disk(2.0 / px))
    lab, n = ndi.label(tissue)
    c = (hu.shape[0] // 2, hu.shape[1] // 2)
    if n == 0:
        return np.zeros_like(tissue)
    keep = lab[c] if lab[c] else int(np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    return ndi.binary_fill_holes(lab == keep)


def segment_plane(hu: np.ndarray, inside: np.ndarray, vert_in_plane: np.ndarray, lm: Landmarks,
                  px: float, level: str, canal: np.ndarray | None = None,
                  psoas_ref_hu: dict[str, float] | None = None,
                  pectoral_reach_deg: dict[str, float] | None = None,
                  reach_out: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Masks ``{"erector_spinae_left": bool array, ...}`` of the groups found in the plane.

    ``pectoral_reach_deg``: per side the pectoralis major's lateral reach (normalised trunk angle,
    deg; ``pectoral_lateral_reach_deg()``) found one level up; below ``CHEST_CAP_LAST`` the muscle reaches no
    further lateral (``_cap_pectoral_reach``). ``reach_out``: if given, filled with this plane's
    reach (``pectoral_lateral_reach_deg()``), to pass to the next level down.

    ``psoas_ref_hu``: per side ("left"/"right") the psoas attenuation (HU) measured where the
    muscle is thick and isolated (lower lumbar levels); a muscle's CT number changes little along
    its length, so at T12-L2, where the small psoas touches the liver or the vena cava without a
    fat plane, tissue brighter than this reference by more than ``HU_CONSISTENCY_MIN`` takes no
    psoas seed (organs are brighter than muscle; fat infiltration only lowers a muscle's HU)."""
    hs = ndi.gaussian_filter(hu.astype(np.float32), sigma=max(1.0 / px, 0.5))
    yy, xx = np.indices(hu.shape, dtype=np.float32)
    y = (yy - hu.shape[0] // 2) * px  # posterior, mm
    x = (xx - hu.shape[1] // 2) * px  # left, mm
    body = body_outline(hs, px) & inside
    bone = ndi.binary_dilation((hs > BONE_HU) | (vert_in_plane > 0), structure=_disk(1.0 / px))
    muscle = (hs >= MUSCLE_HU[0]) & (hs <= MUSCLE_HU[1]) & body & ~bone
    if canal is not None:  # CSF and cord are in the muscle window
        muscle &= ~ndi.binary_dilation(canal, structure=_disk(1.0 / px))
    fat = (hs >= FAT_HU[0]) & (hs <= FAT_HU[1]) & body
    rim = body & ~ndi.binary_erosion(body, structure=_disk(8.0 / px))
    fat_o = ndi.binary_opening(fat, structure=_disk(1.0 / px))
    sat = ndi.binary_propagation(fat_o & rim, mask=fat_o)
    if not sat.any():  # no subcutaneous fat: use the skin surface
        sat = ~body
    depth = ndi.distance_transform_edt(~sat) * px

    r_b = lm.body_radius_mm
    tp = {1: lm.tp_tip_left, -1: lm.tp_tip_right}
    ytp = min(tp[1][1], tp[-1][1])
    xtp = max(abs(tp[1][0]), abs(tp[-1][0]))
    upper = anatomy.level_index(level) <= anatomy.level_index("T10")
    hw = min(lm.body_half_width_mm, 1.5 * r_b)  # body half-width, bounded where TPs merge with it
    # lateral limit of the paraspinal mass: 4 vertebral-body half-widths from the midline (the
    # erector spinae's lateral edge lies at about 3-4 half-widths from T1 to L5)
    ps_reach = max(PS_REACH_HALF_WIDTHS * hw, xtp + r_b)
    post_zone = (np.abs(x) < ps_reach) & (y > ytp - 0.3 * r_b)
    # psoas gutter beside the body (psoas reaches ~2.5 half-widths beyond the body's side) and the
    # quadratus lumborum bed lateral to the transverse-process tips
    gutter = (np.abs(x) - lm.body_half_width_mm < 2.5 * hw) & \
        (y > lm.body_anterior_mm - 0.5 * hw) & (y < ytp)
    ql_zone = (np.abs(x) > xtp - 0.2 * hw) & (np.abs(x) - xtp < 2.0 * hw) & \
        (y > lm.body_posterior_mm - 1.0 * hw) & (y < ytp + 0.5 * hw)
    # --- superficial wall layers (thin sheets: found on the unopened muscle mask); the deep
    # compartments are barriers the rays do not enter
    # the rib cage (bone apart from the vertebra) ends the wall: intercostals lie in the rib layer
    rib_bone = (hs > BONE_HU) & body & ~ndi.binary_dilation(vert_in_plane > 0, structure=_disk(3.0 / px))
    cap_mm = WALL_SHEET_MAX_MM_CHEST if anatomy.level_index(level) <= anatomy.level_index(CHEST_CAP_LAST) \
        else WALL_SHEET_MAX_MM
    # thin fascial fat planes (1-2 mm) between the sheets and what lies under them vanish in the
    # 1 mm smoothing: the rays read a 0.5 mm-smoothed muscle window
    h_sharp = ndi.gaussian_filter(hu.astype(np.float32), sigma=max(0.5 / px, 0.3))
    muscle_sharp = (h_sharp >= MUSCLE_HU[0]) & (h_sharp <= MUSCLE_HU[1]) & body & ~bone
    if canal is not None:
        muscle_sharp &= ~ndi.binary_dilation(canal, structure=_disk(1.0 / px))
    fat_plane = (h_sharp <= FAT_PLANE_HU) & (h_sharp >= FAT_HU[0])
    # the laminar groove: vertebra lateral to the spinous process and medial to the transverse-process
    # tips, and LAMINA_CONTACT_MM around it (the multifidus lies on the laminae, at most a thin fat
    # plane between; ribs and the chest wall meet the vertebra at the transverse-process tips)
    groove = (vert_in_plane > 0) & (np.abs(x) > lm.spinous_half_width_mm + 2.0) & (np.abs(x) < 0.8 * xtp)
    lamina_near = ndi.binary_dilation(groove, structure=_disk(LAMINA_CONTACT_MM / px)) & (np.abs(x) < xtp)
    # the floor of the paraspinal compartment further out: the transverse processes and, in the
    # thorax, the ribs' posterior surfaces medial to the rib angles (the erector spinae lie on
    # them; the trapezius and rhomboids never do, the erector spinae being in between)
    # at the rib-bearing levels T1-T12 only: in the lumbar spine the quadratus lumborum also
    # reaches the transverse processes, and the iliac crest at L4-L5 is no floor
    if anatomy.level_index(level) <= anatomy.level_index("T12"):
        lamina_near |= _compartment_floor_near(vert_in_plane > 0, rib_bone, x, y, lm, xtp, ps_reach + r_b, px)
    runs = wall_layers(body, sat, muscle_sharp & ~(post_zone | gutter | ql_zone), px, max_depth_mm=WALL_MAX_MM,
                       ribs=rib_bone, max_layer_mm=cap_mm, fat_plane=fat_plane, skin_depth_rule=True,
                       hu=h_sharp)
    # each wall layer is a sheet: parts thicker than the thickest sheet muscle at this level are
    # organs touching the wall without a fat plane (liver, bowel loops) and are removed
    for r in (1, 2):
        m = runs == r
        thick = ndi.binary_opening(m, structure=_disk(0.5 * cap_mm / px))
        if thick.any():
            runs[ndi.binary_dilation(thick, structure=_disk(1.0 / px)) & m] = 0
    if upper:  # the sheet over the paraspinal mass (trapezius, rhomboids; thicker at T1-T6)
        # (upper trapezius with the rhomboids ~10-15 mm; the lower trapezius is a thin sheet)
        sheet_mm = 15.0 if anatomy.level_index(level) <= anatomy.level_index("T6") else THIN_SHEET_MM
        over = wall_layers(body, sat, muscle_sharp, px, max_depth_mm=sheet_mm, fat_plane=fat_plane)
        sheet = (over == 1) & post_zone & (depth < sheet_mm)
        # a piece lying on the laminae (vertebra lateral to the spinous process; the trapezius
        # reaches the vertebra only at the spinous tips) is a deep muscle: the transversospinalis
        # under thin subcutaneous fat at T1-T2, never the sheet over it
        pieces, n = ndi.label(sheet)
        if n:
            sheet &= ~np.isin(pieces, np.unique(pieces[lamina_near & sheet]))
        # the sheet is separated from the deep muscles by fat; a piece continuous with the muscle
        # under it over much of its extent is the surface of that deep muscle (erector spinae or
        # transversospinalis where the subcutaneous fat reaches them between sheet pieces). Deep
        # muscle is thicker than the thin sheet: the sheet's own pixels that the first-layer rays
        # missed (a 1-2 mm trapezius drawn as steps of 1-2 pixel rows, each step touching the
        # next) are no muscle under it
        pieces, n = ndi.label(sheet)
        if n and sheet_mm <= THIN_SHEET_MM:
            thick = ndi.binary_opening(muscle_sharp & ~fat_plane, structure=_disk(0.5 * THIN_SHEET_MM / px))
            under = muscle_sharp & ~sheet & ~fat_plane & thick
            touch = ndi.binary_dilation(under, structure=ndi.generate_binary_structure(2, 1)) & sheet
            idx = np.arange(1, n + 1)
            frac = np.asarray(ndi.sum(touch, pieces, index=idx)) / np.maximum(ndi.sum(sheet, pieces, index=idx), 1)
            sheet &= ~np.isin(pieces, idx[frac > SHEET_SURFACE_FRACTION])
            # a sheet runs parallel to the skin: a piece extending further along the depth
            # direction (towards the nearest skin, at the piece's centroid) than the thin sheet is
            # thick and than it extends across it is the side of a deep muscle that the
            # subcutaneous fat wraps (the erector spinae's lateral edge met first by the rays)
            sheet &= ~_across_skin(sheet, body, px, THIN_SHEET_MM)
            if sheet.any():
                sheet = _sheet_course(sheet, muscle_sharp, thick, post_zone & (depth < sheet_mm) & body & ~bone)
        runs[sheet] = 1
    wall = runs > 0
    # --- deep muscles: marker watershed on the opened mask (thin bridges cut) -------------------
    # thin fat planes beside the body (psoas against the liver, vena cava or crus in front of it and
    # the quadratus lumborum behind it; quadratus lumborum against the kidney) whose middle partial
    # volume lifts into the muscle window: the bottoms of their HU valleys (``valley.py``)
    valley = _thin_fat_planes(h_sharp, hs, fat_o, muscle, px, (gutter | ql_zone) & body)
    deep_whole = ndi.binary_opening(muscle & ~wall & ~fat_plane, structure=_disk(1.0 / px))
    deep = ndi.binary_opening(muscle & ~wall & ~fat_plane & ~valley, structure=_disk(1.0 / px))
    markers = np.zeros(hu.shape, np.int32)
    # organs (liver, kidneys, spleen, bowel, heart): thick muscle-window tissue away from the spine
    # a thick blob is an organ unless its deepest point lies in the psoas seed band beside the
    # body or in the posterior compartment; thickness measured without the thin-plane valleys
    # (fat streaks inside a thick psoas would move its deepest point out of the seed band)
    edt = ndi.distance_transform_edt(deep_whole) * px
    blobs, n_blobs = ndi.label(edt >= ORGAN_MIN_RADIUS_MM)
    if n_blobs:
        deepest = ndi.maximum_position(edt, blobs, index=np.arange(1, n_blobs + 1))
        for i, (r, c) in enumerate(deepest, start=1):
            gap_c = abs(x[r, c]) - lm.body_half_width_mm
            in_seed_band = gap_c < 3.0 + 1.2 * hw and y[r, c] > lm.body_anterior_mm - 0.5 * hw and y[r, c] < ytp
            if not in_seed_band and not post_zone[r, c]:
                markers[(blobs == i) & ~post_zone & deep] = _OTHER
    # distance to the vertebral body (mm): psoas arises from the body's lateral surface
    body_dist = ndi.distance_transform_edt(vert_in_plane == 0) * px
    h2s = ndi.gaussian_filter(hu.astype(np.float32), sigma=2.0 / px)
    refs = psoas_ref_hu or {}
    for s, off in ((1, 0), (-1, 1)):
        xt, yt = abs(tp[s][0]), tp[s][1]
        sx = s * x
        # the whole posterior compartment (behind the transverse processes, lateral to the
        # spinous process) seeds the paraspinal group
        ps = deep & post_zone & (sx > lm.spinous_half_width_mm + 2.0) & (y > max(yt, lm.body_posterior_mm))
        # below the subcutaneous fat; a piece lying on the laminae is paraspinal at any depth
        # (where the fat around it is reached from the skin past the ends of the trapezius)
        pieces, n = ndi.label(ps)
        on_lamina = np.unique(pieces[lamina_near & ps]) if n else []
        ps &= (depth > 3.0) | np.isin(pieces, on_lamina[on_lamina > 0] if len(on_lamina) else [])
        ps = ndi.binary_erosion(ps, structure=_disk(1.0 / px))
        if ps.any():
            markers[ps] = _PS + off
        if expected("psoas_major", level):
            # the largest muscle mass in the gutter beside the body, anterior to the transverse
            # process (psoas moves from posterolateral at L1 to anterolateral at L5)
            gap = sx - lm.body_half_width_mm
            seed = deep & (gap > 2.0) & (gap < 3.0 + PSOAS_SEED_REACH * r_b) & \
                (y > lm.body_anterior_mm - 0.36 * r_b) & (y < min(yt, lm.body_posterior_mm))
            side = "left" if s == 1 else "right"
            seed = ndi.binary_erosion(seed, structure=_disk(1.5 / px))
            if side in refs and seed.any():
                # a piece of the band (pieces are cut apart by fat planes, thin ones included)
                # whose median HU is brighter than the caudal psoas is organ (liver, vena cava in
                # front of the small psoas at T12-L2) as a whole: unsmoothed HU, as a 2 mm
                # smoothing darkens the organ's rim next to the fat plane into the psoas range
                pieces, n = ndi.label(seed)
                if n > 1:
                    med = np.asarray(ndi.median(hu, pieces, index=np.arange(1, n + 1)))
                    ok = np.arange(1, n + 1)[med <= refs[side] + HU_CONSISTENCY_MIN]
                    if len(ok):
                        seed = np.isin(pieces, ok)
                # tissue brighter than the caudal psoas is organ; where the smallest psoas is
                # itself brightened by partial volume with the organ, its darkest quarter
                like = seed & (h2s <= refs[side] + HU_CONSISTENCY_MIN)
                seed = like if like.any() else seed & (h2s <= np.percentile(h2s[seed], 25))
            seed = _touching(seed, body_dist, PSOAS_BODY_CONTACT_MM)
            markers[seed] = _PSOAS + off
        if expected("quadratus_lumborum", level):
            # the largest muscle mass lateral to the transverse-process tip, at its depth
            g = sx - xt
            seed = deep & (g > 0.0) & (g < QL_SEED_REACH * r_b) & (y > lm.body_posterior_mm - 0.43 * r_b) & \
                (y < yt + 0.22 * r_b) & (markers == 0)
            seed = ndi.binary_erosion(seed, structure=_disk(1.5 / px))
            # quadratus lumborum is a muscle of its own between the psoas in front and the erector
            # spinae behind (the middle layer of the thoracolumbar fascia, from the transverse-process
            # tips, lies between them): a piece joined to the psoas seed without a fat plane (the
            # psoas' lateral belly at L3-L5) is psoas, one joined to the paraspinal seed is the
            # erector spinae reaching the tip's depth (L4-L5, above the iliac crest), unless no
            # other piece is there
            for other in (markers == _PSOAS + off, markers == _PS + off):
                if other.any() and seed.any():
                    joined = _component_at(deep, other)
                    if (seed & ~joined).any():
                        seed &= ~joined
            seed = _largest(seed)
            markers[seed] = _QL + off
            # the quadratus lumborum's lateral border is free (the anterior and middle layers of
            # the thoracolumbar fascia fuse there with the transversus aponeurosis): tissue at its
            # depth beyond its farthest reach from the transverse-process tip (the QL bed's lateral
            # limit), in front of the tip (the erector spinae spread behind it, the middle layer of
            # the fascia between), is no quadratus lumborum and competes with
            # it in the watershed, so that iso-dense tissue joined to the tip without a visible fat
            # plane is not flooded by it
            beyond = deep & (g >= 2.0 * hw) & (y > lm.body_posterior_mm - 1.0 * hw) & \
                (y < yt) & ~post_zone & (markers == 0)
            beyond = ndi.binary_erosion(beyond, structure=_disk(1.5 / px))
            if seed.any() and beyond.any():
                markers[beyond] = _OTHER
    elev = ndi.gaussian_gradient_magnitude(hu.astype(np.float32), sigma=max(1.5 / px, 0.5))
    regions = watershed(elev, markers=markers, mask=deep)
    # organs touching a muscle without a fat plane (liver on the right psoas/erector spinae,
    # kidney on quadratus lumborum) differ from it in attenuation: keep in each deep region only
    # tissue whose 3 mm-smoothed HU stays within the spread of that region's own seed
    h3 = ndi.gaussian_filter(hu.astype(np.float32), sigma=3.0 / px)
    # only where the smoothing did not reach fat, bone or air (> 6 mm inside the muscle window)
    interior = ndi.distance_transform_edt(muscle) * px > 6.0
    for lab_id in np.unique(markers[markers > 0]):
        if lab_id == _OTHER:
            continue
        seed = markers == lab_id
        core_seed = seed & interior if (seed & interior).any() else seed
        ref = float(np.median(h3[core_seed]))
        mad = float(np.median(np.abs(h3[core_seed] - ref))) * 1.4826
        tol = max(HU_CONSISTENCY_MIN, 3.5 * mad)
        regions[(regions == lab_id) & (np.abs(h3 - ref) > tol) & interior & ~seed] = 0
    # air inside the body beside and behind the vertebral body: the posterior lung recesses lie
    # in front of the ribs, so no organ touches the paraspinal mass (wings are trimmed and
    # organ contacts cut only below)
    lung = ndi.binary_fill_holes(body) & (hs < -400) & (np.abs(x) < ps_reach) & (y > lm.body_anterior_mm)
    lung_behind = lung.sum() * px * px >= LUNG_RECESS_MIN_MM2
    # below T10 the erector spinae ends at the paraspinal zone's lateral limit: what its region
    # flooded beyond that limit is tissue of another structure (an organ reached through it)
    _split_organ_contact(regions, markers, hu, muscle, h3, px, wall,
                         keep=(_PS, _PS + 1) if lung_behind else (),
                         beyond=None if upper else {_PS: ~post_zone, _PS + 1: ~post_zone})
    for side, off in (("left", 0), ("right", 1)):
        # a psoas region with a caudal reference: tissue brighter than both the reference and its
        # own seed by more than the tolerance is organ (liver, vena cava) touching it
        own, seed = regions == _PSOAS + off, markers == _PSOAS + off
        if side in refs and seed.any():
            hi = max(refs[side], float(np.median(h2s[seed]))) + HU_CONSISTENCY_MIN
            # against a brighter organ of known attenuation (its thick core, 3 mm-smoothed HU) a
            # pixel nearer in HU to the organ than to the caudal psoas reference is organ
            organ = _organ_hu_touching(markers, own, h3, px)
            brighter = [o for o in organ if o - refs[side] >= HU_CONSISTENCY_MIN]
            if brighter:
                hi = min(hi, 0.5 * (refs[side] + min(brighter)))
            regions[own & ~seed & (h2s > hi) & ~bone] = 0
    # give back the rim removed by the opening (at most 2 mm, non-wall muscle pixels only)
    grown = expand_labels(regions, distance=2.0 / px) * (muscle & ~wall)
    for lab_id in (_PSOAS, _PSOAS + 1, _QL, _QL + 1):
        _no_jump(grown, regions, lab_id, valley)
    regions = grown
    # at rib-bearing levels the paraspinal mass lies on the ribs: nothing in front of the posterior
    # rib surface (per plane column, ribs = bone lateral to 80 % of the transverse-process span)
    anterior_to_ribs = np.zeros_like(muscle)
    ribs = (hs > BONE_HU) & (vert_in_plane == 0) & (np.abs(x) > 0.8 * xtp) & (y > lm.body_anterior_mm)
    if ribs.any():
        cols = np.nonzero(ribs.any(axis=0))[0]
        y_post_rib = np.where(ribs[:, cols], y[:, cols], -np.inf).max(axis=0)
        anterior_to_ribs[:, cols] = y[:, cols] < y_post_rib[None, :] - 1.0
    # at T1-T10 the thoracic erector spinae (iliocostalis lateral to the longissimus) spread over the
    # ribs out to the rib angles, beyond the paraspinal zone's lateral limit, flattened under the
    # superficial back muscles: behind the ribs in the posterior trunk (the latissimus' and the
    # trapezius' sectors, out to ES_SPREAD_RADII body radii beyond the zone), muscle that a disc
    # thicker than the thin sheets reaches together with the
    # paraspinal region, joined to it without a fat plane, is that region's lateral end whether the
    # wall rays took it (outer or inner run) or the deep watershed grew it; a sheet lying on the
    # region (a fat plane between) or thinner than the disc stays a sheet
    ps_end = np.zeros_like(muscle)
    if upper:
        ang, _ = _trunk_angle(x, y, body)
        behind = (ang >= _SECTORS_THORAX_LOWER[-2][1]) & (y > ytp) & ~post_zone & ~anterior_to_ribs & \
            (np.abs(x) < ps_reach + ES_SPREAD_RADII * r_b)
        cross = ndi.generate_binary_structure(2, 1)
        for off in (0, 1):
            own = regions == _PS + off
            base = own & post_zone
            cand = behind & muscle & ((regions == 0) | own)
            if not base.any() or not cand.any():
                continue
            thick = ndi.binary_opening(base | cand, structure=_disk(0.5 * THIN_SHEET_MM / px)) & cand
            end = _component_at(thick, ndi.binary_dilation(base, structure=cross))
            if end.any():
                regions[end] = _PS + off
                runs[end] = 0
                ps_end |= end

    # at T1-T10, behind the trunk (the trapezius' sector) the paraspinal region may continue beyond the
    # zone's lateral limit: muscle joined to it without a fat plane and not taken by the wall sheets is
    # the erector spinae spreading over the ribs (the lateral limit guards the posterolateral chest,
    # where the scapular muscles lie on the ribs)
    back = (_trunk_angle(x, y, body)[0] >= _SECTORS_THORAX_LOWER[-1][1]) if upper else np.zeros_like(muscle)
    out: dict[str, np.ndarray] = {}
    for s, side, off in ((1, "left", 0), (-1, "right", 1)):
        # lateral to the transverse-process tip the paraspinal mass lies behind the tip's level;
        # medially it ends at the spinous process (projected along the axis: thoracic processes
        # slope below the plane, where the supraspinous/interspinous ligaments fill the midline)
        xt_s, yt_s = abs(tp[s][0]), tp[s][1]
        ps = (regions == _PS + off) & ((s * x < ps_reach) | ps_end | back) & (s * x > lm.spinous_half_width_mm) & \
            ~((s * x > xt_s) & (y < yt_s - 0.2 * r_b))
        ps &= ~anterior_to_ribs
        ps = _component_at(ps, markers == _PS + off)
        if ps.any():
            ts, es = _split_paraspinal(ps, hs, x * s, lm, abs(tp[s][0]))
            out[f"transversospinalis_{side}"] = ts
            if not lung_behind:
                es = _trim_wings(es, px, muscle & ~wall & ~ps & ~bone, medial=(s * x <= xt_s) & (y >= yt_s))
            out[f"erector_spinae_{side}"] = es
        for grp, lab in (("psoas_major", _PSOAS), ("quadratus_lumborum", _QL)):
            if expected(grp, level):
                # both lie on their own side, psoas lateral to the body's midline half
                zone = (s * x > 0.5 * lm.body_half_width_mm) & \
                    (gutter if grp == "psoas_major" else
                     ql_zone & (y > lm.body_posterior_mm - QL_ANTERIOR_RADII * r_b))
                keep = _component_at((regions == lab + off) & zone, markers == lab + off)
                # against an iso-dense organ without a fat plane: the ellipse of the outline seen
                # against fat and bone adds back what the organ's region or nobody took
                taken = np.zeros_like(muscle)
                for m in out.values():
                    taken |= m
                free = zone & muscle & ~wall & ~bone & ~taken & \
                    ((regions == 0) | (regions == _OTHER) | (regions == lab + off))
                out[f"{grp}_{side}"] = complete_outline(keep, free, (hs < MUSCLE_HU[0]) | bone, px,
                                                        markers == lab + off)
    out.update(_split_wall(runs, depth, x, y, body, level, ribs=rib_bone))
    _follow_thin_sheets(out, h_sharp, body, fat_o, bone, depth, x, y, level, px)
    _pectoral_deep_layer(out, h_sharp, muscle_sharp, body, bone, x, y, level, px)
    _cap_pectoral_reach(out, x, y, body, level, pectoral_reach_deg)
    _pectoral_off_rectus(out, level)
    out = {k: v for k, v in out.items() if v.any()}
    if reach_out is not None and body.any():
        reach_out.update(pectoral_lateral_reach_deg(out, _trunk_angle(x, y, body)[0]))
    return out


def _pectoral_off_rectus(out: dict[str, np.ndarray], level: str) -> None:
    """In place: below the chest cap (after ``CHEST_CAP_LAST``, where the rectus abdominis is
    present) a piece (8-connected) of the pectoralis major mask joined to the rectus abdominis of
    its side is the rectus. The pectoralis' abdominal part arises from the anterior layer of the
    rectus sheath (Gray's Anatomy, pectoral region): it lies on the sheath, superficial to it, and
    ends medially where the rectus, lying in its sheath beside the linea alba, reaches the surface
    below the sternum; the rays take that superficial rectus for the outer sheet. Where the
    pectoralis lies over the rectus without a fat plane, ``_split_wall`` already gave the joined
    part to the rectus (``_creep``); what stays joined is the rectus' own belly."""
    if anatomy.level_index(level) <= anatomy.level_index(CHEST_CAP_LAST) or \
            not (expected("pectoralis_major", level) and expected("rectus_abdominis", level)):
        return
    eight = np.ones((3, 3), bool)
    for side in ("left", "right"):
        pm, ra = out.get(f"pectoralis_major_{side}"), out.get(f"rectus_abdominis_{side}")
        if pm is None or ra is None or not pm.any() or not ra.any():
            continue
        lab, n = ndi.label(pm, structure=eight)
        joined = np.unique(lab[ndi.binary_dilation(ra, structure=eight) & pm])
        moved = np.isin(lab, joined[joined > 0])
        out[f"pectoralis_major_{side}"] = pm & ~moved
        out[f"rectus_abdominis_{side}"] = ra | moved


def pectoral_lateral_reach_deg(masks: dict[str, np.ndarray], ang: np.ndarray) -> dict[str, float]:
    """Per side ("left"/"right") the largest normalised trunk angle (deg; 0 anterior midline, 90
    the trunk's lateral extreme; ``ang``, the plane's ``_trunk_angle`` map) of the pectoralis major
    mask in ``masks``; sides without it left out. Passed to the next level down as
    ``segment_plane(pectoral_reach_deg=...)``."""
    out = {}
    for sd in ("left", "right"):
        m = masks.get(f"pectoralis_major_{sd}")
        if m is not None and m.any():
            out[sd] = float(ang[m].max())
    return out


def _cap_pectoral_reach(out: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, body: np.ndarray,
                        level: str, reach_deg: dict[str, float] | None) -> None:
    """In place: below the chest cap (after ``CHEST_CAP_LAST``) the pectoralis major reaches no
    further lateral than one level up. Its sternocostal and abdominal parts arise from the sternum,
    the costal cartilages 1-6/7 and the anterior rectus sheath, and their fibres converge upwards
    and laterally onto the humerus (Gray's Anatomy, pectoral region): the lowest fibres run
    obliquely upwards, so each plane's lateral end lies medial to, or at, the lateral end of the
    plane above. The muscle lying past that angle at the lowest levels is the external oblique's
    upper slips and the serratus anterior's digitations on the ribs, left to no group here.
    Angles are the normalised trunk angle (deg), comparable from plane to plane."""
    if not reach_deg or anatomy.level_index(level) <= anatomy.level_index(CHEST_CAP_LAST):
        return
    ang, cx = _trunk_angle(x, y, body)
    for side, sm in (("left", x > cx), ("right", x <= cx)):
        name = f"pectoralis_major_{side}"
        if name in out and side in reach_deg:
            out[name] = out[name] & ~(sm & (ang > reach_deg[side]))


#: sheets that thin below a pixel along their course (the latissimus dorsi's lower aponeurotic
#: part, the pectoralis major's lowest fibres, the serratus anterior's upper slips on ribs 1-2 under
#: the scapula): followed through the fat (``thin_sheet.py``)
THIN_SHEET_GROUPS = ("latissimus_dorsi", "pectoralis_major", "serratus_anterior")


def _follow_thin_sheets(out: dict[str, np.ndarray], h_sharp: np.ndarray, body: np.ndarray,
                        fat: np.ndarray, bone: np.ndarray, depth: np.ndarray, x: np.ndarray, y: np.ndarray,
                        level: str, px: float) -> None:
    """In place: each ``THIN_SHEET_GROUPS`` mask of ``out`` extended along its thin course on its
    side, less than ``WALL_MAX_MM`` below the subcutaneous fat, through pixels no other group holds
    (``thin_sheet.follow_course``), less the pieces under its own course
    (``thin_sheet.beneath_own_sheet``). Not limited to the group's angular sector: the sector is where
    the group is expected, the course continuous with its pieces is where it is seen."""
    todo = [g for g in THIN_SHEET_GROUPS if expected(g, level) and
            any(f"{g}_{sd}" in out and out[f"{g}_{sd}"].any() for sd in ("left", "right"))]
    if not todo:
        return
    taken = np.zeros(body.shape, bool)
    for m in out.values():
        taken |= m
    free = body & ~bone & ~taken & (depth < WALL_MAX_MM)
    normal = depth_normal(body, px)
    excess = ridge_excess(h_sharp, normal, px, where=free)
    # the course threshold from the fat the sheets lie in (subcutaneous and superficial fat)
    threshold = ridge_threshold(excess[0], fat & free)
    if threshold is None:
        return
    lung_near = near_lung(h_sharp, px)
    _, cx = _trunk_angle(x, y, body)
    for g in todo:
        for side, sm in (("left", x > cx), ("right", x <= cx)):
            name = f"{g}_{side}"
            if name not in out:
                continue
            add = follow_course(out[name], excess, threshold, free & sm, normal, h_sharp, px,
                                muscle_window_lo=MUSCLE_HU[0], lung_near=lung_near)
            out[name] = out[name] | add
            free &= ~add
            # the tissue under the sheet's course that the rays reached between its beads (the
            # serratus anterior excepted: its lower digitations lie in two layers, under the
            # external oblique's interdigitating slips and behind their free border)
            if g != "serratus_anterior":
                out[name] &= ~beneath_own_sheet(out[name], normal, px)


def _pectoral_deep_layer(out: dict[str, np.ndarray], h_sharp: np.ndarray, muscle_sharp: np.ndarray,
                         body: np.ndarray, bone: np.ndarray, x: np.ndarray, y: np.ndarray, level: str,
                         px: float) -> None:
    """In place: above the rectus abdominis' origins the muscle lying beneath the pectoralis major
    of its side, off the ribs and held by no group, is added to it: the pectoralis minor under the
    clavipectoral fascia (``pectoral.py``). The pectoralis minor arises from ribs 3-5; from the
    rectus' origins on costal cartilages 5-7 down (T6-T7, ``_split_wall``'s middle run) what lies
    beneath the pectoralis' lowest fibres is the rectus sheath, the external oblique's upper slips
    and the chest wall, never a pectoral muscle."""
    if not expected("pectoralis_major", level):
        return
    taken = np.zeros(body.shape, bool)
    for m in out.values():
        taken |= m
    air = h_sharp < FAT_HU[0]
    cand = muscle_sharp & body & ~bone & ~taken
    pleura = near_lung(h_sharp, px)
    # outwards = away from the trunk's centre (the wall rays' direction): near the shoulder the
    # nearest skin can lie laterally (the axilla, the base of the neck), not over the chest
    rr, cc = np.indices(body.shape, dtype=np.float32)
    br, bc = np.nonzero(body)
    dr, dc = br.mean() - rr, bc.mean() - cc
    nn = np.maximum(np.hypot(dr, dc), 1e-6)
    normal = (dr / nn, dc / nn)
    _, cx = _trunk_angle(x, y, body)
    for side, sm in (("left", x > cx), ("right", x <= cx)):
        name = f"pectoralis_major_{side}"
        if name not in out or not out[name].any():
            continue
        # other groups, bone and air end the look outwards; unassigned specks of the muscle window
        # in the fat between the layers (noise, small vessels) do not
        stop = ((taken & ~out[name]) | bone | air)
        if expected("rectus_abdominis", level):
            # the lowest fibres (T6-T7) are a superficial sheet lying outside the chest wall: a
            # piece of the mask mostly within CHEST_WALL_MM of the lung is the chest wall
            # (intercostal muscle on the pleura) that the rays reached beyond the sheet's end, as
            # in the thin-sheet course (``thin_sheet.follow_course``)
            lab, n = ndi.label(out[name], structure=np.ones((3, 3), bool))
            if n:
                idx = np.arange(1, n + 1)
                frac = np.asarray(ndi.mean(pleura, lab, idx))
                out[name] &= ~np.isin(lab, idx[frac > 0.5])
            continue
        deep = beneath_cover(cand & sm, out[name], stop, normal, px, off_wall=~pleura)
        out[name] = out[name] | deep


def _thin_fat_planes(h_sharp: np.ndarray, hs: np.ndarray, fat: np.ndarray, muscle: np.ndarray, px: float,
                     where: np.ndarray) -> np.ndarray:
    """Bottoms of the thin fat planes in ``where`` (``valley.fat_valleys`` on the 0.5 mm-smoothed
    image ``h_sharp``): pure fat = median of the opened fat mask ``fat`` (1 mm-smoothed HU ``hs``),
    noise measured on ``h_sharp`` over the muscle window."""
    if not where.any():
        return np.zeros_like(where)
    fat_hu = float(np.median(hs[fat])) if fat.sum() >= 20 else -100.0
    noise = image_noise_hu(h_sharp, ndi.binary_erosion(muscle, structure=_disk(1.0 / px)))
    return fat_valleys(h_sharp, px, fat_hu, noise, where=where)


def _no_jump(grown: np.ndarray, regions: np.ndarray, lab_id: int, valley: np.ndarray) -> None:
    """In place: the rim that ``expand_labels`` gave label ``lab_id`` keeps only what is reached
    from the label's own region without crossing a thin fat plane (``valley``; the valley pixels
    next to that part stay, they are the muscle's partial-volume border). The expansion is by
    distance, so it can step over a one- or two-pixel plane into the organ beyond."""
    own = regions == lab_id
    new = grown == lab_id
    if not own.any() or not (new & ~own).any():
        return
    ok = _component_at(new & ~valley, own)
    ok |= new & valley & ndi.binary_dilation(ok, structure=ndi.generate_binary_structure(2, 1))
    grown[new & ~ok] = 0


def _rib_angle_x(rib_bone: np.ndarray, sx: np.ndarray, y: np.ndarray, x_min: float, x_max: float,
                 y_min: float) -> float | None:
    """Distance of one side's rib angle from the midline (mm): the most posterior rib pixel of
    the plane between ``x_min`` and ``x_max`` from the midline (``sx``: lateral mm towards that
    side) and behind ``y_min``; the rib runs backwards from the transverse process to its angle and
    forwards beyond it. None without ribs there."""
    r = rib_bone & (sx > x_min) & (sx < x_max) & (y > y_min)
    if not r.any():
        return None
    return float(sx[r][np.argmax(y[r])])


def _compartment_floor_near(vert: np.ndarray, rib_bone: np.ndarray, x: np.ndarray, y: np.ndarray,
                            lm: Landmarks, xtp: float, reach_mm: float, px: float) -> np.ndarray:
    """Pixels within ``LAMINA_CONTACT_MM`` of the bony floor of the paraspinal compartment lateral
    to the laminae: the transverse processes (vertebra lateral to the spinous process, behind the
    body) and the ribs' posterior surfaces medial to the rib angles, limited laterally to the rib
    angle (the transverse-process tip where no rib is in the plane). Only bone in front of the
    spinous process tip counts as rib: the rib angles lie anterior to it (the back muscles fill the
    groove between the spinous processes and the rib angles); bone behind it is no rib (the
    scapula, the patient table pressed into the body outline). All lengths mm."""
    out = np.zeros(vert.shape, bool)
    rib_bone = rib_bone & (y < lm.spinous_tip_mm)
    for s in (1, -1):
        sx = s * x
        angle = _rib_angle_x(rib_bone, sx, y, 0.8 * xtp, reach_mm, lm.body_posterior_mm)
        lim = max(angle if angle is not None else xtp, xtp)
        floor = (vert | rib_bone) & (sx > lm.spinous_half_width_mm + 2.0) & (sx <= lim) & \
            (y > lm.body_posterior_mm)
        if floor.any():
            out |= ndi.binary_dilation(floor, structure=_disk(LAMINA_CONTACT_MM / px)) & (sx > 0) & (sx <= lim)
    return out


def _trim_wings(m: np.ndarray, px: float, other: np.ndarray, medial: np.ndarray | None = None) -> np.ndarray:
    """The erector spinae ``m`` without wings of iso-dense organ tissue grown onto it.

    Below the lung bases the kidney, the liver/spleen and the diaphragm with the chest wall touch
    the paraspinal mass without a visible fat plane and with muscle-like CT numbers; the watershed
    then adds a lateral wing to the erector spinae. The muscle itself is a compact mass wrapped
    in the thoracolumbar fascia: its core is the opening of ``m`` with a disc of half the largest
    inscribed radius (mm), and a 90-degree corner lies within 0.41 of that radius of the core
    (sqrt(2) - 1). Pixels farther from the core form protrusions; a protrusion is dropped only
    when it reaches ``other`` (muscle-window tissue that is neither this paraspinal region, a
    wall sheet nor bone: the organ it belongs to), within 1.5 mm, and lies wholly outside
    ``medial`` (medial to the transverse-process tip and behind its level): the organs reach the
    paraspinal mass only beyond the tips, in front of and lateral to the thoracolumbar fascia's
    middle layer; behind the processes a protrusion is the muscle's own medial belly (the opening
    splits a waisted erector spinae into two cores and keeps one)."""
    if not m.any():
        return m
    box = mask_box(m, margin=2)
    sub = m[box]
    r = WING_CORE_FRACTION * float(ndi.distance_transform_edt(sub).max()) * px
    if r < 2.0 * px:
        return m
    core = ndi.binary_opening(sub, structure=_disk(r / px))
    if not core.any():
        return m
    core = _largest(core)
    wing = sub & (ndi.distance_transform_edt(~core) * px > WING_CORNER_FRACTION * r)
    pieces, n = ndi.label(wing)
    if n == 0:
        return m
    hit = np.unique(pieces[ndi.binary_dilation(other[box], structure=_disk(1.5 / px)) & wing])
    if medial is not None:
        hit = np.setdiff1d(hit, np.unique(pieces[medial[box] & wing]))
    out = np.zeros_like(m)
    out[box] = sub & ~np.isin(pieces, hit[hit > 0])
    return out


def _split_organ_contact(regions: np.ndarray, markers: np.ndarray, hu: np.ndarray, muscle: np.ndarray,
                         h3: np.ndarray, px: float, wall: np.ndarray | None = None,
                         keep: tuple[int, ...] = (), beyond: dict[int, np.ndarray] | None = None) -> None:
    """In place: an organ that touches a deep muscle without a fat plane (liver against the right
    erector spinae or quadratus lumborum at T11-L2) and is brighter than it is cut off along the
    HU mid-point between the two.

    References: the muscle's seed median (2 mm-smoothed HU, seed pixels more than 2.5 mm inside
    the muscle window) and each organ's core median (3 mm-smoothed HU of the thick organ seed). Only organs at least ``HU_CONSISTENCY_MIN`` brighter than the muscle count: fat
    infiltration only lowers a muscle's HU, so a darker neighbour may be fattier muscle. A region
    pixel more than 2.5 mm inside the muscle window whose 2 mm-smoothed HU lies beyond the
    mid-point towards such an organ is organ when its connected piece of such pixels is larger
    than a noise blob (3 mm radius) and reaches muscle-window tissue that is organ or unassigned
    (an organ contact; spots enclosed by the muscle or against a neighbouring muscle, ``wall``
    sheets included, stay). Regions ``keep`` are left whole. ``beyond``: per region id, where that
    region's own pixels are no part of its muscle (outside its compartment, dropped later): an
    organ the region flooded around its contact (reached only through the region itself) is cut
    off as the masses of the bright pieces crossing that limit that are wider than the 2 mm
    smoothing (their opening with ``ORGAN_CORE_RADIUS_MM``) and cross it."""
    organ_seed = markers == _OTHER
    if not organ_seed.any():
        return
    min_px = np.pi * (3.0 / px) ** 2
    lab_o, n_o = ndi.label(organ_seed)
    sizes = np.bincount(lab_o.ravel())
    organ_hu = [float(np.median(h3[lab_o == k])) for k in range(1, n_o + 1) if sizes[k] >= min_px]
    if not organ_hu:
        return
    h2 = ndi.gaussian_filter(hu.astype(np.float32), sigma=2.0 / px)
    inner = ndi.distance_transform_edt(muscle) * px > 2.5
    cross = ndi.generate_binary_structure(2, 1)
    for lab_id in np.unique(markers[(markers > 0) & (markers != _OTHER)]):
        if lab_id in keep:  # no organ can touch this region (``keep``)
            continue
        # the seed's HU away from fat (3 mm smoothing of a small seed reaches the fat around it)
        seed = markers == lab_id
        core = seed & inner
        ref = float(np.median(h2[core])) if core.sum() >= 10 else float(np.median(h3[seed]))
        brighter = [o for o in organ_hu if o - ref >= HU_CONSISTENCY_MIN]
        own = regions == lab_id
        if not brighter or not own.any():
            continue
        box = mask_box(own, margin=2)
        # beyond the mid-point towards the least bright such organ
        cand = own[box] & inner[box] & (h2[box] > ref + 0.5 * (min(brighter) - ref))
        if not cand.any():
            continue
        pieces, n = ndi.label(cand)
        sizes = np.bincount(pieces.ravel())
        free = muscle[box] & ~own[box] & ((regions[box] == 0) | (regions[box] == _OTHER))
        if wall is not None:  # the wall sheets are muscle, not an organ touching the region
            free &= ~wall[box]
        hit = np.unique(pieces[ndi.binary_dilation(free, structure=cross) & cand])
        hit = [k for k in hit if k > 0 and sizes[k] >= min_px]
        if hit:
            regions[box][np.isin(pieces, hit)] = _OTHER
        if beyond is None or lab_id not in beyond:
            continue
        # the organ reached only through the region (beyond the compartment): its mass, wider than
        # the 2 mm smoothing (the opening of the pieces that cross the limit), that crosses the
        # limit; bright texture of the muscle joined to it by narrower bridges stays
        out_zone = beyond[lab_id][box]
        rest = np.isin(pieces, [k for k in np.unique(pieces[out_zone & cand]) if k > 0 and sizes[k] >= min_px
                                and k not in hit])
        if rest.any():
            core = ndi.binary_opening(rest, structure=_disk(ORGAN_CORE_RADIUS_MM / px))
            cores, _ = ndi.label(core)
            crossing = np.unique(cores[out_zone & core])
            regions[box][np.isin(cores, crossing[crossing > 0])] = _OTHER


def _organ_hu_touching(markers: np.ndarray, region: np.ndarray, h3: np.ndarray, px: float) -> list[float]:
    """Median 3 mm-smoothed HU of each organ seed (``_OTHER`` marker component of at least a
    3 mm-radius disc) within 3 mm of ``region``."""
    if not region.any():
        return []
    lab, n = ndi.label(markers == _OTHER)
    if n == 0:
        return []
    near = ndi.binary_dilation(region, structure=_disk(3.0 / px))
    sizes = np.bincount(lab.ravel())
    ids = [k for k in np.unique(lab[near]) if k > 0 and sizes[k] >= np.pi * (3.0 / px) ** 2]
    return [float(np.median(h3[lab == k])) for k in ids]


def _split_paraspinal(ps: np.ndarray, hs: np.ndarray, sx: np.ndarray, lm: Landmarks,
                      xt: float) -> tuple[np.ndarray, np.ndarray]:
    """(transversospinalis, erector spinae) of one side's paraspinal region.

    Where a fat plane separates the region into pieces, the most medial piece is
    transversospinalis and the rest erector spinae. Otherwise a
    watershed on the negated HU between markers in the medial 35 % and the lateral 30 % of that
    span follows the faint fat plane between multifidus and longissimus.
    """
    span = max(xt - lm.spinous_half_width_mm, 1.0)
    rel = (sx - lm.spinous_half_width_mm) / span
    lab, n = ndi.label(ps)
    if n >= 2:
        sizes = np.bincount(lab.ravel())[1:]
        big = [i + 1 for i in range(n) if sizes[i] >= 0.05 * sizes.max()]
        if len(big) >= 2:
            # the most medial piece (against spinous process and laminae) is transversospinalis
            med = min(big, key=lambda i: float(np.mean(rel[lab == i])))
            ts = lab == med
            # transversospinalis fills the medial part of the span only; a medial piece reaching
            # far laterally holds the erector spinae too (no fat plane between them): watershed
            if float(np.percentile(rel[ts], 90)) <= TS_MAX_REL_SPAN:
                return ts, ps & ~ts
    m = np.zeros(ps.shape, np.int32)
    m[ps & (rel < 0.35)] = 1
    # erector spinae marker: the lateral 30 % of the span; where the transverse-process tip lies in
    # the medial half of the paraspinal mass (rudimentary processes, T11-T12: multifidus reaches
    # 70 % of the short span) also lateral to the tip
    m[ps & (rel > 0.7)] = 2
    if xt < float(np.median(sx[ps])) and (m == 2).any():
        m[(m == 2) & (sx <= xt)] = 0
    if not (m == 1).any() or not (m == 2).any():
        return ps & (rel < 0.5), ps & (rel >= 0.5)
    r = watershed(-hs, markers=m, mask=ps)
    return r == 1, r == 2


#: angular sectors of the superficial groups, outer run of the wall, in degrees of the
#: *normalised* trunk angle (0 = anterior midline, 90 = the trunk's lateral extreme, 180 =
#: posterior midline; x and y divided by the trunk's half-width and half-depth, so the sectors
#: follow the body wall whatever the trunk's aspect ratio). Rectus abdominis is paramedian (linea
#: alba to the linea semilunaris), pectoralis major covers the anterior upper chest, serratus
#: anterior the lateral ribs, latissimus dorsi the posterolateral trunk, trapezius the posterior
#: thorax over the erector spinae.
_SECTORS_THORAX_UPPER = [("pectoralis_major", 0, 65), ("serratus_anterior", 65, 108),
                         ("latissimus_dorsi", 108, 152), ("trapezius", 152, 181)]
_SECTORS_THORAX_LOWER = [("rectus_abdominis", 0, 34), ("external_oblique", 34, 90),
                         ("serratus_anterior", 90, 108), ("latissimus_dorsi", 108, 152),
                         ("trapezius", 152, 181)]
_SECTORS_ABDOMEN = [("rectus_abdominis", 0, 34), ("external_oblique", 34, 102),
                    ("latissimus_dorsi", 102, 181)]
#: inner run where the pectoralis major's lowest fibres cover the upper rectus sheath and the
#: external oblique's upper digitations (T6-T7): rectus, external oblique, serratus on the ribs
_INNER_MIDDLE = [("rectus_abdominis", 0, 34), ("external_oblique", 34, 65), ("serratus_anterior", 65, 125)]
#: inner run: serratus under latissimus/pectoralis on the lateral chest, internal oblique (with
#: transversus) under the external oblique
_INNER = [("serratus_anterior", 45, 125), ("internal_oblique", 34, 102)]
#: a component of the wall sheet (pieces separated by fat planes) goes to one group as a whole
#: when at least this fraction of it lies in that group's sector
_WHOLE_FRACTION = 0.7


def _trunk_angle(x: np.ndarray, y: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, float]:
    """Normalised trunk angle (deg; 0 anterior midline, 90 lateral extreme, 180 posterior midline;
    x and y divided by the trunk's half-width and half-depth) and the trunk centre's x (mm)."""
    by, bx = np.nonzero(body)
    ys, xs = y[by, bx], x[by, bx]
    cy, cx = 0.5 * (ys.min() + ys.max()), 0.5 * (xs.min() + xs.max())
    a_half, b_half = max(0.5 * (xs.max() - xs.min()), 1.0), max(0.5 * (ys.max() - ys.min()), 1.0)
    return np.degrees(np.arctan2(np.abs(x - cx) / a_half, -(y - cy) / b_half)), cx


def _outer_sectors(level: str) -> list[tuple[str, float, float]]:
    """The outer run's angular sectors at ``level`` (groups not present there left out)."""
    if expected("pectoralis_major", level):
        sectors = _SECTORS_THORAX_UPPER
    elif anatomy.level_index(level) <= anatomy.level_index("T11"):
        sectors = _SECTORS_THORAX_LOWER
    else:
        sectors = _SECTORS_ABDOMEN
    return [sc for sc in sectors if expected(sc[0], level)] or sectors


def _split_wall(runs: np.ndarray, depth: np.ndarray, x: np.ndarray, y: np.ndarray, body: np.ndarray,
                level: str, ribs: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The wall groups per side from the wall rays' layers ``runs`` (1 outer, 2 inner); ``ribs``:
    the plane's rib bone (the costal margin: see ``_in_front_of_two_layer_arc``)."""
    if not runs.any():
        return {}
    ang, cx = _trunk_angle(x, y, body)
    px = float(abs(x[0, 1] - x[0, 0]))
    # the pectoralis major's lowest fibres over the upper rectus sheath (T6-T7): beneath it
    middle = expected("pectoralis_major", level) and expected("rectus_abdominis", level)
    sectors = _outer_sectors(level)
    out: dict[str, np.ndarray] = {}
    outer, inner = runs == 1, runs == 2
    # a muscle sheet runs along the skin: a piece of the inner run extending deeper along the
    # skin's normal than the thickest inner sheet, and deeper than it extends along the wall, is
    # an organ's texture the rays met under the outer sheet (bowel loop, liver or diaphragm
    # beneath the wall), not a sheet, and no two-layer arc
    inner &= ~_across_skin(inner, body, px, INNER_SHEET_MAX_MM)
    per_side = {}
    front_io: dict[str, np.ndarray] = {}
    skin = ndi.distance_transform_edt(body) * px  # depth below the skin (mm)
    for side, sm in (("left", x > cx), ("right", x <= cx)):
        outer_g = _assign_components(outer & sm, ang, sectors)
        inner_g = _assign_components(inner & sm, ang, [sc for sc in (_INNER_MIDDLE if middle else _INNER)
                                                       if expected(sc[0], level)])
        if "rectus_abdominis" in outer_g:
            # lateral to the linea semilunaris, joined to the rectus sheath without a fat plane:
            # the internal oblique's fleshy fibres reaching the sheath, and organ (bowel) touching
            # the junction. No rectus; left to no group (given to the internal oblique it added
            # the organ too: +25..+39 % on 3 of 6 phantoms)
            outer_g["rectus_abdominis"] &= ~_beyond_linea_semilunaris(outer_g["rectus_abdominis"], ang, px)
        if middle:
            # the thin pectoralis missed on a few rays: the first run continues the sheet beneath
            for grp in ("rectus_abdominis", "external_oblique"):
                if "pectoralis_major" in outer_g and grp in inner_g:
                    crept = _creep(inner_g[grp], outer_g["pectoralis_major"], SHEET_CREEP_MM / px)
                    outer_g["pectoralis_major"] &= ~crept
                    inner_g[grp] |= crept
        if "external_oblique" in outer_g and "internal_oblique" in inner_g:
            # the thin external oblique missed on a few rays (sub-pixel, noise): there the first
            # run is the internal oblique, continuous with its inner run without a fat plane
            # (the obliques are separated by one)
            crept = _creep(inner_g["internal_oblique"], outer_g["external_oblique"], SHEET_CREEP_MM / px)
            outer_g["external_oblique"] &= ~crept
            inner_g["internal_oblique"] |= crept
            # the internal oblique's fleshy part reaches further towards the rectus sheath than the
            # external oblique's: in front of the two-layer arc, parted from the rectus belly, it
            # is the first layer below the fat
            front, organ = _in_front_of_two_layer_arc(outer & sm, outer_g["external_oblique"],
                                               inner_g["internal_oblique"], outer_g.get("rectus_abdominis"),
                                               ang, skin, None if ribs is None else ribs & sm)
            for grp in list(outer_g):
                outer_g[grp] &= ~(front | organ)
            if front.any():
                front_io[side] = front
        if middle and expected("external_oblique", level) and "serratus_anterior" in outer_g \
                and "serratus_anterior" in inner_g:
            # the external oblique's upper slips (from the outer surfaces of ribs 5-8) cover the
            # serratus anterior's lower digitations on the lateral ribs: in the serratus sector the
            # outer of two layers is the external oblique, the single sheet behind its border the
            # serratus
            over = _over_two_layer_arc(outer_g["serratus_anterior"], inner_g["serratus_anterior"], ang)
            outer_g["serratus_anterior"] &= ~over
            outer_g["external_oblique"] = outer_g.get("external_oblique", np.zeros_like(over)) | over
        if "external_oblique" in outer_g and "serratus_anterior" in inner_g:
            # behind the external oblique's posterior free border the single sheet on the ribs is
            # the serratus anterior (its lower digitations interdigitate with the oblique's slips)
            behind = _behind_two_layer_arc(outer_g["external_oblique"], inner_g["serratus_anterior"], ang)
            outer_g["external_oblique"] &= ~behind
            outer_g["serratus_anterior"] = outer_g.get("serratus_anterior", np.zeros_like(behind)) | behind
        per_side[side] = (sm, outer_g, inner_g)
    # the external oblique's share of the obliques' depth, measured where a fat plane parts them:
    # on this side of the plane, or on both sides together where one side's two-layer arc is too
    # short to measure it (the wall is bilaterally symmetric)
    none = np.zeros_like(runs, dtype=bool)
    eo2 = {sd: og.get("external_oblique", none) for sd, (_, og, _) in per_side.items()}
    io2 = {sd: ig.get("internal_oblique", none) for sd, (_, _, ig) in per_side.items()}
    share = {sd: _two_layer_share(eo2[sd], io2[sd], ang) for sd in per_side}
    both_sides = _two_layer_share(eo2["left"], io2["left"], ang, eo2["right"], io2["right"])
    for side, (sm, outer_g, inner_g) in per_side.items():
        for grp, m in outer_g.items():
            if grp == "external_oblique" and expected("internal_oblique", level):
                # no fat plane seen between the layers: the outer share of the depth is external
                single = m & ~_bins_with(inner & sm, ang, m)
                eo_only, io_only = _single_layer_muscle(single, m & ~single, inner & sm, ang)
                frac = share[side] if share[side] is not None else both_sides if both_sides is not None \
                    else FUSED_EO_SHARE_DEFAULT
                eo_part = eo_only | _outer_layer(single & ~eo_only & ~io_only, depth, ang, frac)
                out[f"internal_oblique_{side}"] = single & ~eo_part
                m = (m & ~single) | eo_part
            if expected(grp, level):
                out[f"{grp}_{side}"] = out.get(f"{grp}_{side}", np.zeros_like(m)) | m
        for grp, m in inner_g.items():
            out[f"{grp}_{side}"] = out.get(f"{grp}_{side}", np.zeros_like(m)) | m
        if side in front_io:
            name = f"internal_oblique_{side}"
            out[name] = out.get(name, np.zeros_like(front_io[side])) | front_io[side]
    return out


def _in_front_of_two_layer_arc(outer: np.ndarray, eo: np.ndarray, io: np.ndarray, rectus: np.ndarray | None,
                               ang: np.ndarray, skin_mm: np.ndarray,
                               ribs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(internal oblique, organ) among the pieces of one side's outer run ``outer`` in front of
    the arc where both obliques are seen as two layers (``eo`` outer run over ``io`` inner run,
    5-degree bins, at least TWO_LAYER_MIN_BINS of them).

    Below the costal margin the external oblique turns aponeurotic further laterally than the
    internal oblique, so between the rectus' lateral border and the arc's front the first muscle
    layer below the fat is the internal oblique's fleshy medial part. A piece (8-connected; fat
    planes part the muscles) whose median angle lies in front of the arc's first bin and of which
    at most 1 - _WHOLE_FRACTION lies over the inner run (EO_BORDER_BIN_DEG bins) is
    - the internal oblique when its outer surface lies no deeper below the skin (``skin_mm``) than
      the internal oblique's outer surface under the external oblique at the arc's front (its
      first TWO_LAYER_MIN_BINS bins);
    - organ when its outer surface lies deeper than the internal oblique's inner surface there:
      beneath the whole wall (bowel reached through the gap between the sheets' ends);
    - left as it was in between.
    The rectus belly's piece (the one holding most of ``rectus``) is no candidate: its part beyond
    the linea semilunaris stays unassigned (given to the internal oblique down to that muscle's
    inner surface it moved the IO's CSA median on small seeds 3/11/7/23/14/31 from
    11.9/12.5/11.1/10.6/5.7/7.3 to 17.4/14.2/12.3/11.9/9.1/13.0 %).
    Above the costal margin (rib bone ``ribs`` of this side in front of the arc's front) the
    external oblique is fleshy over the costal cartilages and the internal oblique ends on them:
    nothing is decided there."""
    none = np.zeros_like(outer)
    if not outer.any() or not eo.any() or not io.any():
        return none, none
    bins = (ang // 5).astype(int)
    both = np.intersect1d(np.unique(bins[eo]), np.unique(bins[io]))
    if len(both) < TWO_LAYER_MIN_BINS:
        return none, none
    first = both.min()
    if ribs is not None and (ribs & (bins <= first)).any():
        return none, none
    io_front = io & (bins >= first) & (bins < first + TWO_LAYER_MIN_BINS)
    if not io_front.any():
        return none, none
    wall_mm, inner_mm = float(skin_mm[io_front].min()), float(skin_mm[io_front].max())
    pieces, n = ndi.label(outer, structure=np.ones((3, 3), bool))
    belly = -1  # the rectus belly's piece (the one holding most of the rectus)
    if rectus is not None and rectus.any():
        belly = int(np.argmax(np.bincount(pieces[rectus], minlength=n + 1)[1:])) + 1
    out, organ = none.copy(), none.copy()
    for c in np.unique(pieces[outer & (bins <= first)]):
        if c == 0:
            continue
        m = pieces == c
        if c == belly:
            continue
        if float(np.median(ang[m])) >= 5.0 * (first + 1) or \
                _over_two_layer_arc(m, io, ang).sum() > (1.0 - _WHOLE_FRACTION) * m.sum():
            continue
        if float(skin_mm[m].min()) > inner_mm:
            organ |= m
        elif float(skin_mm[m].min()) <= wall_mm:
            out |= m
    return out, organ


#: thickest inner sheet of the wall (mm): the internal oblique with the transversus abdominis, at
#: most about 12 mm on ultrasound of the lateral abdominal wall (the serratus under the
#: latissimus is thinner)
INNER_SHEET_MAX_MM = 12.0
#: the external oblique's share of the fused obliques' depth where no two-layer arc is seen on
#: either side of the plane: mid-abdominal thicknesses by ultrasound, external oblique about 6 mm
#: against 8-10 mm of internal oblique with transversus abdominis
FUSED_EO_SHARE_DEFAULT = 0.4


def _two_layer_share(eo: np.ndarray, io: np.ndarray, ang: np.ndarray, eo_b: np.ndarray | None = None,
                     io_b: np.ndarray | None = None) -> float | None:
    """The external oblique's share of the two obliques' depth on the arc where a fat plane parts
    them: the median over the 5-degree bins holding both ``eo`` (outer run) and ``io`` (inner
    run) of the bin's ``eo`` pixel count over both counts (each bin a stretch of wall, so a ratio
    of counts is a ratio of thicknesses; the median, as a bin where the inner run took a piece of
    an organ beneath it is an outlier); with ``eo_b``/``io_b`` (the other side) the bins of both
    sides together. The two muscles'
    thicknesses change along the spine in opposite directions - the internal oblique thin near
    its insertion on ribs 10-12, thick above the iliac crest it arises from, the external oblique
    fleshy over the lower ribs and aponeurotic towards the crest - and slowly around the flank, so
    the ratio where they are seen apart holds where they are fused in the same plane. None when
    the two-layer arc is shorter than TWO_LAYER_MIN_BINS bins."""
    bins = (ang // 5).astype(int)
    ratios: list[float] = []
    for e, i in ((eo, io), (eo_b, io_b)):
        if e is None or i is None or not e.any() or not i.any():
            continue
        both = np.intersect1d(np.unique(bins[e]), np.unique(bins[i]))
        n_e = np.bincount(bins[e], minlength=bins.max() + 1)[both]
        n_i = np.bincount(bins[i], minlength=bins.max() + 1)[both]
        ratios.extend((n_e / (n_e + n_i)).tolist())
    if len(ratios) < TWO_LAYER_MIN_BINS:
        return None
    return float(np.median(ratios))


#: the rectus abdominis belly is at least this thick (mm) where its lateral border is looked for:
#: a rectus thinner than that (its upper end under the pectoralis, T6-T8) has no belly to tell
#: from the obliques' aponeuroses
RECTUS_BELLY_MIN_MM = 6.0
#: angular bins (deg of the normalised trunk angle) over which the rectus' thickness is followed
RECTUS_BIN_DEG = 2.0


def _beyond_linea_semilunaris(rect: np.ndarray, ang: np.ndarray, px: float) -> np.ndarray:
    """Pixels of one side's outer-run rectus ``rect`` lateral to its lateral border, the linea
    semilunaris: the rectus is a strap muscle of even thickness from the linea alba to its lateral
    border, where the rectus sheath continues into the obliques' aponeuroses and the wall thins.
    The thickness per ``RECTUS_BIN_DEG`` bin is twice the largest inscribed radius there; its
    reference is the median over the medial half of the rectus' bins (its belly); going laterally
    from there, the first bin thinner than half the belly starts the obliques. Nothing when the
    belly is thinner than ``RECTUS_BELLY_MIN_MM``."""
    none = np.zeros_like(rect)
    if not rect.any():
        return none
    edt = ndi.distance_transform_edt(rect) * px
    bins = (ang // RECTUS_BIN_DEG).astype(int)
    rb = bins[rect]
    present = np.unique(rb)
    if len(present) < 4:
        return none
    thick = 2.0 * np.asarray(ndi.maximum(edt, bins, index=present))
    half = len(present) // 2
    ref = float(np.median(thick[:half]))
    if ref < RECTUS_BELLY_MIN_MM:
        return none
    thin = np.nonzero(thick[half:] < 0.5 * ref)[0]
    if len(thin) == 0:
        return none
    return rect & (bins >= present[half + thin[0]])


def _assign_components(sheet: np.ndarray, ang: np.ndarray,
                       sectors: list[tuple[str, float, float]]) -> dict[str, np.ndarray]:
    """Groups of the pieces of a wall sheet: a piece (8-connected; fat planes separate the
    muscles) mostly inside one sector goes to that group whole; a piece spanning several sectors
    (no fat plane seen) is cut at the sector borders; pieces outside every sector are dropped."""
    out: dict[str, np.ndarray] = {}
    if not sheet.any() or not sectors:
        return out
    lab, n = ndi.label(sheet, structure=np.ones((3, 3), bool))
    sec = np.full(sheet.shape, -1, np.int16)
    for k, (_, a0, a1) in enumerate(sectors):
        sec[(ang >= a0) & (ang < a1) & sheet] = k
    counts = np.zeros((n + 1, len(sectors) + 1), np.int64)
    np.add.at(counts, (lab[sheet], sec[sheet] + 1), 1)
    for c in range(1, n + 1):
        tot = counts[c].sum()
        k = int(np.argmax(counts[c, 1:]))
        piece = lab == c
        if counts[c, 1 + k] >= _WHOLE_FRACTION * tot:
            name = sectors[k][0]
            out[name] = out.get(name, np.zeros_like(sheet)) | piece
        else:
            for kk, (name, _, _) in enumerate(sectors):
                m = piece & (sec == kk)
                if m.any():
                    out[name] = out.get(name, np.zeros_like(sheet)) | m
    return out


#: how far along the outer run the inner sheet is followed where no fat plane parts them (mm):
#: the arcs over which a 1-2 mm external oblique drops below the muscle window
SHEET_CREEP_MM = 4.0


def _creep(inner: np.ndarray, outer: np.ndarray, n_px: float) -> np.ndarray:
    """Pixels of ``outer`` reached from ``inner`` through ``outer`` pixels in at most ``n_px``
    4-connected steps (a 4-connected path cannot cross a fat plane of one 8-connected pixel)."""
    reached = ndi.binary_dilation(inner, iterations=max(int(round(n_px)), 1), mask=inner | outer)
    return reached & outer & ~inner


#: 5-degree bins over which both obliques must be seen as two layers before a single layer is
#: compared with them (20 deg of the flank: less is a sub-pixel outer sheet seen in places only)
TWO_LAYER_MIN_BINS = 4


def _single_layer_muscle(single: np.ndarray, outer2: np.ndarray, inner2: np.ndarray,
                         ang: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the lateral abdominal wall shows one muscle layer (``single``) instead of two, it is
    either both obliques with no fat plane seen between them, or one oblique alone: the external
    oblique behind the internal oblique's posterior border, the internal oblique in front of the
    external oblique's muscular part (towards the rectus sheath; the trunk angle grows from the
    anterior midline backwards, so a single layer in front of the two-layer arc is never the
    external oblique alone, one behind it never the internal). Per 5-degree bin its pixel count
    (thickness times arc) is compared with the two layers' where both are seen on this side
    (``outer2`` external, ``inner2`` internal; medians over their bins): nearer the external
    oblique's -> external oblique alone, nearer the internal's -> internal alone, nearer their
    sum -> both (left to the depth split). Without two-layer bins nothing is decided."""
    none = np.zeros_like(single)
    if not single.any() or not outer2.any() or not inner2.any():
        return none, none
    bins = (ang // 5).astype(int)
    both = np.intersect1d(np.unique(bins[outer2]), np.unique(bins[inner2]))
    if len(both) < TWO_LAYER_MIN_BINS:  # the two layers seen over too short an arc to compare with
        return none, none
    n_out = np.bincount(bins[outer2], minlength=bins.max() + 1)
    n_in = np.bincount(bins[inner2], minlength=bins.max() + 1)
    n_single = np.bincount(bins[single], minlength=bins.max() + 1)
    t_eo, t_io = float(np.median(n_out[both])), float(np.median(n_in[both]))
    eo, io = none.copy(), none.copy()
    for b in np.unique(bins[single]):
        d = [abs(n_single[b] - t_eo), abs(n_single[b] - t_io), abs(n_single[b] - t_eo - t_io)]
        if b < both.min():  # in front of the two layers: the internal oblique reaching the rectus
            d[0] = np.inf
        elif b > both.max():  # behind them: the external oblique reaching the latissimus
            d[1] = np.inf
        k = int(np.argmin(d))
        if k == 0:
            eo |= single & (bins == b)
        elif k == 1:
            io |= single & (bins == b)
    return eo, io


def _bins_with(sel: np.ndarray, ang: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Pixels of ``where`` whose 5-degree angular bin also holds pixels of ``sel``."""
    bins = (ang // 5).astype(int)
    have = np.unique(bins[sel])
    return where & np.isin(bins, have)


def _outer_layer(m: np.ndarray, depth: np.ndarray, ang: np.ndarray, frac: float) -> np.ndarray:
    """Pixels of ``m`` in the outer ``frac`` of the wall thickness of their 5-degree angular bin:
    the ``frac`` share of the bin's pixels nearest the skin (by depth below the subcutaneous fat).
    A share of the pixel count, not a cut at ``frac`` of the pixel-centre depth range: on a sheet
    two pixels thick the range cut gives the whole outer row (half the area) to the outer layer."""
    if not m.any():
        return m
    bins = (ang // 5).astype(int)
    out = np.zeros_like(m)
    for b in np.unique(bins[m]):
        sel = m & (bins == b)
        r, c = np.nonzero(sel)
        order = np.argsort(depth[r, c], kind="stable")
        k = int(round(frac * len(order)))
        out[r[order[:k]], c[order[:k]]] = True
    return out


def _sheet_course(sheet: np.ndarray, muscle_sharp: np.ndarray, thick: np.ndarray,
                  where: np.ndarray) -> np.ndarray:
    """The pieces ``sheet`` of a sheet about a pixel thick (the lower trapezius, drawn as steps
    of one or two pixel rows) found by the first-layer rays, grown within ``where`` (the
    superficial band over the paraspinal mass) through 8-connected muscle-window pixels
    (``muscle_sharp``) that are not part of or next to thick muscle (``thick``: the deep
    muscles): the steps' ends that the rays passed at a grazing angle. Pixels of the sheet below
    the muscle window are counted by the partial-volume area of its border (``partial_volume.py``)."""
    eight = np.ones((3, 3), bool)
    near_thick = ndi.binary_dilation(thick, structure=eight)
    return ndi.binary_propagation(sheet, structure=eight, mask=sheet | (muscle_sharp & where & ~near_thick))


def _across_skin(pieces_mask: np.ndarray, body: np.ndarray, px: float, max_depth_extent_mm: float) -> np.ndarray:
    """Pieces of ``pieces_mask`` (4-connected) that extend along the local depth direction (the
    gradient of the distance to the skin at the piece's centroid) by more than
    ``max_depth_extent_mm`` and by more than across it (mm): pieces lying across the skin's
    layers, not along them."""
    out = np.zeros_like(pieces_mask)
    pieces, n = ndi.label(pieces_mask)
    if n == 0:
        return out
    gr, gc = depth_normal(body, px)  # the local depth direction (unit vectors)
    for i, (r0, c0) in enumerate(ndi.center_of_mass(pieces_mask, pieces, np.arange(1, n + 1)), start=1):
        r, c = np.nonzero(pieces == i)
        ri, ci = int(round(r0)), int(round(c0))
        d = np.array([gr[ri, ci], gc[ri, ci]], np.float64)
        if not np.any(d):
            continue
        d /= np.linalg.norm(d)
        along = r * d[0] + c * d[1]
        across = -r * d[1] + c * d[0]
        ext_d = (along.max() - along.min() + 1) * px
        ext_t = (across.max() - across.min() + 1) * px
        if ext_d > max_depth_extent_mm and ext_d > ext_t:
            out |= pieces == i
    return out


#: angular bin (deg of the normalised trunk angle) over which the external oblique's posterior
#: border is located: ~5 mm of the lateral chest wall
EO_BORDER_BIN_DEG = 2.0


def _over_two_layer_arc(outer: np.ndarray, inner: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """Pixels of ``outer`` in the EO_BORDER_BIN_DEG angular bins that also hold ``inner``: the
    outer of two layers seen one over the other."""
    bins = (ang // EO_BORDER_BIN_DEG).astype(int)
    return outer & np.isin(bins, np.unique(bins[inner]))


def _behind_two_layer_arc(eo: np.ndarray, serratus_inner: np.ndarray, ang: np.ndarray) -> np.ndarray:
    """Pixels of the outer run ``eo`` (labelled external oblique by sector) that lie behind the arc
    where the serratus anterior is seen beneath it (``serratus_inner``): on the lateral ribs the
    external oblique's slips cover the serratus's lower digitations, and behind the oblique's
    posterior free border the serratus is the only sheet. The border is where the two-layer arc
    ends posteriorly (the trunk angle grows backwards); nothing when no two-layer arc is seen."""
    none = np.zeros_like(eo)
    if not eo.any() or not serratus_inner.any():
        return none
    bins = (ang // EO_BORDER_BIN_DEG).astype(int)
    both = np.intersect1d(np.unique(bins[eo]), np.unique(bins[serratus_inner]))
    if len(both) == 0:
        return none
    return eo & (bins > both.max())

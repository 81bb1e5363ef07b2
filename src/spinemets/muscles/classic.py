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
   (``paraspinal.trim_wings``).
   At T1-T10 the sheet over the paraspinal mass (trapezius, rhomboids) is the first muscle layer
   below the SAT, except pieces lying on that bony floor (the erector spinae under thin fat, where
   the rays pass beside the trapezius) and, for the thin lower trapezius (T7-T10), pieces
   continuous with thick muscle under them (the deep muscles' surface) or lying across the skin's
   layers rather than along them (a deep muscle's side wrapped by the SAT); the thin sheet's
   pieces then grow through muscle-window pixels away from thick muscle (the steps' ends the rays
   missed; ``wall_groups.sheet_course``). At T1-T10, beyond the
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
   (``wall_groups._in_front_of_two_layer_arc``). Between the lower ribs, pieces of the internal
   oblique brighter than the external oblique's interior are organ (liver, spleen;
   ``wall_groups._brighter_than_wall``). On the lateral ribs the external oblique ends where the
   serratus anterior stops being seen beneath it (its posterior free border): behind that the
   single sheet is the serratus, whatever the sector; at T6-T7 the outer of two layers in the
   serratus sector is the external oblique's upper slips.
7. Psoas and quadratus lumborum: the quadratus lumborum region ends 0.5 body radius anterior to
   the posterior body wall (the kidney lies in front of it); where either touches an iso-dense
   organ without a fat plane, the ellipse of its outline seen against fat and bone adds back the
   part the organ's region took (``shape.complete_outline``).
8. The rectus abdominis ends at the linea semilunaris: lateral to the first angular bin where the
   outer run thins to less than half the rectus belly and stays thin, the sheet is no rectus
   (``wall_groups._beyond_linea_semilunaris``); a piece beneath the belly (the chest wall on the
   costal cartilages, an organ) is no rectus (``wall_groups.beneath_rectus``); under the
   pectoralis' lowest fibres (T6-T7) the rectus is followed medially from the part the rays found
   (``wall_groups.rectus_under_pectoralis``). The latissimus dorsi and the pectoralis major, which thin below
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
from .morphology import component_at, disk, largest, no_jump, touching, trunk_angle
from .organ_contact import HU_CONSISTENCY_MIN, organ_hu_touching, split_organ_contact
from .paraspinal import LAMINA_CONTACT_MM, compartment_floor_near, split_paraspinal, trim_wings
from .pectoral import (CHEST_CAP_LAST, cap_pectoral_reach, pectoral_deep_layer, pectoral_lateral_reach_deg,
                       pectoral_off_rectus)
from .presence import expected
from .shape import complete_outline
from .tissue import BONE_HU, FAT_HU, FAT_PLANE_HU, MUSCLE_HU, body_outline, thin_fat_planes
from .wall import wall_layers
from .wall_groups import SECTORS_THORAX_LOWER, across_skin, rectus_under_pectoralis, sheet_course, split_wall
from .thin_sheet import (beneath_own_sheet, depth_normal, follow_course, near_lung, ridge_excess, ridge_threshold,
                         same_angle_as)
#: deepest extent of the superficial muscle sheet below the subcutaneous fat (mm)
WALL_MAX_MM = 25.0
#: thickest sheet of the wall below the pectoral region (rectus abdominis ~10-15 mm) and in the
#: upper chest (pectoralis major, mm)
WALL_SHEET_MAX_MM = 16.0
WALL_SHEET_MAX_MM_CHEST = 26.0
#: muscle-window tissue thicker than this radius away from the spine is an organ (mm)
ORGAN_MIN_RADIUS_MM = 12.0
#: lateral extent of the paraspinal compartment in vertebral-body half-widths
PS_REACH_HALF_WIDTHS = 4.0
#: how far the thoracic erector spinae (iliocostalis over the ribs) may spread beyond the
#: paraspinal zone's lateral limit, in vertebral-body radii (about 12-15 mm at T5-T9): beyond it
#: the latissimus dorsi lies on the ribs, at places joined to the erector spinae's tip without a
#: visible fat plane
ES_SPREAD_RADII = 1.0
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
#: lung (air) in the posterior half of the plane within the paraspinal reach above this area
#: (mm^2): a level above the lung bases
LUNG_RECESS_MIN_MM2 = 100.0
#: the lower trapezius is a thin sheet (mm) lying on fat; a piece of it with more than
#: SHEET_SURFACE_FRACTION of its pixels touching muscle under it (no fat plane) is the surface of
#: a deep muscle that the subcutaneous fat reaches between the sheet's pieces
THIN_SHEET_MM = 5.0
SHEET_SURFACE_FRACTION = 0.3

_PS, _PSOAS, _QL, _WALL, _OTHER = 1, 3, 5, 7, 8


def segment_plane(hu: np.ndarray, inside: np.ndarray, vert_in_plane: np.ndarray, lm: Landmarks,
                  px: float, level: str, canal: np.ndarray | None = None,
                  psoas_ref_hu: dict[str, float] | None = None,
                  pectoral_reach_deg: dict[str, float] | None = None,
                  reach_out: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Masks ``{"erector_spinae_left": bool array, ...}`` of the groups found in the plane.

    ``pectoral_reach_deg``: per side the pectoralis major's lateral reach (normalised trunk angle,
    deg; ``pectoral_lateral_reach_deg()``) found one level up; below ``CHEST_CAP_LAST`` the muscle reaches no
    further lateral (``pectoral.cap_pectoral_reach``). ``reach_out``: if given, filled with this plane's
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
    bone = ndi.binary_dilation((hs > BONE_HU) | (vert_in_plane > 0), structure=disk(1.0 / px))
    muscle = (hs >= MUSCLE_HU[0]) & (hs <= MUSCLE_HU[1]) & body & ~bone
    if canal is not None:  # CSF and cord are in the muscle window
        muscle &= ~ndi.binary_dilation(canal, structure=disk(1.0 / px))
    fat = (hs >= FAT_HU[0]) & (hs <= FAT_HU[1]) & body
    rim = body & ~ndi.binary_erosion(body, structure=disk(8.0 / px))
    fat_o = ndi.binary_opening(fat, structure=disk(1.0 / px))
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
    rib_bone = (hs > BONE_HU) & body & ~ndi.binary_dilation(vert_in_plane > 0, structure=disk(3.0 / px))
    cap_mm = WALL_SHEET_MAX_MM_CHEST if anatomy.level_index(level) <= anatomy.level_index(CHEST_CAP_LAST) \
        else WALL_SHEET_MAX_MM
    # thin fascial fat planes (1-2 mm) between the sheets and what lies under them vanish in the
    # 1 mm smoothing: the rays read a 0.5 mm-smoothed muscle window
    h_sharp = ndi.gaussian_filter(hu.astype(np.float32), sigma=max(0.5 / px, 0.3))
    muscle_sharp = (h_sharp >= MUSCLE_HU[0]) & (h_sharp <= MUSCLE_HU[1]) & body & ~bone
    if canal is not None:
        muscle_sharp &= ~ndi.binary_dilation(canal, structure=disk(1.0 / px))
    fat_plane = (h_sharp <= FAT_PLANE_HU) & (h_sharp >= FAT_HU[0])
    # the laminar groove: vertebra lateral to the spinous process and medial to the transverse-process
    # tips, and LAMINA_CONTACT_MM around it (the multifidus lies on the laminae, at most a thin fat
    # plane between; ribs and the chest wall meet the vertebra at the transverse-process tips)
    groove = (vert_in_plane > 0) & (np.abs(x) > lm.spinous_half_width_mm + 2.0) & (np.abs(x) < 0.8 * xtp)
    lamina_near = ndi.binary_dilation(groove, structure=disk(LAMINA_CONTACT_MM / px)) & (np.abs(x) < xtp)
    # the floor of the paraspinal compartment further out: the transverse processes and, in the
    # thorax, the ribs' posterior surfaces medial to the rib angles (the erector spinae lie on
    # them; the trapezius and rhomboids never do, the erector spinae being in between)
    # at the rib-bearing levels T1-T12 only: in the lumbar spine the quadratus lumborum also
    # reaches the transverse processes, and the iliac crest at L4-L5 is no floor
    if anatomy.level_index(level) <= anatomy.level_index("T12"):
        lamina_near |= compartment_floor_near(vert_in_plane > 0, rib_bone, x, y, lm, xtp, ps_reach + r_b, px)
    runs = wall_layers(body, sat, muscle_sharp & ~(post_zone | gutter | ql_zone), px, max_depth_mm=WALL_MAX_MM,
                       ribs=rib_bone, max_layer_mm=cap_mm, fat_plane=fat_plane, skin_depth_rule=True,
                       hu=h_sharp)
    # each wall layer is a sheet: parts thicker than the thickest sheet muscle at this level are
    # organs touching the wall without a fat plane (liver, bowel loops) and are removed
    for r in (1, 2):
        m = runs == r
        thick = ndi.binary_opening(m, structure=disk(0.5 * cap_mm / px))
        if thick.any():
            runs[ndi.binary_dilation(thick, structure=disk(1.0 / px)) & m] = 0
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
            thick = ndi.binary_opening(muscle_sharp & ~fat_plane, structure=disk(0.5 * THIN_SHEET_MM / px))
            under = muscle_sharp & ~sheet & ~fat_plane & thick
            touch = ndi.binary_dilation(under, structure=ndi.generate_binary_structure(2, 1)) & sheet
            idx = np.arange(1, n + 1)
            frac = np.asarray(ndi.sum(touch, pieces, index=idx)) / np.maximum(ndi.sum(sheet, pieces, index=idx), 1)
            sheet &= ~np.isin(pieces, idx[frac > SHEET_SURFACE_FRACTION])
            # a sheet runs parallel to the skin: a piece extending further along the depth
            # direction (towards the nearest skin, at the piece's centroid) than the thin sheet is
            # thick and than it extends across it is the side of a deep muscle that the
            # subcutaneous fat wraps (the erector spinae's lateral edge met first by the rays)
            sheet &= ~across_skin(sheet, body, px, THIN_SHEET_MM)
            if sheet.any():
                sheet = sheet_course(sheet, muscle_sharp, thick, post_zone & (depth < sheet_mm) & body & ~bone)
        runs[sheet] = 1
    wall = runs > 0
    # --- deep muscles: marker watershed on the opened mask (thin bridges cut) -------------------
    # thin fat planes beside the body (psoas against the liver, vena cava or crus in front of it and
    # the quadratus lumborum behind it; quadratus lumborum against the kidney) whose middle partial
    # volume lifts into the muscle window: the bottoms of their HU valleys (``valley.py``)
    valley = thin_fat_planes(h_sharp, hs, fat_o, muscle, px, (gutter | ql_zone) & body)
    deep_whole = ndi.binary_opening(muscle & ~wall & ~fat_plane, structure=disk(1.0 / px))
    deep = ndi.binary_opening(muscle & ~wall & ~fat_plane & ~valley, structure=disk(1.0 / px))
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
        ps = ndi.binary_erosion(ps, structure=disk(1.0 / px))
        if ps.any():
            markers[ps] = _PS + off
        if expected("psoas_major", level):
            # the largest muscle mass in the gutter beside the body, anterior to the transverse
            # process (psoas moves from posterolateral at L1 to anterolateral at L5)
            gap = sx - lm.body_half_width_mm
            seed = deep & (gap > 2.0) & (gap < 3.0 + PSOAS_SEED_REACH * r_b) & \
                (y > lm.body_anterior_mm - 0.36 * r_b) & (y < min(yt, lm.body_posterior_mm))
            side = "left" if s == 1 else "right"
            seed = ndi.binary_erosion(seed, structure=disk(1.5 / px))
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
            seed = touching(seed, body_dist, PSOAS_BODY_CONTACT_MM)
            markers[seed] = _PSOAS + off
        if expected("quadratus_lumborum", level):
            # the largest muscle mass lateral to the transverse-process tip, at its depth
            g = sx - xt
            seed = deep & (g > 0.0) & (g < QL_SEED_REACH * r_b) & (y > lm.body_posterior_mm - 0.43 * r_b) & \
                (y < yt + 0.22 * r_b) & (markers == 0)
            seed = ndi.binary_erosion(seed, structure=disk(1.5 / px))
            # quadratus lumborum is a muscle of its own between the psoas in front and the erector
            # spinae behind (the middle layer of the thoracolumbar fascia, from the transverse-process
            # tips, lies between them): a piece joined to the psoas seed without a fat plane (the
            # psoas' lateral belly at L3-L5) is psoas, one joined to the paraspinal seed is the
            # erector spinae reaching the tip's depth (L4-L5, above the iliac crest), unless no
            # other piece is there
            for other in (markers == _PSOAS + off, markers == _PS + off):
                if other.any() and seed.any():
                    joined = component_at(deep, other)
                    if (seed & ~joined).any():
                        seed &= ~joined
            seed = largest(seed)
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
            beyond = ndi.binary_erosion(beyond, structure=disk(1.5 / px))
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
    split_organ_contact(regions, markers, hu, muscle, h3, px, wall,
                         keep=(_PS, _PS + 1) if lung_behind else (),
                         beyond=None if upper else {_PS: ~post_zone, _PS + 1: ~post_zone}, organ_id=_OTHER)
    for side, off in (("left", 0), ("right", 1)):
        # a psoas region with a caudal reference: tissue brighter than both the reference and its
        # own seed by more than the tolerance is organ (liver, vena cava) touching it
        own, seed = regions == _PSOAS + off, markers == _PSOAS + off
        if side in refs and seed.any():
            hi = max(refs[side], float(np.median(h2s[seed]))) + HU_CONSISTENCY_MIN
            # against a brighter organ of known attenuation (its thick core, 3 mm-smoothed HU) a
            # pixel nearer in HU to the organ than to the caudal psoas reference is organ
            organ = organ_hu_touching(markers, own, h3, px, organ_id=_OTHER)
            brighter = [o for o in organ if o - refs[side] >= HU_CONSISTENCY_MIN]
            if brighter:
                hi = min(hi, 0.5 * (refs[side] + min(brighter)))
            regions[own & ~seed & (h2s > hi) & ~bone] = 0
    # give back the rim removed by the opening (at most 2 mm, non-wall muscle pixels only)
    grown = expand_labels(regions, distance=2.0 / px) * (muscle & ~wall)
    for lab_id in (_PSOAS, _PSOAS + 1, _QL, _QL + 1):
        no_jump(grown, regions, lab_id, valley)
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
        ang, _ = trunk_angle(x, y, body)
        behind = (ang >= SECTORS_THORAX_LOWER[-2][1]) & (y > ytp) & ~post_zone & ~anterior_to_ribs & \
            (np.abs(x) < ps_reach + ES_SPREAD_RADII * r_b)
        cross = ndi.generate_binary_structure(2, 1)
        for off in (0, 1):
            own = regions == _PS + off
            base = own & post_zone
            cand = behind & muscle & ((regions == 0) | own)
            if not base.any() or not cand.any():
                continue
            thick = ndi.binary_opening(base | cand, structure=disk(0.5 * THIN_SHEET_MM / px)) & cand
            end = component_at(thick, ndi.binary_dilation(base, structure=cross))
            if end.any():
                regions[end] = _PS + off
                runs[end] = 0
                ps_end |= end

    # at T1-T10, behind the trunk (the trapezius' sector) the paraspinal region may continue beyond the
    # zone's lateral limit: muscle joined to it without a fat plane and not taken by the wall sheets is
    # the erector spinae spreading over the ribs (the lateral limit guards the posterolateral chest,
    # where the scapular muscles lie on the ribs)
    back = (trunk_angle(x, y, body)[0] >= SECTORS_THORAX_LOWER[-1][1]) if upper else np.zeros_like(muscle)
    out: dict[str, np.ndarray] = {}
    for s, side, off in ((1, "left", 0), (-1, "right", 1)):
        # lateral to the transverse-process tip the paraspinal mass lies behind the tip's level;
        # medially it ends at the spinous process (projected along the axis: thoracic processes
        # slope below the plane, where the supraspinous/interspinous ligaments fill the midline)
        xt_s, yt_s = abs(tp[s][0]), tp[s][1]
        ps = (regions == _PS + off) & ((s * x < ps_reach) | ps_end | back) & (s * x > lm.spinous_half_width_mm) & \
            ~((s * x > xt_s) & (y < yt_s - 0.2 * r_b))
        ps &= ~anterior_to_ribs
        ps = component_at(ps, markers == _PS + off)
        if ps.any():
            ts, es = split_paraspinal(ps, hs, x * s, lm, abs(tp[s][0]))
            out[f"transversospinalis_{side}"] = ts
            if not lung_behind:
                es = trim_wings(es, px, muscle & ~wall & ~ps & ~bone, medial=(s * x <= xt_s) & (y >= yt_s))
            out[f"erector_spinae_{side}"] = es
        for grp, lab in (("psoas_major", _PSOAS), ("quadratus_lumborum", _QL)):
            if expected(grp, level):
                # both lie on their own side, psoas lateral to the body's midline half
                zone = (s * x > 0.5 * lm.body_half_width_mm) & \
                    (gutter if grp == "psoas_major" else
                     ql_zone & (y > lm.body_posterior_mm - QL_ANTERIOR_RADII * r_b))
                keep = component_at((regions == lab + off) & zone, markers == lab + off)
                # against an iso-dense organ without a fat plane: the ellipse of the outline seen
                # against fat and bone adds back what the organ's region or nobody took
                taken = np.zeros_like(muscle)
                for m in out.values():
                    taken |= m
                free = zone & muscle & ~wall & ~bone & ~taken & \
                    ((regions == 0) | (regions == _OTHER) | (regions == lab + off))
                out[f"{grp}_{side}"] = complete_outline(keep, free, (hs < MUSCLE_HU[0]) | bone, px,
                                                        markers == lab + off)
    out.update(split_wall(runs, depth, x, y, body, level, ribs=rib_bone, hu=hu))
    rectus_under_pectoralis(out, muscle_sharp, x, y, body, level, px)
    _follow_thin_sheets(out, h_sharp, body, fat_o, bone, depth, x, y, level, px)
    pectoral_deep_layer(out, h_sharp, muscle_sharp, body, bone, x, y, level, px)
    cap_pectoral_reach(out, x, y, body, level, pectoral_reach_deg)
    pectoral_off_rectus(out, level)
    out = {k: v for k, v in out.items() if v.any()}
    if reach_out is not None and body.any():
        reach_out.update(pectoral_lateral_reach_deg(out, trunk_angle(x, y, body)[0]))
    return out


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
    ang, cx = trunk_angle(x, y, body)
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
            eo = out.get(f"external_oblique_{side}")
            if g == "latissimus_dorsi" and eo is not None and eo.any():
                # the latissimus' costal slips interdigitate with the external oblique's lowest
                # slips on ribs 10-12 and its anterior border lies posterior to the oblique's
                # posterior free border: it ends where the oblique begins, and the sheet beside
                # the oblique at the same angle is the oblique's fibres (left unassigned)
                out[name] &= ~same_angle_as(out[name], eo, ang)

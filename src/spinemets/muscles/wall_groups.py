"""The superficial wall sheet of a mid-vertebral plane assigned to the wall groups.

Steps 6 and 8 of the method in ``classic.py``: the layers found by the wall rays (``wall.py``) go to
rectus abdominis, external and internal oblique, serratus anterior, latissimus dorsi, pectoralis
major and trapezius by their normalised trunk angle (``morphology.trunk_angle``) and, in the
lateral abdominal wall, by depth. Arrays are the 2-D plane ([row, col], ``px`` mm per pixel);
lengths mm, angles degrees.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .. import anatomy
from .morphology import largest, trunk_angle
from .organ_contact import HU_CONSISTENCY_MIN
from .presence import expected
from .thin_sheet import depth_normal


#: angular sectors of the superficial groups, outer run of the wall, in degrees of the
#: *normalised* trunk angle (0 = anterior midline, 90 = the trunk's lateral extreme, 180 =
#: posterior midline; x and y divided by the trunk's half-width and half-depth, so the sectors
#: follow the body wall whatever the trunk's aspect ratio). Rectus abdominis is paramedian (linea
#: alba to the linea semilunaris), pectoralis major covers the anterior upper chest, serratus
#: anterior the lateral ribs, latissimus dorsi the posterolateral trunk, trapezius the posterior
#: thorax over the erector spinae.
_SECTORS_THORAX_UPPER = [("pectoralis_major", 0, 65), ("serratus_anterior", 65, 108),
                         ("latissimus_dorsi", 108, 152), ("trapezius", 152, 181)]
SECTORS_THORAX_LOWER = [("rectus_abdominis", 0, 34), ("external_oblique", 34, 90),
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


def _outer_sectors(level: str) -> list[tuple[str, float, float]]:
    """The outer run's angular sectors at ``level`` (groups not present there left out)."""
    if expected("pectoralis_major", level):
        sectors = _SECTORS_THORAX_UPPER
    elif anatomy.level_index(level) <= anatomy.level_index("T11"):
        sectors = SECTORS_THORAX_LOWER
    else:
        sectors = _SECTORS_ABDOMEN
    return [sc for sc in sectors if expected(sc[0], level)] or sectors


def split_wall(runs: np.ndarray, depth: np.ndarray, x: np.ndarray, y: np.ndarray, body: np.ndarray,
                level: str, ribs: np.ndarray | None = None, hu: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The wall groups per side from the wall rays' layers ``runs`` (1 outer, 2 inner); ``ribs``:
    the plane's rib bone (the costal margin: see ``_in_front_of_two_layer_arc``); ``hu``: the
    plane's HU image, unsmoothed (organ pieces of the internal oblique: ``_brighter_than_wall``)."""
    if not runs.any():
        return {}
    ang, cx = trunk_angle(x, y, body)
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
    inner &= ~across_skin(inner, body, px, INNER_SHEET_MAX_MM)
    per_side = {}
    front_io: dict[str, np.ndarray] = {}
    skin = ndi.distance_transform_edt(body) * px  # depth below the skin (mm)
    none_side = np.zeros_like(runs, dtype=bool)
    sides = (("left", x > cx), ("right", x <= cx))
    # the two recti are mirror images about the linea alba, their lateral borders (the lineae
    # semilunares) as far from it on both sides: each side's border is the more lateral of the two
    # sides' - a thinning well medial of the other side's border is the belly narrowed where an
    # organ lies on it without a fat plane (the rays stop short of its deep part) or by noise
    border = {side: linea_semilunaris_deg(_assign_components(outer & sm, ang, sectors).get(
        "rectus_abdominis", none_side), ang, px) for side, sm in sides}
    for side, sm in sides:
        outer_g = _assign_components(outer & sm, ang, sectors)
        inner_g = _assign_components(inner & sm, ang, [sc for sc in (_INNER_MIDDLE if middle else _INNER)
                                                       if expected(sc[0], level)])
        if "rectus_abdominis" in outer_g:
            # lateral to the linea semilunaris, joined to the rectus sheath without a fat plane:
            # the internal oblique's fleshy fibres reaching the sheath, and organ (bowel) touching
            # the junction. No rectus; left to no group (given to the internal oblique it added
            # the organ too: +25..+39 % on 3 of 6 phantoms)
            own, other = border[side], border["right" if side == "left" else "left"]
            if own is not None:
                outer_g["rectus_abdominis"] &= ang < (own if other is None else max(own, other))
        if middle:
            # the thin pectoralis missed on a few rays: the first run continues the sheet beneath
            for grp in ("rectus_abdominis", "external_oblique"):
                if "pectoralis_major" in outer_g and grp in inner_g:
                    crept = _creep(inner_g[grp], outer_g["pectoralis_major"], SHEET_CREEP_MM / px)
                    outer_g["pectoralis_major"] &= ~crept
                    inner_g[grp] |= crept
        if "rectus_abdominis" in outer_g or "rectus_abdominis" in inner_g:
            # the rectus is the first muscle layer of the anterior wall, in its sheath: a piece
            # lying beneath its belly is the chest wall it rests on above the costal margin (the
            # costal cartilages 5-7 with the intercostals on the pleura) or an organ below it
            under = beneath_rectus(outer_g.get("rectus_abdominis", none_side) |
                                   inner_g.get("rectus_abdominis", none_side), skin)
            for g_ in (outer_g, inner_g):
                if "rectus_abdominis" in g_:
                    g_["rectus_abdominis"] &= ~under
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
        io_name, eo_name = f"internal_oblique_{side}", f"external_oblique_{side}"
        if hu is not None and ribs is not None and (ribs & sm).any() and io_name in out and eo_name in out:
            # between the lower ribs (rib bone on this side of the plane): liver or spleen
            out[io_name] &= ~_brighter_than_wall(out[io_name], out[eo_name], hu, px)
    return out


#: the external oblique's interior, from which the wall muscle's attenuation is taken, lies this
#: far inside its outline (mm): beyond the pixel of partial volume with the fat around it (on the
#: unsmoothed HU image)
WALL_CORE_DEPTH_MM = 1.0


def _median_se(v: np.ndarray) -> tuple[float, float]:
    """Median of ``v`` and its standard error (normal data: 1.2533 sd / sqrt(n), the sd from the
    median absolute deviation)."""
    med = float(np.median(v))
    return med, 1.2533 * 1.4826 * float(np.median(np.abs(v - med))) / np.sqrt(len(v))


def _brighter_than_wall(io: np.ndarray, eo: np.ndarray, hu: np.ndarray, px: float) -> np.ndarray:
    """Pieces (8-connected) of one side's internal oblique ``io`` whose median HU (``hu``, the
    plane's unsmoothed image: smoothing mixes a sheet a few pixels thick with the fat) exceeds
    the external oblique's interior median (WALL_CORE_DEPTH_MM inside its outline) by at least
    HU_CONSISTENCY_MIN plus twice the difference's standard error: an organ the inner rays
    reached beneath the external oblique, not the internal oblique. Between the
    lower ribs the liver (right) and the spleen (left) lie against the wall under the external
    oblique, where the internal oblique is a sheet thinner than a pixel near its insertion on
    ribs 10-12; both organs are brighter than skeletal muscle (liver about 55-65 HU against
    40-50 HU unenhanced, and more after contrast), while the two obliques, the same tissue, have
    the same attenuation (fat infiltration only lowers it; the same tolerance as the psoas' organ
    contact, ``organ_contact.HU_CONSISTENCY_MIN``). A piece of a few pixels, or an external
    oblique with almost no interior, is brighter by noise alone as often as not: the standard
    errors keep both out."""
    none = np.zeros_like(io)
    core = ndi.binary_erosion(eo, iterations=max(int(np.ceil(WALL_CORE_DEPTH_MM / px)), 1))
    if not io.any() or core.sum() < 3:
        return none
    ref, se_ref = _median_se(hu[core])
    pieces, n = ndi.label(io, structure=np.ones((3, 3), bool))
    bright = []
    for k in range(1, n + 1):
        med, se = _median_se(hu[pieces == k])
        if med - ref - 2.0 * np.hypot(se, se_ref) >= HU_CONSISTENCY_MIN:
            bright.append(k)
    return np.isin(pieces, bright) if bright else none


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
    """Pixels of one side's outer-run rectus ``rect`` lateral to its lateral border
    (``linea_semilunaris_deg``) on that side alone."""
    deg = linea_semilunaris_deg(rect, ang, px)
    return rect & (ang >= deg) if deg is not None else np.zeros_like(rect)


def linea_semilunaris_deg(rect: np.ndarray, ang: np.ndarray, px: float) -> float | None:
    """The normalised trunk angle (deg) where one side's outer-run rectus ``rect`` reaches its
    lateral border, the linea semilunaris (None: no border seen).

    The rectus is a strap muscle of even thickness from the linea alba to its lateral border,
    where the rectus sheath continues into the obliques' aponeuroses and the wall thins. The
    thickness per ``RECTUS_BIN_DEG`` bin is twice the largest inscribed radius there; its
    reference is the median over the medial half of the rectus' bins (its belly). Going laterally
    from there, the first bin thinner than half the belly starts the obliques - unless the next
    bin is as thick as the belly again: the border is a lasting thinning, where the sheath's edge
    turns into the aponeuroses, whereas a single thin bin between belly-thick ones is the belly
    narrowed by noise on a few rays (a neck of one 2-degree bin, ~3 mm of wall, cut the lateral
    40 % off a rectus on small seed 7 at T11). None when the belly is thinner than
    ``RECTUS_BELLY_MIN_MM``."""
    if not rect.any():
        return None
    edt = ndi.distance_transform_edt(rect) * px
    bins = (ang // RECTUS_BIN_DEG).astype(int)
    rb = bins[rect]
    present = np.unique(rb)
    if len(present) < 4:
        return None
    thick = 2.0 * np.asarray(ndi.maximum(edt, bins, index=present))
    half = len(present) // 2
    ref = float(np.median(thick[:half]))
    if ref < RECTUS_BELLY_MIN_MM:
        return None
    lateral = thick[half:] < 0.5 * ref
    # a thin bin starts the border when the next bin is thin too or the sheet ends there
    border = lateral & np.append(lateral[1:], True)
    if not border.any():
        return None
    return float(present[half + int(np.argmax(border))]) * RECTUS_BIN_DEG


def beneath_rectus(rect: np.ndarray, skin_mm: np.ndarray) -> np.ndarray:
    """Pieces of one side's rectus abdominis mask ``rect`` lying beneath the rectus belly.

    The rectus lies in its sheath beside the linea alba, the first muscle layer under the
    subcutaneous fat from the pubic crest to the xiphoid; above the costal margin it rests on the
    costal cartilages 5-7 (Gray's Anatomy, anterior abdominal wall), below it on the transversalis
    fascia. A piece (8-connected; a fat plane parts it from the belly) of which more than half
    lies deeper below the skin (``skin_mm``, mm) than the belly's inner surface (the deepest pixel
    of the largest piece) is what lies beneath the muscle - the chest wall on the cartilages where
    the rectus sheet ends laterally (intercostal tissue on the pleura), or an organ - not the
    rectus. Pieces at the belly's depth (the thin upper end of the muscle seen as beads under the
    pectoralis) stay."""
    none = np.zeros_like(rect)
    lab, n = ndi.label(rect, structure=np.ones((3, 3), bool))
    if n < 2:
        return none
    idx = np.arange(1, n + 1)
    belly = int(np.argmax(np.bincount(lab[rect], minlength=n + 1)[1:])) + 1
    inner_mm = float(skin_mm[lab == belly].max())
    med = np.asarray(ndi.median(skin_mm, lab, index=idx))
    return np.isin(lab, idx[(med > inner_mm) & (idx != belly)])


def rectus_under_pectoralis(out: dict[str, np.ndarray], muscle: np.ndarray, x: np.ndarray, y: np.ndarray,
                            body: np.ndarray, level: str, px: float) -> None:
    """In place: where the pectoralis major's lowest fibres cover the upper rectus sheath (T6-T7,
    ``split_wall``'s middle run), each side's rectus abdominis mask grown (8-connected) through the
    muscle-window pixels ``muscle`` that no group holds, in the rectus' sector and no deeper below
    the skin than the belly's inner surface (the deepest pixel of its largest piece).

    The rectus runs from the pubic crest to the xiphoid and the costal cartilages 5-7, in its
    sheath beside the linea alba; above the costal margin it lies on the cartilages beneath the
    pectoralis' lowest fibres. There the wall rays, which end where no rib crosses them at the
    cage surface interpolated between the ribs (``wall.py``), stop short of the muscle lying on
    the cartilages under the pectoralis, and find only the part of it lateral to that estimate:
    the muscle continuous with that part, medially towards the linea alba, is the same strap."""
    if not (expected("pectoralis_major", level) and expected("rectus_abdominis", level)):
        return
    ang, cx = trunk_angle(x, y, body)
    skin = ndi.distance_transform_edt(body) * px
    taken = np.zeros(body.shape, bool)
    for m in out.values():
        taken |= m
    sector_end = _INNER_MIDDLE[0][2]
    eight = np.ones((3, 3), bool)
    for side, sm in (("left", x > cx), ("right", x <= cx)):
        name = f"rectus_abdominis_{side}"
        rect = out.get(name)
        if rect is None or not rect.any():
            continue
        belly = largest(rect, structure=eight)
        free = muscle & body & ~taken & sm & (ang < sector_end) & (skin <= float(skin[belly].max()))
        grown = ndi.binary_propagation(rect, structure=eight, mask=rect | free)
        out[name] = grown
        taken |= grown


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


def sheet_course(sheet: np.ndarray, muscle_sharp: np.ndarray, thick: np.ndarray,
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


def across_skin(pieces_mask: np.ndarray, body: np.ndarray, px: float, max_depth_extent_mm: float) -> np.ndarray:
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

"""The deep pectoral layer: muscle lying beneath the pectoralis major on the anterior upper chest.

At the upper thoracic levels the anterior chest wall holds two muscle layers in front of the
ribs: the pectoralis major, and beneath it, behind the clavipectoral fascia, the pectoralis minor
(from the coracoid process, at the level of the upper thoracic vertebrae in axial CT, down to its
origins on ribs 3-5). Body-composition work on chest CT measures them together as the pectoral
muscle area (e.g. at T4); spinemets' ``pectoralis_major`` group is that pectoral mass. The wall
rays of ``classic.py`` find the outer layer only: the deep one lies more than ``WALL_MAX_MM`` below
the subcutaneous fat, or beyond the outer layer, where a ray takes one sheet per layer.

Rule (T1-T5, above the rectus abdominis' origins; ``pectoral_deep_layer`` below): a piece of
muscle-window tissue (8-connected) that no group holds, off the ribs and not mostly within
``CHEST_WALL_MM`` of the lung (the intercostals on the pleura are no pectoral muscle; the
pectoralis minor may touch the pleura between the ribs), belongs to the pectoral group when most
of its outer surface looks outwards (away from the trunk's centre, as the wall rays run) onto the
pectoralis major of its side within ``DEEP_MAX_MM``: it lies beneath the pectoralis major. A
piece that looks onto the subcutaneous fat instead (a muscle lying beside the pectoralis major,
the serratus anterior on the lateral ribs) is left alone. All lengths mm; arrays are the 2-D
plane ([row, col], ``px`` mm per pixel).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .. import anatomy
from .morphology import disk, trunk_angle
from .presence import expected
from .thin_sheet import CHEST_WALL_MM, near_lung, outer_surface, pieces_on_pleura, sample_outward
from .tissue import FAT_HU

#: farthest the deep layer's outer surface lies beneath the pectoralis major (mm): the
#: clavipectoral fascia with the fat and axillary vessels around it, at most a few centimetres
#: thick; beyond that the tissue is no muscle of the chest wall's front
DEEP_MAX_MM = 30.0
#: a piece counts as beneath when more than this fraction of its outer surface sees the
#: pectoralis major outwards
BENEATH_FRACTION = 0.5
#: smallest piece taken (mm^2): the deep layer is a muscle belly, not a speck of noise in fat
MIN_PIECE_MM2 = 20.0


def off_chest_wall(pieces: np.ndarray, off_wall: np.ndarray, normal: tuple[np.ndarray, np.ndarray],
                   px: float) -> np.ndarray:
    """``pieces`` less the chest wall. The intercostal muscles lie between the ribs on the pleura,
    a layer at most ``CHEST_WALL_MM`` thick; the pectoralis minor lies on ribs 3-5 and, between
    them, on the intercostals, and may touch the pleura there with no fat plane seen between.
    A piece (8-connected) in which no disc thicker than the chest wall fits (``CHEST_WALL_MM``
    plus a pixel of partial volume on each side) keeps only its pixels off the wall
    (``off_wall``: farther than ``CHEST_WALL_MM`` from the lung); a thicker piece is a muscle lying
    on the chest wall and also keeps its pixels within the wall band under it: those from which
    the piece continues outwards (along ``-normal``, a unit field pointing inwards) without a gap
    to beyond the band."""
    eight = np.ones((3, 3), bool)
    lab, n = ndi.label(pieces, structure=eight)
    if n == 0:
        return pieces
    thick = ndi.binary_opening(pieces, structure=disk(0.5 * CHEST_WALL_MM / px + 1.0))
    has_thick = np.zeros(n + 1, bool)
    has_thick[np.unique(lab[thick])] = True
    has_thick[0] = False
    rows, cols = np.nonzero(pieces & ~off_wall & has_thick[lab])
    own = lab[rows, cols]
    alive = np.ones(len(rows), bool)
    reach = np.zeros(len(rows), bool)
    for k in np.arange(0.5, 2.0 * CHEST_WALL_MM / px + 1e-6, 0.5):
        alive &= sample_outward(lab, normal, rows, cols, k) == own
        reach |= alive & (sample_outward(off_wall, normal, rows, cols, k) > 0)
    out = pieces & off_wall
    out[rows[reach], cols[reach]] = True
    return out


def beneath_cover(pieces: np.ndarray, cover: np.ndarray, stop: np.ndarray,
                  normal: tuple[np.ndarray, np.ndarray], px: float, max_mm: float = DEEP_MAX_MM,
                  fraction: float = BENEATH_FRACTION, off_wall: np.ndarray | None = None) -> np.ndarray:
    """Pieces (8-connected) of ``pieces`` of which more than ``fraction`` of the outer surface
    pixels (those whose outward neighbour along ``-normal``, a unit field pointing inwards, lies
    outside the piece) meet ``cover``
    first, before any pixel of ``stop`` (other groups, bone, air), going outwards within ``max_mm``,
    at least ``MIN_PIECE_MM2`` in size. With ``off_wall`` (the pixels farther than
    ``CHEST_WALL_MM`` from the lung) the pieces are first cleared of the chest wall
    (``off_chest_wall``): a layer on the pleura no thicker than the chest wall is intercostal
    muscle, a thicker one holds the pectoralis minor lying on it."""
    if off_wall is not None:
        pieces = off_chest_wall(pieces, off_wall, normal, px)
    lab, n = ndi.label(pieces, structure=np.ones((3, 3), bool))
    out = np.zeros_like(pieces)
    if n == 0 or not cover.any():
        return out
    rows, cols, own = outer_surface(lab, normal)
    # 0 nothing met yet, 1 cover met first, 2 something else met first
    met = np.zeros(len(rows), np.int8)
    code = np.where(cover, 1, np.where(stop, 2, 0)).astype(np.int8)
    for k in np.arange(1.0, max_mm / px + 1e-6, 0.5):
        hit = sample_outward(code, normal, rows, cols, k)
        hit[(hit == 2) & (sample_outward(lab, normal, rows, cols, k) == own)] = 0  # its own tissue (a concave piece)
        new = (met == 0) & (hit > 0)
        met[new] = hit[new]
    frac = np.bincount(own, weights=(met == 1), minlength=n + 1) / \
        np.maximum(np.bincount(own, minlength=n + 1), 1)
    count = np.bincount(lab.ravel(), minlength=n + 1)
    ok = (frac > fraction) & (count * px * px >= MIN_PIECE_MM2)
    keep = np.nonzero(ok)[0]
    return np.isin(lab, keep[keep > 0])

#: the thick pectoralis major (the chest cap) down to T6; at T7 only its thin lowest fibres
CHEST_CAP_LAST = "T6"


def pectoral_off_rectus(out: dict[str, np.ndarray], level: str) -> None:
    """In place: below the chest cap (after ``CHEST_CAP_LAST``, where the rectus abdominis is
    present) a piece (8-connected) of the pectoralis major mask joined to the rectus abdominis of
    its side is the rectus. The pectoralis' abdominal part arises from the anterior layer of the
    rectus sheath (Gray's Anatomy, pectoral region): it lies on the sheath, superficial to it, and
    ends medially where the rectus, lying in its sheath beside the linea alba, reaches the surface
    below the sternum; the rays take that superficial rectus for the outer sheet. Where the
    pectoralis lies over the rectus without a fat plane, ``split_wall`` already gave the joined
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
    the trunk's lateral extreme; ``ang``, the plane's ``trunk_angle`` map) of the pectoralis major
    mask in ``masks``; sides without it left out. Passed to the next level down as
    ``segment_plane(pectoral_reach_deg=...)``."""
    out = {}
    for sd in ("left", "right"):
        m = masks.get(f"pectoralis_major_{sd}")
        if m is not None and m.any():
            out[sd] = float(ang[m].max())
    return out


def cap_pectoral_reach(out: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, body: np.ndarray,
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
    ang, cx = trunk_angle(x, y, body)
    for side, sm in (("left", x > cx), ("right", x <= cx)):
        name = f"pectoralis_major_{side}"
        if name in out and side in reach_deg:
            out[name] = out[name] & ~(sm & (ang > reach_deg[side]))


def pectoral_deep_layer(out: dict[str, np.ndarray], h_sharp: np.ndarray, muscle_sharp: np.ndarray,
                         body: np.ndarray, bone: np.ndarray, x: np.ndarray, y: np.ndarray, level: str,
                         px: float) -> None:
    """In place: above the rectus abdominis' origins the muscle lying beneath the pectoralis major
    of its side, off the ribs and held by no group, is added to it: the pectoralis minor under the
    clavipectoral fascia (``pectoral.py``). The pectoralis minor arises from ribs 3-5; from the
    rectus' origins on costal cartilages 5-7 down (T6-T7, ``split_wall``'s middle run) what lies
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
    _, cx = trunk_angle(x, y, body)
    eight = np.ones((3, 3), bool)
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
            out[name] &= ~pieces_on_pleura(out[name], pleura)
            continue
        # the serratus anterior does not end the look: it lies on the lateral ribs behind the
        # axilla, parted from the pectoral muscles by the clavipectoral and serratus fasciae, never
        # between the two pectoral layers; its pieces joined without a fat plane to the deep layer
        # are the deep layer's lateral end that the inner rays reached in the serratus sector
        sa_name = f"serratus_anterior_{side}"
        sa = out.get(sa_name, np.zeros_like(cand)) & sm
        deep = beneath_cover(cand & sm, out[name], stop & ~sa, normal, px, off_wall=~pleura)
        if deep.any() and sa.any():
            lab, _ = ndi.label(sa, structure=eight)
            ids = np.unique(lab[ndi.binary_dilation(deep, structure=eight) & sa])
            moved = np.isin(lab, ids[ids > 0])
            out[sa_name] = out[sa_name] & ~moved
            deep |= moved
        out[name] = out[name] | deep

"""Where an iso-dense organ touches a deep muscle of a mid-vertebral plane without a fat plane.

The liver, kidney or bowel can lie against the erector spinae, the psoas or the quadratus
lumborum with no fat between them; the watershed between their seeds then follows noise. These
rules read the organ's and the muscle's own attenuation to cut the contact. Arrays are the 2-D
plane ([row, col], ``px`` mm per pixel); lengths mm, HU smoothed as named.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .morphology import disk
from .shape import mask_box

#: an organ reached through a deep region (``split_organ_contact``, ``beyond``) is cut as a mass at
#: least this radius wide (mm): the 2 mm smoothing sigma of the HU map the cut is made on; bright
#: texture of the muscle joined to it by narrower bridges is the muscle's own
ORGAN_CORE_RADIUS_MM = 2.0
#: smallest HU tolerance around a deep group's seed attenuation (3 mm-smoothed HU)
HU_CONSISTENCY_MIN = 12.0


def split_organ_contact(regions: np.ndarray, markers: np.ndarray, hu: np.ndarray, muscle: np.ndarray,
                         h3: np.ndarray, px: float, wall: np.ndarray | None = None,
                         keep: tuple[int, ...] = (), beyond: dict[int, np.ndarray] | None = None, *, organ_id: int) -> None:
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
    smoothing (their opening with ``ORGAN_CORE_RADIUS_MM``) and cross it. ``organ_id``: the marker and
    region id of organs (viscera) in ``markers`` and ``regions``."""
    organ_seed = markers == organ_id
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
    for lab_id in np.unique(markers[(markers > 0) & (markers != organ_id)]):
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
        free = muscle[box] & ~own[box] & ((regions[box] == 0) | (regions[box] == organ_id))
        if wall is not None:  # the wall sheets are muscle, not an organ touching the region
            free &= ~wall[box]
        hit = np.unique(pieces[ndi.binary_dilation(free, structure=cross) & cand])
        hit = [k for k in hit if k > 0 and sizes[k] >= min_px]
        if hit:
            regions[box][np.isin(pieces, hit)] = organ_id
        if beyond is None or lab_id not in beyond:
            continue
        # the organ reached only through the region (beyond the compartment): its mass, wider than
        # the 2 mm smoothing (the opening of the pieces that cross the limit), that crosses the
        # limit; bright texture of the muscle joined to it by narrower bridges stays
        out_zone = beyond[lab_id][box]
        rest = np.isin(pieces, [k for k in np.unique(pieces[out_zone & cand]) if k > 0 and sizes[k] >= min_px
                                and k not in hit])
        if rest.any():
            core = ndi.binary_opening(rest, structure=disk(ORGAN_CORE_RADIUS_MM / px))
            cores, _ = ndi.label(core)
            crossing = np.unique(cores[out_zone & core])
            regions[box][np.isin(cores, crossing[crossing > 0])] = organ_id


def organ_hu_touching(markers: np.ndarray, region: np.ndarray, h3: np.ndarray, px: float, *,
                      organ_id: int) -> list[float]:
    """Median 3 mm-smoothed HU of each organ seed (marker component ``organ_id`` of at least a
    3 mm-radius disc) within 3 mm of ``region``."""
    if not region.any():
        return []
    lab, n = ndi.label(markers == organ_id)
    if n == 0:
        return []
    near = ndi.binary_dilation(region, structure=disk(3.0 / px))
    sizes = np.bincount(lab.ravel())
    ids = [k for k in np.unique(lab[near]) if k > 0 and sizes[k] >= np.pi * (3.0 / px) ** 2]
    return [float(np.median(h3[lab == k])) for k in ids]

"""CT-based structural rigidity analysis (CTRA; Snyder/Nazarian/Hipp, BIDMC).

For every slice perpendicular to the vertebra's axis (the local grid's axis 0):
``EA_i = sum_p E(rho_p) * a_p`` (N; E in MPa, a_p pixel area in mm2), E from the Morgan 2003
vertebral law (``materials.modulus_mpa``; lytic lesion voxels soft). ``EA_min`` (weakest section)
gives ``F = eps_y * EA_min`` with eps_y = 0.77 % (compressive yield strain of vertebral bone,
Morgan & Keaveny 2001), science.md §2.2.

Which slices are sections (end-plate rule): the whole axial load crosses a slice only when the
slice lies between the two end plates over the body's whole footprint; a slice that cuts an end
plate (a wedge-shaped body, a concave end plate, or an axis not perpendicular to the end plates)
is partly in the disc and its low EA is not a load-bearing section. For every footprint column
(a, l) the inferior and superior end plates are the first and last body samples along the axis;
a slice counts when it lies above every inferior and below every superior end plate of the
footprint's core, i.e. the footprint without its rim of ``rim_margin_mm`` (the same cortex +
partial-volume margin as the trabecular region, ``qct.density``: the rim's short columns are the
rounded, partial-volume edge of the body). When no slice qualifies (a crushed or strongly
wedged body) the middle third of the body's height is used and ``section_rule`` says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from . import materials
from .volume import VertebraVolume

#: share of the footprint core whose end plate may lie on the wrong side of a counted slice
#: (segmentation notches and single odd columns; 5 % of the end-plate area)
END_PLATE_TOLERANCE = 0.05
SECTION_RULE = ("CTRA minimum EA over the slices perpendicular to the axis that lie between the "
                "inferior and superior end plates over the body's footprint core (footprint minus a "
                "rim of the trabecular margin; up to 5 % of the core's end plate may lie on the wrong "
                "side); middle third of the height when no slice qualifies")
#: default rim margin (mm) when the caller gives none: cortex + end-plate zone (2 mm) + one grid step
RIM_CORTEX_MM = 2.0


@dataclass
class RigidityResult:
    strength_N: float | None
    ea_min_N: float | None
    ea_mean_N: float | None
    ea_min_position_fraction: float | None
    yield_strain: float
    slice_mm: float
    n_slices: int
    ea_profile_N: list[float] = field(default_factory=list)
    section_rule: str = "between_end_plates"
    section_range_fraction: list[float] = field(default_factory=list)
    rim_margin_mm: float | None = None
    material_law: str = materials.LAW_TEXT
    status: str = "ok"
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def section_slices(mask: np.ndarray, spacing_mm: float, rim_margin_mm: float) -> tuple[int, int, str]:
    """[lo, hi) slice indices between the end plates over the footprint core (module doc), with
    the rule used ("between_end_plates" or "mid_third_fallback")."""
    s = np.nonzero(mask.any(axis=(1, 2)))[0]
    n = s[-1] - s[0] + 1
    foot = mask.any(axis=0)
    dist = ndimage.distance_transform_edt(np.pad(foot, 1))[1:-1, 1:-1] * spacing_mm
    core = foot & (dist > rim_margin_mm)
    if core.any():
        idx = np.arange(mask.shape[0])[:, None, None]
        first = np.where(mask, idx, mask.shape[0]).min(axis=0)[core]
        last = np.where(mask, idx, -1).max(axis=0)[core]
        lo = int(np.ceil(np.percentile(first, 100.0 * (1.0 - END_PLATE_TOLERANCE))))
        hi = int(np.floor(np.percentile(last, 100.0 * END_PLATE_TOLERANCE))) + 1
        if hi > lo:
            return lo, hi, "between_end_plates"
    return s[0] + n // 3, s[0] + max(n // 3 + 1, (2 * n) // 3), "mid_third_fallback"


def rigidity_strength(volume: VertebraVolume, yield_strain: float = materials.YIELD_STRAIN,
                      rim_margin_mm: float | None = None) -> RigidityResult:
    """CTRA strength (N). ``rim_margin_mm``: the footprint rim left out of the end-plate rule;
    default ``RIM_CORTEX_MM`` + one grid step (pass the trabecular margin of the source CT)."""
    m = volume.body_mask
    s = np.nonzero(m.any(axis=(1, 2)))[0]
    h = volume.spacing_mm
    rim = RIM_CORTEX_MM + h if rim_margin_mm is None else float(rim_margin_mm)
    if s.size < 3:
        return RigidityResult(None, None, None, None, yield_strain, h, 0, status="failed",
                              reason="body shorter than three slices", rim_margin_mm=rim)
    e = materials.modulus_mpa(volume.bmd_mg_cm3, volume.lesion_class)
    ea = (e * m).sum(axis=(1, 2)) * h * h  # N per slice
    n = s[-1] - s[0] + 1
    lo, hi, rule = section_slices(m, h, rim)
    prof = ea[lo:hi]
    i = int(np.argmin(prof))
    ea_min = float(prof[i])
    return RigidityResult(yield_strain * ea_min, ea_min, float(prof.mean()),
                          (lo - s[0] + i + 0.5) / n, yield_strain, h, int(prof.size),
                          [float(v) for v in prof], rule,
                          [(lo - s[0]) / n, (hi - s[0]) / n], rim)

"""CT-based structural rigidity analysis (CTRA; Snyder/Nazarian/Hipp, BIDMC).

For every slice perpendicular to the vertebra's axis (the local grid's axis 0):
``EA_i = sum_p E(rho_p) * a_p`` (N; E in MPa, a_p pixel area in mm2), E from the Morgan 2003
vertebral law (``materials.modulus_mpa``; lytic lesion voxels soft). Slices within the end-plate
zones (outer 15 % of the height at each end) are excluded: there the slice cuts the curved
end plates and partial volume, not the load-bearing section. ``EA_min`` (weakest section) gives
``F = eps_y * EA_min`` with eps_y = 0.77 % (compressive yield strain of vertebral bone,
Morgan & Keaveny 2001), science.md §2.2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from . import materials
from .volume import VertebraVolume

END_ZONE_FRACTION = 0.15


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
    material_law: str = materials.LAW_TEXT
    status: str = "ok"
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def rigidity_strength(volume: VertebraVolume, yield_strain: float = materials.YIELD_STRAIN) -> RigidityResult:
    m = volume.body_mask
    s = np.nonzero(m.any(axis=(1, 2)))[0]
    h = volume.spacing_mm
    if s.size < 3:
        return RigidityResult(None, None, None, None, yield_strain, h, 0, status="failed",
                              reason="body shorter than three slices")
    e = materials.modulus_mpa(volume.bmd_mg_cm3, volume.lesion_class)
    ea = (e * m).sum(axis=(1, 2)) * h * h  # N per slice
    n = s[-1] - s[0] + 1
    cut = int(np.floor(END_ZONE_FRACTION * n))
    lo, hi = s[0] + cut, s[-1] + 1 - cut
    prof = ea[lo:hi]
    i = int(np.argmin(prof))
    ea_min = float(prof[i])
    return RigidityResult(yield_strain * ea_min, ea_min, float(prof.mean()), (cut + i + 0.5) / n,
                          yield_strain, h, int(prof.size), [float(v) for v in prof])

"""Strength from density x area (engineering beam theory).

``F = sigma_y(rho_app) * CSA``: the compressive yield stress (``materials.yield_stress_mpa``,
37.4*rho_app^1.39 MPa) at the mid-vertebral integral density (mean BMD of the whole
cross-section, shell included, over the middle third of the body's height) times the mean
cross-sectional area of that slab. Integral rather than trabecular density because integral
BMD predicts vertebral strength far better (cadaver R2 0.63 vs 0.17, Buckley 2007, science.md
§2) and the shell carries part of the load. This is the beam-theory
estimate of Bouxsein et al. 2006 (JBMR 21:1475, doi:10.1359/jbmr.060606: vertebral strength
from QCT trabecular vBMD and CSA); their exact coefficients were not available to us, so the
stress-density law is the one named above (stated, not fitted).

Lesions act through the density: lytic voxels count with their (low) BMD and blastic voxels
with their (high) BMD.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import materials
from .volume import VertebraVolume


@dataclass
class DensityAreaResult:
    strength_N: float | None
    bmd_mg_cm3: float | None
    apparent_density_g_cm3: float | None
    yield_stress_MPa: float | None
    csa_mm2: float | None
    law: str = ("F = sigma_y(mid-vertebral integral BMD) * CSA_mid; sigma_y = 37.4*rho_app^1.39 MPa; "
                "rho_app = BMD/0.6")
    status: str = "ok"
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _mid_slab(volume: VertebraVolume) -> slice | None:
    s = np.nonzero(volume.body_mask.any(axis=(1, 2)))[0]
    if s.size < 3:
        return None
    n = s[-1] - s[0] + 1
    return slice(s[0] + n // 3, s[0] + max(n // 3 + 1, (2 * n) // 3))


def mid_csa_mm2(volume: VertebraVolume) -> float | None:
    """Mean body cross-section (mm2) perpendicular to the axis over the middle third of its height."""
    sl = _mid_slab(volume)
    if sl is None:
        return None
    return float(volume.body_mask[sl].sum(axis=(1, 2)).mean()) * volume.spacing_mm ** 2


def mid_integral_bmd(volume: VertebraVolume) -> float | None:
    """Mean BMD (mg/cm3) of the body over the middle third of its height."""
    sl = _mid_slab(volume)
    if sl is None:
        return None
    m = volume.body_mask[sl]
    return float(volume.bmd_mg_cm3[sl][m].mean()) if m.any() else None


def density_area_strength(volume: VertebraVolume, bmd_mg_cm3: float | None = None) -> DensityAreaResult:
    """Strength (N) from the mid-vertebral integral BMD (or the given BMD) and the mid CSA."""
    csa = mid_csa_mm2(volume)
    bmd = mid_integral_bmd(volume) if bmd_mg_cm3 is None else bmd_mg_cm3
    if csa is None or bmd is None:
        return DensityAreaResult(None, bmd, None, None, csa, status="failed",
                                 reason="no mid-vertebral cross-section")
    rho = float(materials.apparent_density_g_cm3(bmd))
    sig = float(materials.yield_stress_mpa(bmd))
    return DensityAreaResult(sig * csa, float(bmd), rho, sig, csa)

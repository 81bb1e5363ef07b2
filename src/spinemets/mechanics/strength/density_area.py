"""Strength from density x area (engineering beam theory).

``F = sigma_y(rho_app) * CSA``: the compressive yield stress of the body's bone at its
trabecular density (``materials.yield_stress_mpa``, 37.4*rho_app^1.39 MPa) times the mean
cross-sectional area of the mid-vertebral third of the body. This is the beam-theory
estimate of Bouxsein et al. 2006 (JBMR 21:1475, doi:10.1359/jbmr.060606: vertebral strength
from QCT trabecular vBMD and CSA); their exact coefficients were not available to us, so the
stress-density law is the one named above (stated, not fitted).

Lesions act through the density: the density is the mean BMD of the body's trabecular region,
where lytic voxels count with their (low) BMD and blastic voxels with their (high) BMD.
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
    law: str = "F = sigma_y * CSA_mid; sigma_y = 37.4*rho_app^1.39 MPa; rho_app = BMD/0.6"
    status: str = "ok"
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def mid_csa_mm2(volume: VertebraVolume) -> float | None:
    """Mean body cross-section (mm2) perpendicular to the axis over the middle third of its height."""
    m = volume.body_mask
    s = np.nonzero(m.any(axis=(1, 2)))[0]
    if s.size < 3:
        return None
    n = s[-1] - s[0] + 1
    lo, hi = s[0] + n // 3, s[0] + max(n // 3 + 1, (2 * n) // 3)
    return float(m[lo:hi].sum(axis=(1, 2)).mean()) * volume.spacing_mm ** 2


def density_area_strength(volume: VertebraVolume, trabecular_bmd_mg_cm3: float | None,
                          lesion_bmd_mg_cm3: float | None = None) -> DensityAreaResult:
    """Strength (N) from the trabecular BMD (mg/cm3 K2HPO4) and the mid-vertebral CSA."""
    csa = mid_csa_mm2(volume)
    bmd = trabecular_bmd_mg_cm3
    if csa is None or bmd is None:
        return DensityAreaResult(None, bmd, None, None, csa, status="failed",
                                 reason="no trabecular BMD or cross-section")
    rho = float(materials.apparent_density_g_cm3(bmd))
    sig = float(materials.yield_stress_mpa(bmd))
    return DensityAreaResult(sig * csa, float(bmd), rho, sig, csa)

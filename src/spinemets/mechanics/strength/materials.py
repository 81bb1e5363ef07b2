"""Material laws for vertebral bone: QCT density -> apparent density -> modulus, yield.

Units: BMD in mg/cm3 K2HPO4-equivalent; densities in g/cm3; moduli and stresses in MPa;
strains dimensionless.

Density conversion (stated assumption):

* ``rho_ash = BMD_K2HPO4`` (g/cm3). K2HPO4-equivalent and ash density are treated as equal.
  Published K2HPO4->ash relations differ between sites, phantoms and scanners; this choice
  keeps lytic (BMD ~ 0) tissue soft and, combined with the ash fraction below, agrees with the
  linear vertebral QCT law of Crawford/Kopperdahl (E = -34.7 + 3230*rho_QCT MPa, science.md
  §2.2) within 12 % over 80-120 mg/cm3 (typical trabecular range); above it the power law is
  stiffer (+25 % at 160, +56 % at 250 mg/cm3). Checked in tests/test_strength_models.py.
* ``rho_app = rho_ash / 0.6`` (ash fraction of wet apparent density ~0.6; Keyak 1994,
  Morgan 2003 specimens; science.md §2.2).

Modulus: Morgan, Bayraktar & Keaveny 2003 (J Biomech 36:897) vertebral law
``E = 4730 * rho_app**1.56`` MPa, used for the whole body (cortex included, homogenised).
Yield stress (compression): ``sigma_y = 37.4 * rho_app**1.39`` MPa (as used in the Bonelab
spineFE benchmark notebook, science.md §2.3).
Yield strain: 0.77 % (Morgan & Keaveny 2001, vertebral trabecular bone, compression).
"""

from __future__ import annotations

import numpy as np

ASH_FRACTION = 0.6
MORGAN_VERTEBRA_COEF_MPA = 4730.0
MORGAN_VERTEBRA_EXP = 1.56
YIELD_STRESS_COEF_MPA = 37.4
YIELD_STRESS_EXP = 1.39
YIELD_STRAIN = 0.0077
POISSON = 0.3
#: floor for soft tissue (marrow / lytic tumour), MPa; keeps the FE system well posed
E_MIN_MPA = 1.0
#: lytic lesion tissue is capped at this modulus (soft tumour tissue), MPa
E_LYTIC_MAX_MPA = 5.0
#: apparent density ceiling (compact bone), g/cm3
RHO_APP_MAX = 1.9
PMMA_E_MPA = 2500.0
LAW_TEXT = ("E = 4730*rho_app^1.56 MPa (Morgan 2003, vertebra); rho_app = rho_ash/0.6; "
            "rho_ash = BMD_K2HPO4 (g/cm3)")


def apparent_density_g_cm3(bmd_mg_cm3: np.ndarray | float) -> np.ndarray:
    """K2HPO4-equivalent BMD (mg/cm3) -> wet apparent density (g/cm3), clipped to [0, 1.9]."""
    rho_ash = np.asarray(bmd_mg_cm3, dtype=float) / 1000.0
    return np.clip(rho_ash / ASH_FRACTION, 0.0, RHO_APP_MAX)


def modulus_mpa(bmd_mg_cm3: np.ndarray | float, lesion_class: np.ndarray | None = None) -> np.ndarray:
    """Young's modulus (MPa) from BMD with the Morgan 2003 vertebral law.

    ``lesion_class`` (same shape, 0 none, 1 lytic, 2 blastic, 3 mixed): lytic voxels are capped
    at ``E_LYTIC_MAX_MPA`` (soft tumour tissue); blastic and mixed voxels keep their
    density-derived (high) modulus.
    """
    e = MORGAN_VERTEBRA_COEF_MPA * apparent_density_g_cm3(bmd_mg_cm3) ** MORGAN_VERTEBRA_EXP
    e = np.maximum(e, E_MIN_MPA)
    if lesion_class is not None:
        lytic = np.asarray(lesion_class) == 1
        e = np.where(lytic, np.minimum(e, E_LYTIC_MAX_MPA), e)
    return e


def yield_stress_mpa(bmd_mg_cm3: np.ndarray | float) -> np.ndarray:
    """Compressive yield stress (MPa) from BMD: 37.4*rho_app^1.39."""
    return YIELD_STRESS_COEF_MPA * apparent_density_g_cm3(bmd_mg_cm3) ** YIELD_STRESS_EXP


def kopperdahl_modulus_mpa(bmd_mg_cm3: np.ndarray | float) -> np.ndarray:
    """Crawford/Kopperdahl linear QCT law E = -34.7 + 3230*rho_QCT (g/cm3), for cross-checks."""
    return -34.7 + 3230.0 * np.asarray(bmd_mg_cm3, dtype=float) / 1000.0

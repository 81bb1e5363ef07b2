"""NIST X-ray mass attenuation coefficients (cm2/g) of the reference materials, 10-200 keV.

Values: Hubbell & Seltzer, NIST Standard Reference Database 126, Table 4 (ICRU-44 adipose
tissue, dry air near sea level, whole blood, cortical bone, skeletal muscle, liquid water;
https://physics.nist.gov/PhysRefData/XrayMassCoef/tab4.html) and XCOM mixtures for K2HPO4,
calcium hydroxyapatite and triglyceride (C55H98O6), as tabulated in Bonelab Ogo
(ogo/dat/MassAttenuationTables.py, which cites the same NIST sources). Only the grid points from
10 to 200 keV are kept (no absorption edges in that range). Between grid points the curves are
interpolated linearly in energy, as in the Michalski 2020 / Ogo implementation.

ICRU-44 nominal densities (g/cm3) are used for the tissues' K2HPO4-equivalent values.
"""

from __future__ import annotations

import numpy as np

ENERGY_KEV = np.array([10, 15, 20, 30, 40, 50, 60, 80, 100, 150, 200], dtype=float)

MASS_ATTENUATION_CM2_G: dict[str, np.ndarray] = {
    "adipose": np.array([3.268, 1.083, 0.5677, 0.3063, 0.2396, 0.2123, 0.1974, 0.1800, 0.1688, 0.1500, 0.1368]),
    "air": np.array([5.120, 1.614, 0.7779, 0.3538, 0.2485, 0.2080, 0.1875, 0.1662, 0.1541, 0.1356, 0.1233]),
    "blood": np.array([5.519, 1.744, 0.8428, 0.3852, 0.2715, 0.2278, 0.2057, 0.1827, 0.1695, 0.1492, 0.1358]),
    "cortical_bone": np.array([28.51, 9.032, 4.001, 1.331, 0.6655, 0.4242, 0.3148, 0.2229, 0.1855, 0.1480, 0.1309]),
    "muscle": np.array([5.356, 1.693, 0.8205, 0.3783, 0.2685, 0.2262, 0.2048, 0.1823, 0.1693, 0.1492, 0.1358]),
    "k2hpo4": np.array([44.87, 14.11, 6.180, 1.975, 0.9327, 0.5573, 0.3890, 0.2508, 0.1972, 0.1480, 0.1283]),
    "cha": np.array([47.20, 14.94, 6.560, 2.099, 0.9877, 0.5867, 0.4067, 0.2589, 0.2019, 0.1501, 0.1297]),
    "triglyceride": np.array([2.545, 0.8731, 0.4811, 0.2815, 0.2293, 0.2072, 0.1945, 0.1789, 0.1683, 0.1499, 0.1369]),
    "water": np.array([5.329, 1.673, 0.8096, 0.3756, 0.2683, 0.2269, 0.2059, 0.1837, 0.1707, 0.1505, 0.1370]),
}

#: ICRU-44 nominal mass densities (g/cm3)
ICRU44_DENSITY_G_CM3: dict[str, float] = {
    "adipose": 0.95, "air": 0.001205, "blood": 1.06, "cortical_bone": 1.92, "muscle": 1.05,
    "water": 1.0,
}

#: the reference tissues sampled in a scan
TISSUES = ("air", "adipose", "blood", "muscle", "cortical_bone")


def mass_attenuation(material: str, energy_kev: float | np.ndarray) -> np.ndarray:
    """Mass attenuation coefficient (cm2/g) of ``material`` at ``energy_kev`` (10-200 keV)."""
    e = np.asarray(energy_kev, dtype=float)
    if np.any(e < ENERGY_KEV[0]) or np.any(e > ENERGY_KEV[-1]):
        raise ValueError("energy outside the tabulated 10-200 keV")
    return np.interp(e, ENERGY_KEV, MASS_ATTENUATION_CM2_G[material])


def ideal_hu(material: str, energy_kev: float, density_g_cm3: float | None = None) -> float:
    """HU of a material of given density at a monoenergetic effective energy (for checks)."""
    rho = ICRU44_DENSITY_G_CM3[material] if density_g_cm3 is None else density_g_cm3
    mu = mass_attenuation(material, energy_kev) * rho
    mu_w = mass_attenuation("water", energy_kev) * 1.0
    return float(1000.0 * (mu - mu_w) / mu_w)

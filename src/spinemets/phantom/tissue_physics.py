"""HU of the phantom's reference tissues from X-ray attenuation physics.

The scanner is modelled as monoenergetic at an effective energy ``E`` (drawn per seed, 62-73 keV
for 120 kVp) and water-calibrated: ``HU = 1000*(mu - mu_water)/mu_water`` with
``mu = rho*(mu/rho)(E)`` from the NIST tables of :mod:`spinemets.physics.attenuation` (ICRU-44
compositions). At 62-73 keV this gives adipose -88..-77 HU (the VerSe example's sample: -83 HU),
lean muscle ~44 HU, air -999 HU, and a K2HPO4 solution slope of 1.43-1.15 HU per mg/cm3 (the
range of 120 kVp phantom calibrations). A monoenergetic model cannot match both: real 120 kVp
fat is often -100 HU, which ICRU-44 adipose reaches only near 55 keV where K2HPO4 would give
1.8 HU per mg/cm3; the phantom keeps the K2HPO4 slope realistic and fat at the lean end.

What is scanner and what is biology:

* scanner: ``E`` only (no HU offset: water is 0 HU);
* adipose: ICRU-44 adipose, 0.95 g/cm3;
* blood: plasma (1.025 g/cm3) + red cells (1.10 g/cm3) at the subject's haematocrit, ICRU-44
  blood composition; haematocrit drawn per subject (women 0.36-0.44, men 0.40-0.48);
* muscle: ICRU-44 skeletal muscle (1.05 g/cm3) with a diffuse adipose infiltration volume
  fraction rising with age and higher in women (about -4 HU for women, -0.25 HU/year;
  science.md 6); the fatty streaks of :func:`.scanner.form_ct` come on top;
* cortical shell: the painted vertebral/rib cortex is a 0.7 volume fraction of ICRU-44 cortical
  bone (1.92 g/cm3) in water-equivalent tissue (thin porous shell, partial volume);
* trabecular bone and calibration rods: K2HPO4 dissolved in water (the definition of QCT's
  K2HPO4-equivalent BMD): ``mu = mu_w*(1 - c/2.44) + mu_K2HPO4*c`` for ``c`` g/cm3, so
  ``HU = 1000*c*((mu/rho)_K/(mu/rho)_w - 1/2.44)``, a line through 0 HU at 0 mg/cm3.

Other painted materials (CSF, disc, organs, lung, table, resin, rib marrow) keep fixed design
values; they are not calibration references.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..physics.attenuation import ICRU44_DENSITY_G_CM3, mass_attenuation

#: effective energy of a 120 kVp beam for the phantom's scanner (keV)
EFFECTIVE_ENERGY_KEV_RANGE = (62.0, 73.0)
K2HPO4_CRYSTAL_DENSITY_G_CM3 = 2.44
PLASMA_DENSITY_G_CM3 = 1.025
RED_CELL_DENSITY_G_CM3 = 1.10
CORTICAL_SHELL_BONE_FRACTION = 0.7

#: fixed design HU of the painted materials that are not calibration references (unenhanced)
FIXED_TISSUE_HU = {"csf": 12.0, "disc": 85.0, "lung": -860.0, "liver": 58.0, "spleen": 48.0,
                   "kidney": 32.0, "heart": 42.0, "bowel": 30.0, "soft_tissue": 40.0, "table_shell": 250.0,
                   "table_foam": -920.0, "resin": 5.0, "rib_marrow": 220.0}


def hematocrit_from_draw(sex: str, u: float) -> float:
    """Haematocrit (fraction) from a uniform draw ``u`` in [-1, 1]: 0.40 +- 0.04 (F), 0.44 +- 0.04 (M)."""
    return round((0.40 if sex == "F" else 0.44) + 0.04 * float(np.clip(u, -1.0, 1.0)), 4)


def muscle_fat_fraction(sex: str, age_years: float) -> float:
    """Diffuse adipose volume fraction of skeletal muscle (0-0.2)."""
    return float(np.clip(0.0019 * (age_years - 45.0) + (0.03 if sex == "F" else 0.0), 0.0, 0.2))


def hu_of(material: str, energy_kev: float, density_g_cm3: float | None = None) -> float:
    """HU of a NIST/ICRU-44 material at ``energy_kev`` (density default: ICRU-44 nominal)."""
    rho = ICRU44_DENSITY_G_CM3[material] if density_g_cm3 is None else density_g_cm3
    mu = rho * float(mass_attenuation(material, energy_kev))
    mu_w = float(mass_attenuation("water", energy_kev))
    return 1000.0 * (mu - mu_w) / mu_w


def k2hpo4_solution_hu_per_mg_cm3(energy_kev: float) -> float:
    """HU per mg/cm3 of K2HPO4 dissolved in water at ``energy_kev``."""
    ratio = float(mass_attenuation("k2hpo4", energy_kev) / mass_attenuation("water", energy_kev))
    return ratio - 1.0 / K2HPO4_CRYSTAL_DENSITY_G_CM3


@dataclass(frozen=True)
class TissuePhysics:
    """Scanner effective energy plus the subject's tissue composition; every HU follows."""

    effective_energy_kev: float
    sex: str
    age_years: float
    hematocrit: float

    @property
    def blood_density_g_cm3(self) -> float:
        return PLASMA_DENSITY_G_CM3 + self.hematocrit * (RED_CELL_DENSITY_G_CM3 - PLASMA_DENSITY_G_CM3)

    @property
    def muscle_fat_fraction(self) -> float:
        return muscle_fat_fraction(self.sex, self.age_years)

    @property
    def hu_per_mg_cm3(self) -> float:
        return k2hpo4_solution_hu_per_mg_cm3(self.effective_energy_kev)

    @property
    def hu_intercept(self) -> float:
        return 0.0

    def reference_hu(self) -> dict[str, float]:
        """HU of the reference tissues: air, water, fat, lean muscle, muscle, blood, cortical bone
        (full density) and the painted cortical shell."""
        e = self.effective_energy_kev
        fat = hu_of("adipose", e)
        lean = hu_of("muscle", e)
        cort = hu_of("cortical_bone", e)
        f = self.muscle_fat_fraction
        return {"air": hu_of("air", e), "water": 0.0, "fat": fat, "muscle_lean": lean,
                "muscle": (1.0 - f) * lean + f * fat,
                "blood": hu_of("blood", e, self.blood_density_g_cm3),
                "cortical_bone_full_density": cort,
                "cortical_bone": CORTICAL_SHELL_BONE_FRACTION * cort}

    def tissue_hu(self) -> dict[str, float]:
        """All painted materials' design HU (physics-derived references + fixed others)."""
        ref = self.reference_hu()
        out = dict(FIXED_TISSUE_HU)
        out.update({k: float(round(v, 2)) for k, v in ref.items()})
        return out

    def to_dict(self) -> dict[str, float | str]:
        return {"effective_energy_kev": self.effective_energy_kev, "hematocrit": self.hematocrit,
                "blood_density_g_cm3": round(self.blood_density_g_cm3, 5),
                "muscle_fat_fraction": round(self.muscle_fat_fraction, 4),
                "cortical_shell_bone_fraction": CORTICAL_SHELL_BONE_FRACTION,
                "model": "monoenergetic, water-calibrated; NIST mu/rho of ICRU-44 tissues (spinemets.physics)"}

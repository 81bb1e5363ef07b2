"""HU -> BMD calibration (mg/cm3 K2HPO4-equivalent).

Methods (``Calibration.method``):

* ``phantom``: linear least-squares fit over calibration rods of known K2HPO4 density,
  ``BMD = slope*HU + intercept``; ``r2`` of HU on density.
* ``phantomless_physics``: Michalski et al. 2020 (Med Eng Phys, doi:10.1016/j.medengphy.2020.01.009)
  internal calibration as described in science.md §1.2: effective energy E* maximising R2 of
  the tissues' HU vs NIST mass attenuation; ``(mu/rho)(HU) = a*HU + b`` and
  ``rho(HU) = c*HU + d`` (Archimedean density from ``mu = mu_water*(1 + HU/1000)``); per voxel a
  K2HPO4 + triglyceride two-material decomposition
  ``BMD = 1000*rho(HU)*((mu/rho)(HU) - mu_TG)/(mu_K2HPO4 - mu_TG)``. The map is quadratic in
  HU; ``slope``/``intercept`` report its least-squares line over 0-400 HU (trabecular range).
* ``phantomless_energy_fit``: when no cortical-bone sample exists (the usual case at clinical
  resolution), the effective energy is fitted to the soft-tissue samples alone
  (``energy_fit_internal``): a water-calibrated monoenergetic scanner model predicts each tissue's
  HU from its ICRU-44 density and NIST mu/rho, ``HU(E) = 1000*(rho*(mu/rho)(E)/(mu/rho)_w(E) - 1)``,
  and E minimises the weighted squared residuals of adipose, blood and muscle (adipose carries the
  information: about -1 HU/keV at 60-80 keV; blood and muscle change < 0.2 HU/keV and check the
  fit). BMD is then the K2HPO4-in-water law at E (``BMD = HU/(dHU/dc)``), with a 1-sigma
  uncertainty of E and of the slope reported.
* ``phantomless_linear``: fallback when the energy fit is poor or impossible (no adipose sample):
  K2HPO4-in-water model at a nominal effective energy (70 keV for 120 kVp), HU gain checked with
  air (``linear_internal``).
* ``fixed_law``: a user-given scanner law (default the Alkalay-lab default 0.7*HU + 5.1),
  always with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ..physics import attenuation as att

NOMINAL_EFFECTIVE_ENERGY_KEV = 95.0
#: energies searched for E* (keV), 0.5 keV steps as in Ogo
ENERGY_GRID_KEV = np.arange(20.0, 200.0 + 1e-9, 0.5)
LINEARISATION_HU = (0.0, 400.0)
DEFAULT_FIXED_LAW = (0.7, 5.1)


@dataclass
class Calibration:
    """A HU -> BMD map. ``bmd(hu)`` applies it; ``to_dict()`` is bone.json's ``calibration``."""

    method: str
    slope_mg_cm3_per_hu: float
    intercept_mg_cm3: float
    r2: float | None = None
    samples: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    physics: dict[str, float] | None = None
    material: str = "K2HPO4"

    def bmd(self, hu: np.ndarray | float) -> np.ndarray:
        """BMD (mg/cm3 K2HPO4) of HU values."""
        h = np.asarray(hu, dtype=float)
        if self.physics is not None:
            p = self.physics
            mu_rho = p["mu_rho_slope"] * h + p["mu_rho_intercept"]
            rho = p["density_slope_g_cm3_per_hu"] * h + p["density_intercept_g_cm3"]
            return 1000.0 * rho * (mu_rho - p["mu_rho_triglyceride"]) / (
                p["mu_rho_k2hpo4"] - p["mu_rho_triglyceride"])
        return self.slope_mg_cm3_per_hu * h + self.intercept_mg_cm3

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "method": self.method, "material": self.material,
            "slope_mg_cm3_per_hu": self.slope_mg_cm3_per_hu,
            "intercept_mg_cm3": self.intercept_mg_cm3, "r2": self.r2,
            "samples": self.samples, "warnings": list(self.warnings),
        }
        if self.physics is not None:
            d["physics"] = dict(self.physics)
            d["linearised_over_hu"] = list(LINEARISATION_HU)
        return d


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3:
        return 1.0
    r = np.corrcoef(x, y)[0, 1]
    return float(r * r)


def from_rods(rod_hu: list[float], rod_density_mg_cm3: list[float],
              samples: dict[str, Any] | None = None) -> Calibration:
    """Phantom calibration: linear fit of BMD on HU over rods (at least 2)."""
    hu = np.asarray(rod_hu, float)
    rho = np.asarray(rod_density_mg_cm3, float)
    if hu.size < 2 or hu.size != rho.size:
        raise ValueError("phantom calibration needs at least two rods with known density")
    slope, intercept = np.polyfit(hu, rho, 1)
    warnings = []
    r2 = _r2(hu, rho)
    if r2 < 0.98:
        warnings.append(f"phantom fit R2 = {r2:.3f} is below 0.98; check the rods")
    s = {"rods": [{"hu_mean": float(h), "density_mg_cm3": float(r)} for h, r in zip(hu, rho)]}
    s.update(samples or {})
    return Calibration("phantom", float(slope), float(intercept), r2, s, warnings)


def fixed_law(slope: float = DEFAULT_FIXED_LAW[0], intercept: float = DEFAULT_FIXED_LAW[1]) -> Calibration:
    """A fixed scanner law ``BMD = slope*HU + intercept`` (always flagged)."""
    return Calibration("fixed_law", float(slope), float(intercept), None, {},
                       [f"fixed scanner law BMD = {slope:g}*HU + {intercept:g} mg/cm3 used without "
                        "any calibration of this scan; absolute BMD and strength may be biased"])


def _k2hpo4_equivalent_g_cm3(material: str, energy_kev: float) -> float:
    mu_t = float(att.mass_attenuation(material, energy_kev))
    mu_tg = float(att.mass_attenuation("triglyceride", energy_kev))
    mu_k = float(att.mass_attenuation("k2hpo4", energy_kev))
    return att.ICRU44_DENSITY_G_CM3[material] * (mu_t - mu_tg) / (mu_k - mu_tg)


def physics_internal(tissue_hu: Mapping[str, float], samples: dict[str, Any] | None = None) -> Calibration:
    """Michalski/Ogo physics-based internal calibration from >= 3 tissues' mean HU."""
    names = [t for t in att.TISSUES if tissue_hu.get(t) is not None]
    if len(names) < 3:
        raise ValueError("physics-based internal calibration needs at least three tissues")
    hu = np.array([tissue_hu[t] for t in names], float)
    best_e, best_r2 = None, -np.inf
    for e in ENERGY_GRID_KEV:
        mu = np.array([att.mass_attenuation(t, e) for t in names])
        r2 = _r2(hu, mu)
        if r2 > best_r2:
            best_e, best_r2 = float(e), r2
    assert best_e is not None
    mu = np.array([float(att.mass_attenuation(t, best_e)) for t in names])
    a, b = np.polyfit(hu, mu, 1)
    mu_w = float(att.mass_attenuation("water", best_e))
    arch = mu_w * (1.0 + hu / 1000.0) / mu
    c, d = np.polyfit(hu, arch, 1)
    physics = {
        "effective_energy_kev": best_e, "energy_r2": float(best_r2),
        "mu_rho_slope": float(a), "mu_rho_intercept": float(b),
        "density_slope_g_cm3_per_hu": float(c), "density_intercept_g_cm3": float(d),
        "density_r2": _r2(hu, arch),
        "mu_rho_k2hpo4": float(att.mass_attenuation("k2hpo4", best_e)),
        "mu_rho_triglyceride": float(att.mass_attenuation("triglyceride", best_e)),
        "mu_rho_water": mu_w,
    }
    cal = Calibration("phantomless_physics", 0.0, 0.0, float(best_r2),
                      {"tissue_hu": {t: float(tissue_hu[t]) for t in names}, **(samples or {})},
                      [], physics)
    hh = np.linspace(*LINEARISATION_HU, 81)
    cal.slope_mg_cm3_per_hu, cal.intercept_mg_cm3 = (float(v) for v in np.polyfit(hh, cal.bmd(hh), 1))
    if best_r2 < 0.99:
        cal.warnings.append(f"internal calibration R2 = {best_r2:.3f} at E* = {best_e:g} keV "
                            "is below 0.99 (science.md §7); tissue samples may be unreliable")
    return cal


#: expected spread (HU) of each soft tissue's mean around its ICRU-44 value at the right energy:
#: composition (adipose water content; haematocrit; diffuse fat in muscle, which lowers its HU)
#: and sampling. Adipose is the energy-sensitive reference.
ENERGY_FIT_SIGMA_HU = {"adipose": 5.0, "blood": 10.0, "muscle": 10.0}
ENERGY_FIT_GRID_KEV = np.arange(40.0, 140.0 + 1e-9, 0.1)
#: a fit is poor when a tissue is off by more than this many sigmas or E sits on the grid edge
ENERGY_FIT_MAX_Z = 3.0
#: plausible effective energy as a fraction of the tube voltage: a filtered clinical spectrum
#: hardened by the patient has its mean near 0.5-0.6 x kVp (120 kVp: 54-80 keV); a fitted energy
#: outside means the tissues do not follow the ICRU-44 monoenergetic model (e.g. in vivo adipose
#: leaner in water than ICRU-44, or a polychromatic beam) and the fit is rejected
PLAUSIBLE_ENERGY_PER_KVP = (0.45, 0.667)
NOMINAL_KVP = 120.0


def energy_fit_internal(tissue_hu: Mapping[str, float | None],
                        samples: dict[str, Any] | None = None, kvp: float | None = None) -> Calibration:
    """Phantomless calibration by the effective energy fitted to soft tissues (see module doc).

    Needs adipose and at least one of blood/muscle (the check). Air and cortical bone are not fitted
    (air's HU is set by the scanner's air calibration and outside-body artefacts; cortical samples
    are partial-volumed), they are reported. ``r2`` is not defined for this fit (None); the fit
    quality is ``samples['energy_fit']``: residuals (HU and sigmas), chi2 per degree of freedom,
    E and its 1-sigma interval, the slope's relative uncertainty, and ``poor`` (bool).
    """
    names = [t for t in ("adipose", "blood", "muscle") if tissue_hu.get(t) is not None]
    if "adipose" not in names or len(names) < 2:
        raise ValueError("the energy fit needs an adipose sample and a blood or muscle sample")
    meas = np.array([float(tissue_hu[t]) for t in names])  # type: ignore[arg-type]
    sig = np.array([ENERGY_FIT_SIGMA_HU[t] for t in names])
    grid = ENERGY_FIT_GRID_KEV
    mat = {"adipose": "adipose", "blood": "blood", "muscle": "muscle"}
    pred = np.array([[att.ideal_hu(mat[t], float(e)) for t in names] for e in grid])
    chi2 = (((meas[None, :] - pred) / sig[None, :]) ** 2).sum(axis=1)
    i = int(np.argmin(chi2))
    e_fit = float(grid[i])
    inside = np.nonzero(chi2 <= chi2[i] + 1.0)[0]
    e_lo, e_hi = float(grid[inside.min()]), float(grid[inside.max()])
    resid = meas - pred[i]
    z = resid / sig
    on_edge = i in (0, len(grid) - 1)
    kv = float(kvp) if kvp else NOMINAL_KVP
    e_range = (PLAUSIBLE_ENERGY_PER_KVP[0] * kv, PLAUSIBLE_ENERGY_PER_KVP[1] * kv)
    implausible = not (e_range[0] <= e_fit <= e_range[1])
    poor = bool(on_edge or implausible or np.max(np.abs(z)) > ENERGY_FIT_MAX_Z)
    per_mg = k2hpo4_solution_hu_per_mg(e_fit)
    rel = max(abs(k2hpo4_solution_hu_per_mg(e_lo) / per_mg - 1.0), abs(k2hpo4_solution_hu_per_mg(e_hi) / per_mg - 1.0))
    fit = {"effective_energy_kev": round(e_fit, 2), "effective_energy_1sigma_kev": [round(e_lo, 2), round(e_hi, 2)],
           "tissues": names, "sigma_hu": {t: float(v) for t, v in zip(names, sig)},
           "predicted_hu": {t: round(float(v), 1) for t, v in zip(names, pred[i])},
           "residual_hu": {t: round(float(v), 1) for t, v in zip(names, resid)},
           "residual_sigmas": {t: round(float(v), 2) for t, v in zip(names, z)},
           "chi2_per_dof": round(float(chi2[i]) / max(len(names) - 1, 1), 3),
           "slope_relative_uncertainty": round(float(rel), 4), "poor": poor,
           "plausible_energy_kev": [round(e_range[0], 1), round(e_range[1], 1)],
           "kvp": kv, "kvp_assumed": not kvp,
           "k2hpo4_solution_hu_per_mg_cm3": per_mg}
    s = {"tissue_hu": {t: float(v) for t, v in tissue_hu.items() if v is not None}, "energy_fit": fit,
         **(samples or {})}
    warnings = [f"phantomless calibration: effective energy {e_fit:.1f} keV fitted to "
                f"{', '.join(names)} (1-sigma {e_lo:.1f}-{e_hi:.1f} keV, slope uncertainty "
                f"{100 * rel:.0f} %); K2HPO4-in-water law at that energy"]
    if poor:
        warnings.append(f"energy fit is poor (residuals in sigmas {fit['residual_sigmas']}"
                        + (", energy at the edge of the search range" if on_edge else "")
                        + (f", {e_fit:.1f} keV outside the plausible {e_range[0]:.0f}-{e_range[1]:.0f} keV "
                           f"for {kv:g} kVp" if implausible else "") + ")")
    return Calibration("phantomless_energy_fit", float(1.0 / per_mg), 0.0, None, s, warnings)


K2HPO4_DENSITY_G_CM3 = 2.44  # crystalline K2HPO4, for the volume it displaces in solution
NOMINAL_SOLUTION_ENERGY_KEV = 70.0


def k2hpo4_solution_hu_per_mg(energy_kev: float = NOMINAL_SOLUTION_ENERGY_KEV) -> float:
    """HU per mg/cm3 of K2HPO4 dissolved in water (the material of QCT reference phantoms).

    ``mu = mu_w*(1 - c/2.44) + mu_K*c`` for ``c`` g/cm3 K2HPO4, so
    ``dHU/dc = 1000*((mu/rho)_K/(mu/rho)_w - 1/2.44)`` per g/cm3 (NIST mu/rho at ``energy_kev``)."""
    ratio = float(att.mass_attenuation("k2hpo4", energy_kev) / att.mass_attenuation("water", energy_kev))
    return ratio - 1.0 / K2HPO4_DENSITY_G_CM3


def linear_internal(tissue_hu: Mapping[str, float], energy_kev: float = NOMINAL_SOLUTION_ENERGY_KEV,
                    samples: dict[str, Any] | None = None) -> Calibration:
    """Linear internal calibration (fallback when the physics fit is not identifiable).

    Model: trabecular bone as K2HPO4 in water (the definition of a K2HPO4 reference phantom),
    at a nominal effective energy of 70 keV for 120 kVp; water at 0 HU (scanner water
    calibration) and the HU gain checked by air: ``HU_corr = 1000*HU/(-HU_air)``.
    ``BMD = HU_corr / (dHU/dc)``. Other sampled tissues are reported, not fitted (their HU
    depends on composition more than on the scanner).
    """
    air = tissue_hu.get("air")
    if air is None or not (-1100.0 < air < -850.0):
        raise ValueError("linear internal calibration needs an air sample between -1100 and -850 HU")
    gain = -air / 1000.0
    per_mg = k2hpo4_solution_hu_per_mg(energy_kev)
    slope = 1.0 / (gain * per_mg)
    s = {"tissue_hu": {t: float(v) for t, v in tissue_hu.items() if v is not None},
         "hu_gain_from_air": gain, "k2hpo4_solution_hu_per_mg_cm3": per_mg,
         "nominal_effective_energy_kev": energy_kev, **(samples or {})}
    return Calibration("phantomless_linear", float(slope), 0.0, None, s,
                       [f"linear internal calibration (K2HPO4-in-water model at a nominal {energy_kev:g} keV, "
                        "HU gain from air); expect errors of 10-20 % against phantom calibration"])

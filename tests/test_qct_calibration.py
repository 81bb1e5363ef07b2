"""HU -> BMD calibration: published internal-calibration example, rods, fixed law, fallback."""

from __future__ import annotations

import numpy as np
import pytest

from spinemets.physics import attenuation as att
from spinemets.qct.calibration import (energy_fit_internal, fixed_law, from_rods, k2hpo4_solution_hu_per_mg,
                                       linear_internal, physics_internal)

#: Bonelab spineFE-benchmark, VerSe sub-verse004 calibration file (science.md §1.2)
VERSE004 = {"adipose": -82.6, "air": -956.8, "blood": 39.2, "cortical_bone": 1226.0, "muscle": 24.6}


def test_physics_internal_reproduces_the_published_example():
    cal = physics_internal(VERSE004)
    p = cal.physics
    assert p["effective_energy_kev"] == pytest.approx(97.0, abs=1.0)
    assert cal.r2 == pytest.approx(0.999, abs=0.001)
    assert p["density_slope_g_cm3_per_hu"] == pytest.approx(0.000893, rel=0.01)
    assert p["density_intercept_g_cm3"] == pytest.approx(0.9687, abs=0.002)
    assert p["mu_rho_k2hpo4"] == pytest.approx(0.205, abs=0.001)
    assert p["mu_rho_triglyceride"] == pytest.approx(0.170, abs=0.001)
    # within the trabecular range the map is close to the 120 kVp magnitude (0.6-0.8 mg/cm3/HU)
    assert 0.55 < cal.slope_mg_cm3_per_hu < 0.85
    assert cal.to_dict()["method"] == "phantomless_physics"


def test_nist_tables_give_sensible_ideal_hu():
    assert att.ideal_hu("water", 70) == pytest.approx(0.0)
    assert att.ideal_hu("air", 70) == pytest.approx(-999, abs=1)
    assert -120 < att.ideal_hu("adipose", 60) < -60
    assert 900 < att.ideal_hu("cortical_bone", 70) < 2200
    with pytest.raises(ValueError):
        att.mass_attenuation("water", 5.0)


def test_rod_fit_recovers_a_known_law_and_reports_r2():
    dens = [0.0, 50.0, 100.0, 200.0]
    hu = [3.0 + 1.3 * d for d in dens]
    cal = from_rods(hu, dens)
    assert cal.method == "phantom" and cal.material == "K2HPO4"
    assert cal.slope_mg_cm3_per_hu == pytest.approx(1 / 1.3)
    assert float(cal.bmd(3.0 + 1.3 * 120)) == pytest.approx(120.0)
    assert cal.r2 == pytest.approx(1.0)
    noisy = from_rods([0, 80, 60, 260], dens)
    assert noisy.r2 < 0.98 and noisy.warnings
    with pytest.raises(ValueError):
        from_rods([1.0], [0.0])


def test_fixed_law_always_warns():
    cal = fixed_law()
    assert cal.method == "fixed_law" and cal.warnings
    assert float(cal.bmd(100.0)) == pytest.approx(75.1)


def test_linear_fallback_is_a_k2hpo4_solution_model():
    # K2HPO4 solution at 70 keV: ~1.2 HU per mg/cm3 (phantom-rod magnitude at 120 kVp)
    assert 1.1 < k2hpo4_solution_hu_per_mg(70.0) < 1.4
    cal = linear_internal({"air": -1000.0, "adipose": -95.0})
    assert cal.method == "phantomless_linear" and cal.warnings
    assert float(cal.bmd(0.0)) == pytest.approx(0.0)
    assert cal.slope_mg_cm3_per_hu == pytest.approx(1 / k2hpo4_solution_hu_per_mg(70.0))
    with pytest.raises(ValueError):
        linear_internal({"adipose": -95.0})


@pytest.mark.parametrize("energy", [58.0, 65.0, 73.0])
def test_energy_fit_recovers_the_energy_of_ideal_tissues(energy):
    th = {t: att.ideal_hu(m, energy) for t, m in (("adipose", "adipose"), ("blood", "blood"),
                                                    ("muscle", "muscle"), ("air", "air"))}
    cal = energy_fit_internal(th)
    fit = cal.samples["energy_fit"]
    assert cal.method == "phantomless_energy_fit" and not fit["poor"]
    assert fit["effective_energy_kev"] == pytest.approx(energy, abs=0.15)
    lo, hi = fit["effective_energy_1sigma_kev"]
    assert lo < energy < hi and fit["slope_relative_uncertainty"] > 0
    assert cal.slope_mg_cm3_per_hu == pytest.approx(1 / k2hpo4_solution_hu_per_mg(energy), rel=0.01)
    # fat infiltration lowering muscle by 8 HU barely moves the energy (adipose carries it)
    th["muscle"] -= 8.0
    assert energy_fit_internal(th).samples["energy_fit"]["effective_energy_kev"] == pytest.approx(energy, abs=2.0)


def test_energy_fit_flags_implausible_or_inconsistent_tissues():
    # fat too lean for any plausible 120 kVp energy under ICRU-44 adipose
    fit = energy_fit_internal({"adipose": -140.0, "blood": 45.0, "muscle": 40.0}).samples["energy_fit"]
    assert fit["poor"] and fit["effective_energy_kev"] < fit["plausible_energy_kev"][0]
    # blood 60 HU off its model value
    assert energy_fit_internal({"adipose": -85.0, "blood": 120.0, "muscle": 40.0}).samples["energy_fit"]["poor"]
    with pytest.raises(ValueError):
        energy_fit_internal({"blood": 45.0, "muscle": 40.0})

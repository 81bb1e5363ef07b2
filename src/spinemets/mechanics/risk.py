"""Load-to-strength ratio (LSR = compression / strength) per level and activity, with an optional
Monte Carlo uncertainty and a band. Research output: no validated fracture threshold exists for
metastatic vertebrae (science.md §4); the band uses the theoretical failure at LSR = 1 with the
+/-20 % transition zone of Bouxsein/Keaveny (< 0.8 low, 0.8-1.2 uncertain, > 1.2 high).
The compression of a vertebra is the one loads.json gives for its level: the load through the
disc below it, see ``loads.json`` ``cut_definition``.

Monte Carlo (``monte_carlo`` = number of samples, seeded):
* muscle stress: sigma_max ~ U(40, 130) N/cm2 (Burkhart 2017), compression interpolated in the
  per-level ``compression_N_by_muscle_stress`` table of loads.json;
* calibration: strength x LogNormal(0, cv) with cv = 0.12 (phantomless calibration RMS error
  ~7.8 % in BMD, Kaesmacher 2017, through a strength ~ BMD^1.5 law), 0.06 when bone.json says
  the calibration was phantom-based, 0.20 for a fixed (uncalibrated, scanner-generic) law;
* strength method: each sample picks one of the level's non-null strength estimates at random.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinemets import DISCLAIMER, __version__
from spinemets.errors import InputError

METHODS = ("fe", "rigidity", "density_area")
BANDS = ((0.8, "low", "below_0.8"), (1.2, "uncertain", "uncertain_0.8_1.2"),
         (float("inf"), "high", "above_1.2"))
STRESS_RANGE_N_CM2 = (40.0, 130.0)
CALIBRATION_CV = {"phantom": 0.06, "default": 0.12, "fixed": 0.20}
RESEARCH_NOTE = ("Research output: LSR bands use the theoretical failure at LSR = 1 with a +/-20 % "
                 "transition zone; no validated fracture threshold exists for metastatic vertebrae.")


def band(lsr: float | None) -> tuple[str | None, str | None]:
    if lsr is None or not np.isfinite(lsr):
        return None, None
    for hi, name, code in BANDS:
        if lsr < hi or (hi == 1.2 and lsr <= 1.2):
            return name, code
    return None, None


def _strength(entry: dict, method: str) -> tuple[float | None, str | None, str | None]:
    vals = entry.get("strength_N") or {}
    if method == "auto":
        for m in METHODS:
            v = vals.get(m)
            if v is not None and np.isfinite(v) and v > 0:
                return float(v), m, None
        return None, None, "no strength estimate for this level"
    v = vals.get(method)
    if v is None or not np.isfinite(v) or v <= 0:
        return None, method, f"no '{method}' strength for this level"
    return float(v), method, None


def _calibration_cv(bone: dict) -> float:
    cal = bone.get("calibration") or {}
    kind = str(cal.get("method", cal.get("type", "")) if isinstance(cal, dict) else cal).lower()
    if "phantomless" in kind or not kind:
        return CALIBRATION_CV["default"]
    if "phantom" in kind:
        return CALIBRATION_CV["phantom"]
    return CALIBRATION_CV["fixed"] if "fixed" in kind else CALIBRATION_CV["default"]


def _interp_stress(table: dict | None, s: np.ndarray, fallback: float) -> np.ndarray:
    pts = sorted((float(k), v) for k, v in (table or {}).items() if v is not None)
    if len(pts) < 2:
        return np.full_like(s, fallback)
    xs, ys = np.array([p[0] for p in pts]), np.array([p[1] for p in pts], float)
    return np.interp(s, xs, ys)


def compute_risk(loads: dict, bone: dict, method: str = "auto", monte_carlo: int = 0,
                 seed: int = 0) -> dict[str, Any]:
    """LSR per level and activity (content of risk.json)."""
    if method not in METHODS + ("auto",):
        raise InputError(f"strength method must be one of fe, rigidity, density_area, auto; got "
                         f"{method!r}.")
    if not isinstance(loads, dict) or not isinstance(loads.get("activities"), dict):
        raise InputError("loads must be the content of loads.json (with 'activities').")
    if not isinstance(bone, dict) or not isinstance(bone.get("levels"), dict):
        raise InputError("bone must be the content of bone.json (with 'levels').")
    if int(monte_carlo) < 0:
        raise InputError("monte_carlo must be >= 0.")
    rng = np.random.default_rng(seed)
    cv = _calibration_cv(bone)
    out_acts: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for aid, act in loads["activities"].items():
        levels_out = {}
        for lv, ld in (act.get("levels") or {}).items():
            b = bone["levels"].get(lv)
            rec: dict[str, Any] = {"compression_N": ld.get("compression_N"), "lsr": None}
            if not isinstance(b, dict):
                rec["reason"] = "level not in bone.json"
            elif ld.get("compression_N") is None or ld.get("status") not in (None, "ok"):
                rec["reason"] = f"load not available (status {ld.get('status')})"
            else:
                s, used, why = _strength(b, method)
                rec.update(strength_N=s, strength_method=used)
                if s is None:
                    rec["reason"] = why
                else:
                    lsr = float(ld["compression_N"]) / s
                    rec["lsr"] = round(lsr, 4)
                    rec["band"], rec["band_code"] = band(lsr)
                    if monte_carlo:
                        rec["monte_carlo"] = _mc(ld, b, int(monte_carlo), rng, cv)
            levels_out[lv] = rec
            if rec["lsr"] is not None:
                cur = summary.get(lv)
                if cur is None or rec["lsr"] > cur["max_lsr"]:
                    mc = rec.get("monte_carlo") or {}
                    summary[lv] = {"max_lsr": rec["lsr"], "max_lsr_activity": aid,
                                   "max_lsr_band": rec["band"], "max_lsr_band_code": rec["band_code"],
                                   "max_lsr_low": mc.get("lsr_p05"), "max_lsr_high": mc.get("lsr_p95")}
        out_acts[aid] = {"levels": levels_out}
    return {
        "disclaimer": DISCLAIMER, "spinemets_version": __version__,
        "research_note": RESEARCH_NOTE,
        "definition": "LSR = compression_N (loads.json) / strength_N (bone.json)",
        "strength_method": method, "bands": {"low": "< 0.8", "uncertain": "0.8-1.2", "high": "> 1.2"},
        "monte_carlo": {"samples": int(monte_carlo), "seed": int(seed),
                        "muscle_stress_N_cm2": list(STRESS_RANGE_N_CM2),
                        "calibration_cv": cv, "strength_method": "random among available"}
        if monte_carlo else None,
        "loads_solver": loads.get("solver"), "subject": {k: loads.get("subject", {}).get(k) for k in
                                                         ("sex", "weight_kg", "height_cm",
                                                          "age_years")},
        "activities": out_acts, "levels": summary,
    }


def _mc(ld: dict, b: dict, n: int, rng: np.random.Generator, cv: float) -> dict[str, Any]:
    stress = rng.uniform(*STRESS_RANGE_N_CM2, size=n)
    comp = _interp_stress(ld.get("compression_N_by_muscle_stress"), stress, ld["compression_N"])
    avail = [float(v) for m in METHODS for v in [(b.get("strength_N") or {}).get(m)]
             if v is not None and np.isfinite(v) and v > 0]
    strength = np.array(avail)[rng.integers(0, len(avail), size=n)]
    strength = strength * rng.lognormal(0.0, cv, size=n)
    lsr = comp / strength
    return {"lsr_median": round(float(np.median(lsr)), 4),
            "lsr_p05": round(float(np.percentile(lsr, 5)), 4),
            "lsr_p95": round(float(np.percentile(lsr, 95)), 4),
            "p_lsr_above_1": round(float(np.mean(lsr > 1.0)), 4)}

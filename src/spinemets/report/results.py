"""``results.json``: everything known about one case, per vertebral level, in one versioned schema.

The schema is ``spinemets/data/results.schema.json`` (JSON Schema 2020-12, ``schema_version``
"1.0"). Stage outputs are carried per level under ``vertebra``, ``muscles``, ``bone``, ``loads``
and ``risk`` with their own units-in-names keys; a part whose step did not produce output is
``null`` and the step's status and reason are in ``steps``. Warnings from every step and those
derived here (partial field of view, uncertain labels, infeasible loads, contrast) are collected
in ``warnings`` as ``{"source", "level", "message"}``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Mapping

from .. import DISCLAIMER, __version__, anatomy

SCHEMA_VERSION = "1.0"
#: LSR bands (Bouxsein/Keaveny transition zone ±20 % around 1; research output, not a threshold).
LSR_BANDS = ((0.8, "below_0.8"), (1.2, "uncertain_0.8_1.2"), (float("inf"), "above_1.2"))


@lru_cache(maxsize=1)
def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json``."""
    text = resources.files("spinemets").joinpath("data/results.schema.json").read_text()
    return json.loads(text)


def validate_results(results: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``results`` does not follow the schema."""
    import jsonschema

    jsonschema.validate(results, results_schema(), cls=jsonschema.Draft202012Validator)


def _level_order(levels: Iterable[str]) -> list[str]:
    def key(lv: str) -> int:
        try:
            return anatomy.level_index(lv)
        except ValueError:
            return 999
    return sorted(set(levels), key=key)


def lsr_band(lsr: float | None) -> str | None:
    if lsr is None:
        return None
    for upper, name in LSR_BANDS:
        if lsr < upper:
            return name
    return None


def _span(levels: list[str]) -> str:
    return f"{levels[0]}–{levels[-1]}" if len(levels) > 1 else levels[0]


# --- stage-output normalisers -----------------------------------------------------------------
def loads_by_level(loads: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``loads.json`` -> ``{level: {activity: {...}}}`` (its documented layout is per activity)."""
    out: dict[str, dict[str, Any]] = {}
    if not loads:
        return out
    for act, body in (loads.get("activities") or {}).items():
        for lv, vals in ((body or {}).get("levels") or {}).items():
            out.setdefault(lv, {})[act] = vals
    return out


def risk_by_level(risk: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``risk.json`` -> ``{level: {activity: {...}}}`` accepting per-activity or per-level layout."""
    out: dict[str, dict[str, Any]] = {}
    if not risk:
        return out
    if "activities" in risk:
        for act, body in (risk.get("activities") or {}).items():
            for lv, vals in ((body or {}).get("levels") or {}).items():
                out.setdefault(lv, {})[act] = vals
    else:
        for lv, body in (risk.get("levels") or {}).items():
            acts = body.get("activities", body) if isinstance(body, Mapping) else {}
            for act, vals in acts.items():
                if isinstance(vals, Mapping):
                    out.setdefault(lv, {})[act] = vals
    return out


def lsr_value(entry: Mapping[str, Any] | None) -> float | None:
    """The LSR number of a risk entry (key ``lsr`` or ``lsr_median``)."""
    if not entry:
        return None
    for k in ("lsr", "lsr_median", "value"):
        v = entry.get(k)
        if isinstance(v, (int, float)):
            return float(v)
    return None


def lsr_interval(entry: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """Lower/upper uncertainty bounds of a risk entry when it has them (p05/p95 or ci)."""
    if not entry:
        return None, None
    for lo, hi in (("lsr_p05", "lsr_p95"), ("lsr_p5", "lsr_p95"), ("lsr_low", "lsr_high"),
                   ("lsr_ci_low", "lsr_ci_high"), ("lsr_p2_5", "lsr_p97_5")):
        if isinstance(entry.get(lo), (int, float)) and isinstance(entry.get(hi), (int, float)):
            return float(entry[lo]), float(entry[hi])
    mc = entry.get("monte_carlo")
    if isinstance(mc, Mapping) and isinstance(mc.get("lsr_p05"), (int, float)) \
            and isinstance(mc.get("lsr_p95"), (int, float)):
        return float(mc["lsr_p05"]), float(mc["lsr_p95"])
    ci = entry.get("lsr_ci") or entry.get("lsr_interval") or entry.get("uncertainty")
    if isinstance(ci, Mapping):
        lo = ci.get("p05", ci.get("low", ci.get("lower")))
        hi = ci.get("p95", ci.get("high", ci.get("upper")))
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            return float(lo), float(hi)
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(isinstance(v, (int, float)) for v in ci):
        return float(ci[0]), float(ci[1])
    return None, None


def primary_strength(bone_level: Mapping[str, Any] | None) -> tuple[float | None, str | None]:
    """The strength used for LSR: FE when available, else rigidity, else density x area (N)."""
    if not bone_level:
        return None, None
    s = bone_level.get("strength_N")
    if isinstance(s, (int, float)):
        return float(s), "strength_N"
    if isinstance(s, Mapping):
        for k in ("fe", "rigidity", "density_area"):
            if isinstance(s.get(k), (int, float)):
                return float(s[k]), k
    return None, None


def _collect_warnings(source: str, obj: Any, out: list[dict[str, Any]], level: str | None = None) -> None:
    if not isinstance(obj, Mapping):
        return
    for w in obj.get("warnings") or []:
        msg = w.get("message", json.dumps(w)) if isinstance(w, Mapping) else str(w)
        out.append({"source": source, "level": level, "message": msg})


# --- assembly --------------------------------------------------------------------------------
def build_results(*, steps: Mapping[str, Mapping[str, Any]], ct: Mapping[str, Any] | None,
                  vertebrae: Mapping[str, Any] | None, muscles: Mapping[str, Any] | None,
                  bone: Mapping[str, Any] | None, loads: Mapping[str, Any] | None,
                  risk: Mapping[str, Any] | None, case: Mapping[str, Any],
                  subject: Mapping[str, Any]) -> dict[str, Any]:
    """Assemble ``results.json`` from the stage outputs (any of them may be ``None``)."""
    warnings: list[dict[str, Any]] = []
    for w in (ct or {}).get("warnings", []):
        warnings.append({"source": "read", "level": None, "message": str(w)})
    for name, obj in (("vertebrae", vertebrae), ("muscles", muscles), ("bone", bone),
                      ("loads", loads), ("risk", risk)):
        _collect_warnings(name, obj, warnings)
    _collect_warnings("bone", (bone or {}).get("calibration"), warnings)  # e.g. contrast-enhanced blood
    for name, st in steps.items():
        for w in st.get("warnings", []) or []:
            warnings.append({"source": name, "level": None, "message": str(w)})

    vert_levels = dict((vertebrae or {}).get("levels") or {})
    mus_levels = dict((muscles or {}).get("levels") or {})
    bone_levels = dict((bone or {}).get("levels") or {})
    load_lv = loads_by_level(loads)
    risk_lv = risk_by_level(risk)
    names = _level_order(list(anatomy.TARGET_LEVELS) + list(vert_levels))

    in_view = [lv for lv in names if lv in vert_levels]
    if vertebrae is not None:
        missing = [lv for lv in anatomy.TARGET_LEVELS if lv not in vert_levels]
        if missing and in_view:
            warnings.append({"source": "vertebrae", "level": None, "message":
                             f"partial field of view: only {_span(in_view)} in view (found by the "
                             f"vertebra step); {', '.join(missing)} not assessed (outside the field "
                             f"of view or not segmented)"})
        elif not in_view:
            warnings.append({"source": "vertebrae", "level": None,
                             "message": "no vertebra T1-L5 was found in the field of view"})
        lab = vertebrae.get("labelling") or {}
        conf = lab.get("confidence")
        if isinstance(conf, (int, float)) and conf < 0.5:
            warnings.append({"source": "vertebrae", "level": None,
                             "message": f"level labelling uncertain (anchor {lab.get('anchor')}, confidence {conf:.2f})"})
        elif isinstance(conf, str) and conf.lower() in ("low", "uncertain"):
            warnings.append({"source": "vertebrae", "level": None,
                             "message": f"level labelling uncertain (anchor {lab.get('anchor')}, confidence {conf})"})

    levels: dict[str, Any] = {}
    for lv in names:
        v = vert_levels.get(lv)
        if vertebrae is None:
            label_status, reason = "not_available", _reason(steps, "vertebrae")
        elif v is None:
            label_status, reason = "not_in_view", "vertebra not found in the field of view"
        else:
            label_status, reason = str(v.get("status", "ok")), None
            if label_status != "ok":
                warnings.append({"source": "vertebrae", "level": lv, "message": f"{lv}: label status {label_status}"})
        m = mus_levels.get(lv)
        b = bone_levels.get(lv)
        ld = load_lv.get(lv)
        rk = risk_lv.get(lv)
        for src, obj in (("muscles", m), ("bone", b)):
            _collect_warnings(src, obj, warnings, lv)
        for act, vals in (ld or {}).items():
            st = vals.get("status", "ok") if isinstance(vals, Mapping) else "ok"
            if st != "ok":
                warnings.append({"source": "loads", "level": lv,
                                 "message": f"{lv} {act}: load {st}" + (f" ({vals.get('reason')})" if vals.get("reason") else "")})
        if b is not None and b.get("status", "ok") != "ok":
            warnings.append({"source": "bone", "level": lv, "message": f"{lv}: bone status {b.get('status')}"
                             + (f" ({b.get('reason')})" if b.get("reason") else "")})
        summary = _level_summary(b, rk)
        levels[lv] = {
            "label_id": anatomy.VERSE_ID.get(lv),
            "label_status": label_status,
            "reason": reason,
            "vertebra": dict(v) if v is not None else None,
            "muscles": _muscles_of(m),
            "bone": dict(b) if b is not None else None,
            "loads": dict(ld) if ld else None,
            "risk": dict(rk) if rk else None,
            "summary": summary,
        }

    calibration = (bone or {}).get("calibration")
    activities = sorted({a for lv in load_lv.values() for a in lv} | {a for lv in risk_lv.values() for a in lv})
    return {
        "schema_version": SCHEMA_VERSION,
        "spinemets_version": __version__,
        "disclaimer": DISCLAIMER,
        "generated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "case": dict(case),
        "subject": dict(subject),
        "steps": {n: {"status": s.get("status"), "reason": s.get("reason"), "error": s.get("error"),
                      "seconds": s.get("seconds")} for n, s in steps.items()},
        "image": _image_info(ct),
        "labelling": (vertebrae or {}).get("labelling"),
        "calibration": calibration,
        "activities": activities,
        "levels": levels,
        "warnings": _dedupe(warnings),
    }


def _reason(steps: Mapping[str, Mapping[str, Any]], name: str) -> str:
    st = steps.get(name) or {}
    return f"{name} step {st.get('status', 'not run')}" + (f": {st.get('reason') or st.get('error')}"
                                                          if st.get("reason") or st.get("error") else "")


def _muscles_of(m: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {k: v for k, v in m.items() if isinstance(v, Mapping)} or None


def _level_summary(b: Mapping[str, Any] | None, rk: Mapping[str, Any] | None) -> dict[str, Any]:
    strength, method = primary_strength(b)
    worst_act, worst, lo, hi = None, None, None, None
    for act, entry in (rk or {}).items():
        val = lsr_value(entry)
        if val is not None and (worst is None or val > worst):
            worst_act, worst = act, val
            lo, hi = lsr_interval(entry)
    return {
        "trabecular_bmd_mg_cm3": _num((b or {}).get("trabecular_bmd_mg_cm3")),
        "strength_N": strength,
        "strength_method": method,
        "max_lsr": worst,
        "max_lsr_activity": worst_act,
        "max_lsr_low": lo,
        "max_lsr_high": hi,
        "max_lsr_band": lsr_band(worst),
    }


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _image_info(ct: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not ct:
        return None
    g = ct.get("geometry") or {}
    return {"input_format": ct.get("input_format"), "modality": ct.get("modality"),
            "shape_zyx": g.get("shape_zyx"), "spacing_mm": g.get("spacing_mm"),
            "coordinate_system": "LPS"}


def _dedupe(ws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for w in ws:
        key = (w["source"], w["level"], w["message"])
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out

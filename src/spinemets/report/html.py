"""Render ``report.html`` (jinja2 template in ``report/templates``): one self-contained file.

Images are embedded as base64 PNG data URIs; the page loads nothing from the network and runs
no script, so it reads the same offline, in an archive, or attached to an e-mail.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

CHART_TITLES = {
    "bmd": "Volumetric BMD per level (mg/cm³ K₂HPO₄)",
    "strength": "Vertebral strength per level and method",
    "loads": "Compressive load per level and activity",
    "lsr": "Load-to-strength ratio per level and activity",
}
CHART_STEP = {"bmd": "bone", "strength": "bone", "loads": "loads", "lsr": "risk"}


def _env() -> Any:
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("spinemets.report", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              undefined=jinja2.ChainableUndefined)


def fmt(v: Any, digits: int = 1, unit: str = "") -> str:
    """Number for display; '–' for missing values (never a silent 0)."""
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return "–"
    return f"{v:.{digits}f}{unit}"


def max_compression(level: Mapping[str, Any]) -> float | None:
    vals = [e.get("compression_N") for e in (level.get("loads") or {}).values()
            if isinstance(e, Mapping) and isinstance(e.get("compression_N"), (int, float))]
    return max(vals) if vals else None


def calibration_text(cal: Mapping[str, Any] | None) -> str:
    if not cal:
        return "not available"
    parts = [str(cal.get("method") or cal.get("kind") or "method not stated")]
    for k in ("slope_mg_cm3_per_hu", "slope", "intercept_mg_cm3", "intercept", "r2", "r_squared"):
        if isinstance(cal.get(k), (int, float)):
            parts.append(f"{k} {cal[k]:.3g}")
    return ", ".join(parts)


def render_report(results: Mapping[str, Any], *, views: Mapping[str, str], axial: Mapping[str, str],
                  charts: Mapping[str, str], legend: list[dict[str, str]],
                  options: Mapping[str, Any], libraries: Mapping[str, Any], python: str) -> str:
    steps = results.get("steps", {})
    missing = [n for n in CHART_TITLES if n not in charts]

    def missing_reason(name: str) -> str:
        st = steps.get(CHART_STEP[name]) or {}
        why = st.get("reason") or st.get("error")
        return f"{CHART_STEP[name]} step {st.get('status', 'not run')}" + (f": {why}" if why else "")

    tpl = _env().get_template("report.html.j2")
    return tpl.render(**results, views=views, axial=axial, charts=charts, legend=legend,
                      chart_titles=CHART_TITLES, missing_charts=missing, missing_reason=missing_reason,
                      options=options, libraries=libraries, python=python, fmt=fmt,
                      max_compression=max_compression,
                      calibration_text=calibration_text(results.get("calibration")))

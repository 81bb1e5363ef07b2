"""Per-level charts of a case (matplotlib Agg -> base64 PNG): vBMD, strength, loads, LSR.

Every chart takes ``results.json`` content; levels without a value are left empty (never 0).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .results import lsr_interval, lsr_value
from .views import _plt, fig_to_base64


def _levels_with(results: Mapping[str, Any], part: str) -> list[str]:
    return [lv for lv, d in results["levels"].items() if d.get(part)]


def _val(d: Any, key: str) -> float:
    v = d.get(key) if isinstance(d, Mapping) else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan


def bmd_chart(results: Mapping[str, Any]) -> str | None:
    levels = _levels_with(results, "bone")
    if not levels:
        return None
    plt = _plt()
    x = np.arange(len(levels))
    trab = [_val(results["levels"][lv]["bone"], "trabecular_bmd_mg_cm3") for lv in levels]
    integ = [_val(results["levels"][lv]["bone"], "integral_bmd_mg_cm3") for lv in levels]
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    ax.bar(x - 0.2, trab, 0.4, label="trabecular vBMD", color="#4c78a8")
    ax.bar(x + 0.2, integ, 0.4, label="integral vBMD", color="#9ecae9")
    ax.axhline(80, color="#d62728", lw=0.8, ls="--", label="QCT osteoporosis cut-off (80)")
    ax.axhline(120, color="#ff7f0e", lw=0.8, ls=":", label="QCT osteopenia cut-off (120)")
    ax.set_xticks(x, levels)
    ax.set_ylabel("vBMD (mg/cm³ K₂HPO₄)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return fig_to_base64(fig)


def strength_chart(results: Mapping[str, Any]) -> str | None:
    levels = _levels_with(results, "bone")
    if not levels:
        return None
    methods: list[str] = []
    for lv in levels:
        s = results["levels"][lv]["bone"].get("strength_N")
        if isinstance(s, Mapping):
            methods += [m for m in s if m not in methods and isinstance(s[m], (int, float, type(None)))]
    if not methods:
        methods = ["strength_N"]
    plt = _plt()
    x = np.arange(len(levels))
    w = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    for i, m in enumerate(methods):
        vals = []
        for lv in levels:
            s = results["levels"][lv]["bone"].get("strength_N")
            vals.append(_val(s, m) if isinstance(s, Mapping) else (float(s) if isinstance(s, (int, float)) else np.nan))
        ax.bar(x - 0.4 + w * (i + 0.5), np.asarray(vals) / 1000.0, w, label=m)
    ax.set_xticks(x, levels)
    ax.set_ylabel("strength (kN)")
    ax.legend(fontsize=7, title="method", title_fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return fig_to_base64(fig)


def loads_chart(results: Mapping[str, Any]) -> str | None:
    levels = _levels_with(results, "loads")
    acts = results.get("activities") or []
    if not levels or not acts:
        return None
    plt = _plt()
    x = np.arange(len(levels))
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    for act in acts:
        vals = [_val((results["levels"][lv]["loads"] or {}).get(act), "compression_N") for lv in levels]
        if np.all(np.isnan(vals)):
            continue
        ax.plot(x, vals, marker="o", ms=3, lw=1, label=act)
        bad = [i for i, lv in enumerate(levels)
               if ((results["levels"][lv]["loads"] or {}).get(act) or {}).get("status", "ok") != "ok"]
        if bad:
            ax.plot(x[bad], np.asarray(vals)[bad], "x", color="red", ms=7)
    ax.set_xticks(x, levels)
    ax.set_ylabel("compression (N)")
    ax.set_title("compressive load per activity (red x: level flagged, e.g. infeasible)", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    return fig_to_base64(fig)


def lsr_chart(results: Mapping[str, Any]) -> str | None:
    levels = [lv for lv in _levels_with(results, "risk") if results["levels"][lv]["summary"]["max_lsr"] is not None]
    acts = results.get("activities") or []
    if not levels or not acts:
        return None
    plt = _plt()
    x = np.arange(len(levels))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ax.axhspan(0.8, 1.2, color="#ffdd99", alpha=0.5, label="uncertain zone 0.8–1.2")
    ax.axhline(1.0, color="#d62728", lw=1.2, label="LSR = 1 (load = strength)")
    for act in acts:
        vals = [lsr_value((results["levels"][lv]["risk"] or {}).get(act)) for lv in levels]
        vals = [np.nan if v is None else v for v in vals]
        if np.all(np.isnan(vals)):
            continue
        ax.plot(x, vals, marker=".", ms=4, lw=0.7, alpha=0.7, label=act)
    # the worst activity per level with its uncertainty interval
    worst, lo, hi = [], [], []
    for lv in levels:
        s = results["levels"][lv]["summary"]
        v = s.get("max_lsr")
        worst.append(np.nan if v is None else v)
        lo.append(0.0 if v is None or s.get("max_lsr_low") is None else max(v - s["max_lsr_low"], 0.0))
        hi.append(0.0 if v is None or s.get("max_lsr_high") is None else max(s["max_lsr_high"] - v, 0.0))
    ax.errorbar(x, worst, yerr=[lo, hi], fmt="o", color="black", ms=5, capsize=3, lw=1.2,
                label="max over activities (5–95 %)")
    ax.set_xticks(x, levels)
    ax.set_ylabel("load-to-strength ratio")
    ax.set_title("LSR per level and activity; black: worst activity with its uncertainty interval", fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    ax.set_ylim(bottom=0)
    return fig_to_base64(fig)


def all_charts(results: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for name, fn in (("bmd", bmd_chart), ("strength", strength_chart), ("loads", loads_chart),
                     ("lsr", lsr_chart)):
        png = fn(results)
        if png:
            out[name] = png
    return out

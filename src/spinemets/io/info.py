"""``info``: what spinemets reads from a CT input (series, grid, orientation, HU range, slice gaps)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import __version__
from .ct_reader import read_ct

_POS = "LPS"
_NEG = "RAI"


def axis_codes(direction: tuple[float, ...] | np.ndarray) -> str:
    """Letters naming where voxel axes i, j, k point (LPS patient axes; "LPS" = i to Left, j to Posterior,
    k to Superior; "RAS" = i to Right ...). The dominant patient axis of each voxel axis is named."""
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    out = []
    for c in range(3):
        col = d[:, c]
        a = int(np.argmax(np.abs(col)))
        out.append(_POS[a] if col[a] > 0 else _NEG[a])
    return "".join(out)


def info(path: str | os.PathLike[str], series_uid: str | None = None) -> dict[str, Any]:
    """Read the CT at ``path`` and describe it. Raises :class:`~spinemets.errors.InputError` for bad input.

    Keys: ``path``, ``input_format``, ``modality``, ``series_instance_uid``, ``study_instance_uid``,
    ``series_description``, ``n_series_found``, ``series_found`` (DICOM), ``size_xyz``,
    ``spacing_mm`` (x, y, z), ``origin_lps_mm``, ``direction``, ``orientation`` (axis codes),
    ``field_of_view_mm``, ``hu`` (min, max, 1st/99th percentile, dtype), ``slice_thickness_mm``,
    ``slice_spacing_mm``, ``slice_gap_mm`` (spacing - thickness; < 0 = overlapping slices),
    ``missing_slices``, ``kvp``, ``contrast_agent``, ``warnings``.
    """
    ct = read_ct(path, series_uid=series_uid)
    g = ct.geometry
    m = ct.metadata
    a = ct.array
    sample = a[:, ::2, ::2] if a.size > 8_000_000 else a
    p1, p99 = (float(v) for v in np.percentile(sample, [1, 99]))
    nz, ny, nx = g.shape_zyx
    out: dict[str, Any] = {
        "spinemets_version": __version__,
        "path": str(path),
        "input_format": m.get("input_format"),
        "modality": m.get("modality"),
        "modality_source": m.get("modality_source", "DICOM Modality attribute"),
        "series_instance_uid": m.get("series_instance_uid"),
        "study_instance_uid": m.get("study_instance_uid"),
        "series_description": m.get("series_description"),
        "n_series_found": m.get("n_series_found"),
        "series_found": m.get("series_found", []),
        "n_source_files": len(m.get("source_files", [])),
        "size_xyz": [nx, ny, nz],
        "spacing_mm": list(g.spacing_mm),
        "origin_lps_mm": list(g.origin_lps_mm),
        "direction": list(g.direction),
        "orientation": axis_codes(g.direction),
        "coordinate_system": "LPS",
        "field_of_view_mm": [float(n * s) for n, s in zip((nx, ny, nz), g.spacing_mm)],
        "hu": {"min": float(a.min()), "max": float(a.max()), "p1": p1, "p99": p99, "dtype": str(a.dtype)},
        "slice_thickness_mm": m.get("slice_thickness_mm"),
        "slice_spacing_mm": m.get("slice_spacing_mm"),
        "slice_gap_mm": m.get("slice_gap_mm"),
        "missing_slices": m.get("missing_slices", []),
        "kvp": m.get("kvp"),
        "contrast_agent": m.get("contrast_agent"),
        "warnings": list(m.get("warnings", [])),
    }
    return out


def format_info(d: dict[str, Any]) -> str:
    """Human-readable lines of :func:`info`'s dict."""
    def f(v: Any) -> str:
        return "n/a" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    sx, sy, sz = d["spacing_mm"]
    lines = [
        f"input:        {d['path']} ({d['input_format']})",
        f"modality:     {d['modality']} ({d['modality_source']})",
        f"series:       {f(d['series_instance_uid'])}" + (f"  \"{d['series_description']}\"" if d.get("series_description") else ""),
        f"series found: {f(d['n_series_found'])}",
    ]
    for s in d.get("series_found") or []:
        lines.append(f"  - {s['series_instance_uid']} {s['modality']} {s['n_images']} images "
                     f"{s['orientation'] or ''} \"{s['series_description']}\"")
    hu = d["hu"]
    lines += [
        f"size (x,y,z): {' x '.join(str(v) for v in d['size_xyz'])} voxels",
        f"spacing:      {sx:.4g} x {sy:.4g} x {sz:.4g} mm",
        f"orientation:  {d['orientation']} (voxel axes i,j,k point to; LPS coordinates)",
        f"origin (LPS): {', '.join(f'{v:.2f}' for v in d['origin_lps_mm'])} mm",
        f"HU range:     {hu['min']:g} .. {hu['max']:g} (1st-99th percentile {hu['p1']:g} .. {hu['p99']:g}, {hu['dtype']})",
        f"slices:       thickness {f(d['slice_thickness_mm'])} mm, spacing {f(d['slice_spacing_mm'])} mm, "
        f"gap {f(d['slice_gap_mm'])} mm (negative = overlap), missing slices: {len(d['missing_slices'])}",
        f"kVp:          {f(d['kvp'])}; contrast agent: {f(d['contrast_agent'])}",
    ]
    lines += [f"warning:      {w}" for w in d["warnings"]]
    return "\n".join(lines)

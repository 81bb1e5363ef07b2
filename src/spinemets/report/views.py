"""Image views of a CT with label overlays (matplotlib Agg), returned as base64 PNG strings.

Display conventions (radiological): sagittal slices show anterior on the left and superior up;
coronal and axial slices show the patient's right on the viewer's left; axial slices show
anterior up. Pixels are drawn at their true aspect (spacing in mm).
"""

from __future__ import annotations

import base64
import io
from typing import Any, Mapping

import numpy as np

from .. import anatomy

WINDOW_HU = (-250.0, 1000.0)  # bone-and-soft-tissue window for the views


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def fig_to_base64(fig: Any, dpi: int = 90) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor=fig.get_facecolor())
    _plt().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _lut() -> np.ndarray:
    lut = np.zeros((max(anatomy.BY_ID) + 1, 4), dtype=float)
    for sid, s in anatomy.BY_ID.items():
        lut[sid, :3] = np.asarray(s.color_rgb) / 255.0
        lut[sid, 3] = 0.5
    return lut


def reslice(volume: np.ndarray, geometry: Any, fixed_lps_axis: int, index: int,
            rows_lps_axis: int, cols_lps_axis: int) -> tuple[np.ndarray, float, float]:
    """2-D slice with rows increasing along ``rows_lps_axis`` and columns along ``cols_lps_axis``.

    ``index`` is the voxel index along the array axis aligned with ``fixed_lps_axis``. Returns the
    slice and its row/column pixel sizes in mm. Oblique directions are handled to the nearest axis.
    """
    d = geometry.direction_matrix
    spacing = geometry.spacing_mm  # (x, y, z) = along array axes (2, 1, 0)
    ax = {a: geometry.axis_of(a) for a in (0, 1, 2)}
    sl = np.take(volume, int(np.clip(index, 0, volume.shape[ax[fixed_lps_axis]] - 1)), axis=ax[fixed_lps_axis])
    remaining = [a for a in (0, 1, 2) if a != ax[fixed_lps_axis]]
    r_ax, c_ax = ax[rows_lps_axis], ax[cols_lps_axis]
    img = sl if remaining.index(r_ax) == 0 else sl.T
    # flip so that indices increase along the +LPS direction
    if d[rows_lps_axis, 2 - r_ax] < 0:
        img = img[::-1, :]
    if d[cols_lps_axis, 2 - c_ax] < 0:
        img = img[:, ::-1]
    return img, float(spacing[2 - r_ax]), float(spacing[2 - c_ax])


def _show(axis: Any, ct2d: np.ndarray, lab2d: list[np.ndarray], row_mm: float, col_mm: float,
          flip_rows: bool) -> None:
    lut = _lut()
    h, w = ct2d.shape
    extent = (0, w * col_mm, 0, h * row_mm) if flip_rows else (0, w * col_mm, h * row_mm, 0)
    origin = "lower" if flip_rows else "upper"
    axis.imshow(ct2d, cmap="gray", vmin=WINDOW_HU[0], vmax=WINDOW_HU[1], extent=extent,
                origin=origin, interpolation="bilinear")
    for lab in lab2d:
        ids = np.clip(lab.astype(np.int64), 0, lut.shape[0] - 1)
        rgba = lut[ids]
        rgba[ids == 0, 3] = 0.0
        axis.imshow(rgba, extent=extent, origin=origin, interpolation="nearest")
    axis.set_axis_off()


def _centre_index(geometry: Any, points_lps: list[list[float]], lps_axis: int, shape: tuple[int, ...]) -> int:
    ax = geometry.axis_of(lps_axis)
    if points_lps:
        idx = geometry.lps_to_index_zyx(np.asarray(points_lps, dtype=float))[:, ax]
        return int(round(float(np.median(idx))))
    return shape[ax] // 2


def overview_views(ct: Any, vertebrae: Any | None, muscles: Any | None,
                   vertebrae_summary: Mapping[str, Any] | None) -> dict[str, str]:
    """Sagittal (through the spine's mid-plane) and coronal (through the vertebral bodies) views."""
    plt = _plt()
    geom = ct.geometry
    levels = (vertebrae_summary or {}).get("levels") or {}
    cents = {lv: v.get("centroid_lps_mm") for lv, v in levels.items() if v.get("centroid_lps_mm")}
    pts = list(cents.values())
    out: dict[str, str] = {}
    for name, fixed, cols in (("sagittal", 0, 1), ("coronal", 1, 0)):
        idx = _centre_index(geom, pts, fixed, ct.array.shape)
        ct2d, rmm, cmm = reslice(ct.array, geom, fixed, idx, 2, cols)
        labs = [reslice(lm.array, geom, fixed, idx, 2, cols)[0] for lm in (vertebrae, muscles)
                if lm is not None]
        h, w = ct2d.shape
        aspect = (h * rmm) / max(w * cmm, 1e-6)
        fig, axis = plt.subplots(figsize=(4.2, min(max(4.2 * aspect, 3.0), 9.0)), facecolor="black")
        _show(axis, ct2d, labs, rmm, cmm, flip_rows=True)
        # level names at the vertebral centroids
        for lv, c in cents.items():
            ijk = geom.lps_to_index_zyx(np.asarray(c, dtype=float))
            ax_rows, ax_cols = geom.axis_of(2), geom.axis_of(cols)
            r = ijk[ax_rows] if geom.direction_matrix[2, 2 - ax_rows] > 0 else h - 1 - ijk[ax_rows]
            cc = ijk[ax_cols] if geom.direction_matrix[cols, 2 - ax_cols] > 0 else w - 1 - ijk[ax_cols]
            axis.text(cc * cmm - 18.0, r * rmm, lv, color="yellow", fontsize=7,
                      ha="right", va="center")
        axis.set_title(f"{name} (superior up; "
                       + ("anterior left)" if name == "sagittal" else "patient right on left)"),
                       color="white", fontsize=8)
        out[name] = fig_to_base64(fig)
    return out


def axial_views(ct: Any, vertebrae: Any | None, muscles: Any | None,
                vertebrae_summary: Mapping[str, Any] | None, half_width_mm: float = 170.0) -> dict[str, str]:
    """One axial slice per vertebra at its centroid, cropped to ``half_width_mm`` around it."""
    plt = _plt()
    geom = ct.geometry
    levels = (vertebrae_summary or {}).get("levels") or {}
    out: dict[str, str] = {}
    for lv, v in levels.items():
        c = v.get("centroid_lps_mm")
        if not c:
            continue
        ijk = geom.lps_to_index_zyx(np.asarray(c, dtype=float))
        k = int(round(ijk[geom.axis_of(2)]))
        ct2d, rmm, cmm = reslice(ct.array, geom, 2, k, 1, 0)
        labs = [reslice(lm.array, geom, 2, k, 1, 0)[0] for lm in (vertebrae, muscles) if lm is not None]
        # crop around the vertebra (rows = P, cols = L, both increasing)
        rr = ijk[geom.axis_of(1)] if geom.direction_matrix[1, 2 - geom.axis_of(1)] > 0 \
            else ct2d.shape[0] - 1 - ijk[geom.axis_of(1)]
        cc = ijk[geom.axis_of(0)] if geom.direction_matrix[0, 2 - geom.axis_of(0)] > 0 \
            else ct2d.shape[1] - 1 - ijk[geom.axis_of(0)]
        hr, hc = int(half_width_mm / rmm), int(half_width_mm / cmm)
        r0, r1 = max(int(rr) - int(0.6 * hr), 0), min(int(rr) + int(0.6 * hr), ct2d.shape[0])
        c0, c1 = max(int(cc) - hc, 0), min(int(cc) + hc, ct2d.shape[1])
        crop = (slice(r0, r1), slice(c0, c1))
        fig, axis = plt.subplots(figsize=(3.2, 2.3), facecolor="black")
        _show(axis, ct2d[crop], [lab[crop] for lab in labs], rmm, cmm, flip_rows=False)
        axis.set_title(f"{lv} (anterior up, patient right on left)", color="white", fontsize=7)
        out[lv] = fig_to_base64(fig, dpi=80)
    order = [lv for lv in anatomy.ALL_LEVELS if lv in out]
    return {lv: out[lv] for lv in order}


def legend_items(vertebrae: Any | None, muscles: Any | None) -> list[dict[str, str]]:
    """Colour legend of the labels present in the overlays (muscles only; vertebrae are named)."""
    items = []
    if muscles is not None:
        for sid in muscles.present_ids():
            s = anatomy.BY_ID.get(sid)
            if s is not None:
                items.append({"name": s.segment_label, "color": "#%02x%02x%02x" % s.color_rgb})
    return items

"""Preview PNG of a phantom: sagittal, coronal and axial CT views (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.atomic import atomic_path


def _window(a: np.ndarray, level: float, width: float) -> np.ndarray:
    return np.clip((a.astype(np.float32) - (level - width / 2)) / width, 0, 1)


def write_preview(phantom, path: str | Path, axial_level: str = "L1") -> Path:
    """Write a 3-panel PNG (sagittal through the canal, coronal through the bodies, axial at the
    mid-height of ``axial_level`` or the middle slice) with a bone-soft tissue window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ct = phantom.ct
    geo = ct.geometry
    a = ct.array
    sx, sy, sz = geo.spacing_mm
    nz, ny, nx = a.shape
    vert = phantom.vertebrae.array
    truth = phantom.truth
    # sagittal at the spine midline, coronal through the vertebral bodies
    ix = int(round(geo.lps_to_index_zyx(np.array([0.0, 0.0, 0.0]))[2]))
    ix = int(np.clip(ix, 0, nx - 1))
    bodies = phantom.vertebral_bodies.array
    ys = np.nonzero(bodies.any(axis=(0, 2)))[0]
    iy = int(ys.mean()) if len(ys) else ny // 2
    lv = truth.get("vertebrae", {}).get(axial_level)
    if lv is None and truth.get("vertebrae"):
        lv = list(truth["vertebrae"].values())[len(truth["vertebrae"]) // 2]
    iz = int(np.clip(round(geo.lps_to_index_zyx(np.array(lv["origin_lps_mm"]))[0]), 0, nz - 1)) if lv else nz // 2
    lev, wid = 250.0, 1600.0
    fig, axes = plt.subplots(1, 3, figsize=(15, 7.5), facecolor="black",
                             gridspec_kw={"width_ratios": [ny * sy, nx * sx, nx * sx]})
    sag = _window(a[:, :, ix], lev, wid)
    cor = _window(a[:, iy, :], lev, wid)
    axi = _window(a[iz], 40.0, 500.0)
    ext_sag = (geo.origin_lps_mm[1], geo.origin_lps_mm[1] + ny * sy, geo.origin_lps_mm[2], geo.origin_lps_mm[2] + nz * sz)
    ext_cor = (geo.origin_lps_mm[0], geo.origin_lps_mm[0] + nx * sx, geo.origin_lps_mm[2], geo.origin_lps_mm[2] + nz * sz)
    ext_ax = (geo.origin_lps_mm[0], geo.origin_lps_mm[0] + nx * sx, geo.origin_lps_mm[1] + ny * sy, geo.origin_lps_mm[1])
    # radiological display: patient's right on the image left for coronal/axial; anterior left in sagittal
    axes[0].imshow(sag, cmap="gray", origin="lower", extent=ext_sag, aspect="equal", interpolation="bilinear")
    axes[1].imshow(cor, cmap="gray", origin="lower", extent=ext_cor, aspect="equal", interpolation="bilinear")
    axes[2].imshow(axi, cmap="gray", extent=ext_ax, aspect="equal", interpolation="bilinear")
    # level names beside the sagittal spine
    for name, v in truth.get("vertebrae", {}).items():
        c = v.get("body_centroid_lps_mm")
        if c:
            axes[0].text(c[1] - 40, c[2], name, color="yellow", fontsize=7, ha="right", va="center")
    titles = ["sagittal (W1600/L250)", "coronal (W1600/L250)",
              f"axial {axial_level if axial_level in truth.get('vertebrae', {}) else ''} (W500/L40)"]
    for ax, t in zip(axes, titles):
        ax.set_title(t, color="white", fontsize=10)
        ax.axis("off")
    subj = truth.get("subject", {})
    les = ", ".join(f"{e['level']} {e['class']}" for e in truth.get("lesions", [])) or "none"
    fig.suptitle(f"spinemets phantom seed {truth.get('seed')} - {subj.get('sex')}, {subj.get('age_years')} y; "
                 f"lesions: {les} - synthetic, not patient data", color="white", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, facecolor="black", format="png")
    plt.close(fig)
    return path


__all__ = ["write_preview"]

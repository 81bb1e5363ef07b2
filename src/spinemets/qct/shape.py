"""Vertebral body heights along the vertebra's own axis and a Genant-style grade.

Heights are read on the body mask resampled in the vertebra's frame (``frame.py``) at 0.5 mm:
for every column parallel to the axis the height is the length of its contiguous run of body
samples nearest the mid-height plane. Anterior, middle and posterior heights are the medians of
the column heights in the mid-sagittal band (central 40 % of the body's width) at 85 %, 50 % and
15 % of the antero-posterior depth measured on the mid-height line (the same positions as
TotalSegmentator's spine report), each over a +/- 1 mm antero-posterior window.

Ratios: wedge = Ha/Hp; biconcavity = Hm/max(Ha, Hp); crush = Hp / mean posterior height of the
neighbouring levels (when given). Genant-style semiquantitative grade from the largest height
reduction ``1 - ratio``: < 20 % grade 0, 20-25 % grade 1 (mild), 25-40 % grade 2 (moderate),
>= 40 % grade 3 (severe) (Genant 1993, J Bone Miner Res 8:1137).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPE_STEP_MM = 0.5
POSITIONS = {"posterior": 0.15, "middle": 0.50, "anterior": 0.85}


@dataclass
class ShapeResult:
    height_anterior_mm: float | None
    height_middle_mm: float | None
    height_posterior_mm: float | None
    width_mm: float | None
    depth_mm: float | None
    csa_mid_mm2: float | None

    @property
    def wedge_ratio(self) -> float | None:
        if self.height_anterior_mm and self.height_posterior_mm:
            return self.height_anterior_mm / self.height_posterior_mm
        return None

    @property
    def biconcavity_ratio(self) -> float | None:
        if self.height_middle_mm and self.height_anterior_mm and self.height_posterior_mm:
            return self.height_middle_mm / max(self.height_anterior_mm, self.height_posterior_mm)
        return None


def measure_shape(local_mask: np.ndarray, step_mm: float) -> ShapeResult:
    """Heights of a body mask on a local grid [s, a, l] with isotropic ``step_mm``."""
    col_h = local_mask.sum(axis=0) * step_mm  # (a, l)
    foot = col_h > 0
    if not foot.any():
        return ShapeResult(None, None, None, None, None, None)
    l_idx = np.nonzero(foot.any(axis=0))[0]
    width = (l_idx[-1] - l_idx[0] + 1) * step_mm
    l_c = 0.5 * (l_idx[0] + l_idx[-1])
    half_band = 0.2 * (l_idx[-1] - l_idx[0] + 1)
    band = np.abs(np.arange(foot.shape[1]) - l_c) <= half_band
    # antero-posterior extent on the mid-height line (through the body centre), band median
    s_idx = np.nonzero(local_mask.any(axis=(1, 2)))[0]
    s_mid = int(round(0.5 * (s_idx[0] + s_idx[-1])))
    mid_rows = local_mask[s_mid][:, band]  # (a, band columns)
    ends = [(np.nonzero(c)[0][0], np.nonzero(c)[0][-1]) for c in mid_rows.T if c.any()]
    if not ends:
        return ShapeResult(None, None, None, width, None, None)
    a0 = float(np.median([e[0] for e in ends]))
    a1 = float(np.median([e[1] for e in ends]))
    depth = (a1 - a0 + 1) * step_mm
    win = max(1, int(round(1.0 / step_mm)))
    heights = {}
    for name, frac in POSITIONS.items():
        a = int(round(a0 + frac * (a1 - a0)))
        cols = local_mask[:, max(a - win, 0): a + win + 1][:, :, band]  # (s, a-window, band)
        vals = [_run_through(cols[:, i, j], s_mid) for i in range(cols.shape[1])
                for j in range(cols.shape[2])]
        vals = [v * step_mm for v in vals if v > 0]
        heights[name] = float(np.median(vals)) if vals else None
    csa = float(local_mask[s_mid].sum()) * step_mm ** 2
    return ShapeResult(heights["anterior"], heights["middle"], heights["posterior"], width, depth, csa)


def _run_through(col: np.ndarray, s_mid: int) -> int:
    """Length (samples) of the contiguous run of ``col`` that contains (or is nearest to) s_mid."""
    idx = np.nonzero(col)[0]
    if idx.size == 0:
        return 0
    splits = np.nonzero(np.diff(idx) > 1)[0]
    runs = np.split(idx, splits + 1)
    best = min(runs, key=lambda r: 0 if r[0] <= s_mid <= r[-1] else min(abs(r[0] - s_mid), abs(r[-1] - s_mid)))
    return int(best.size)


def genant_grade(shape: ShapeResult, neighbour_posterior_mm: float | None = None) -> tuple[int | None, float | None]:
    """(grade 0-3, largest height reduction fraction) from the body's own height ratios."""
    ha, hm, hp = shape.height_anterior_mm, shape.height_middle_mm, shape.height_posterior_mm
    if not (ha and hm and hp):
        return None, None
    reductions = [1 - min(ha, hp) / max(ha, hp), 1 - hm / max(ha, hp)]
    if neighbour_posterior_mm:
        reductions.append(1 - max(ha, hm, hp) / neighbour_posterior_mm)
    r = max(0.0, max(reductions))
    grade = 0 if r < 0.20 else 1 if r < 0.25 else 2 if r < 0.40 else 3
    return grade, r

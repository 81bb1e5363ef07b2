"""Level-dependent vertebral dimensions (mm) of an average adult spine.

Sources (means of the published tables, rounded; read from the papers' figures and tables as we
remember them, not re-verified against the full texts - treat as approximate, +-10 %):

* Panjabi MM, Takata K, Goel V, et al. Thoracic human vertebrae. Quantitative three-dimensional
  anatomy. Spine 1991;16(8):888-901 (T1-T12: endplate width/depth, body height, pedicle width
  and height, canal width/depth, spinous and transverse process dimensions).
* Panjabi MM, Goel V, Oxland T, et al. Human lumbar vertebrae. Quantitative three-dimensional
  anatomy. Spine 1992;17(3):299-306 (L1-L5, same measures).
* Disc heights: Pooni JS et al. Spine 1986 (lumbar); thoracic from Kunkel ME et al. 2011
  (approximate).
* The lumbar values agree with the mean L2-L5 shape of Clouthier et al. J Biomech 2023
  (VB width 46.7, depth 35.0, height 27.8 mm; canal width 26.7, depth 16.7 mm), which the tests
  check against the shape model's mean mesh.

All values are for a 'reference' adult; the generator scales them by a subject size factor
(sex, height) drawn from the seed. Columns:

``W`` body width (mid-height, transverse), ``D`` body depth (sagittal), ``Ha``/``Hp`` anterior and
posterior body height, ``PW``/``PH`` pedicle width/height, ``CW``/``CD`` canal width/depth, ``SP``
spinous process length (from the lamina), ``SPang`` its downward angle (deg below the local
horizontal), ``TP`` transverse process half-span (from the canal midline to the tip), ``TPang``
posterior angulation of the transverse process (deg), ``disc`` height of the disc below the level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_COLS = ("W", "D", "Ha", "Hp", "PW", "PH", "CW", "CD", "SP", "SPang", "TP", "TPang", "disc")
_TABLE: dict[str, tuple[float, ...]] = {
    #       W     D    Ha    Hp    PW    PH    CW    CD    SP  SPang   TP TPang disc
    "C7": (24.0, 16.0, 13.0, 14.0, 6.0, 8.0, 22.0, 14.0, 40.0, 20.0, 36.0, 20.0, 4.5),
    "T1": (26.5, 16.0, 13.5, 14.5, 7.8, 9.5, 21.0, 14.5, 45.0, 25.0, 38.0, 25.0, 4.5),
    "T2": (26.5, 17.0, 15.0, 15.8, 6.5, 11.0, 17.5, 14.8, 45.0, 35.0, 37.0, 28.0, 4.5),
    "T3": (27.0, 18.0, 15.5, 16.5, 5.2, 11.5, 16.0, 14.8, 44.0, 45.0, 36.0, 30.0, 4.5),
    "T4": (27.5, 19.5, 16.0, 17.0, 4.8, 11.5, 15.5, 15.0, 43.0, 50.0, 35.0, 32.0, 4.8),
    "T5": (28.5, 21.0, 16.5, 17.5, 5.0, 11.5, 15.5, 15.0, 42.0, 55.0, 34.0, 33.0, 5.0),
    "T6": (29.5, 23.0, 17.0, 18.0, 5.0, 11.8, 15.5, 15.0, 41.0, 58.0, 33.0, 33.0, 5.0),
    "T7": (30.5, 24.5, 17.5, 18.5, 5.3, 12.0, 15.5, 15.0, 40.0, 58.0, 32.0, 33.0, 5.2),
    "T8": (31.5, 26.0, 18.0, 19.2, 5.8, 12.5, 15.8, 15.2, 38.0, 55.0, 31.5, 32.0, 5.5),
    "T9": (33.0, 27.0, 18.5, 19.8, 6.2, 13.5, 16.0, 15.5, 36.0, 50.0, 30.5, 30.0, 5.8),
    "T10": (35.5, 28.0, 19.5, 20.8, 6.8, 15.0, 16.5, 15.8, 35.0, 40.0, 29.0, 27.0, 6.2),
    "T11": (38.5, 29.0, 21.0, 22.3, 7.8, 16.5, 17.5, 16.0, 34.0, 30.0, 25.0, 22.0, 6.8),
    "T12": (41.0, 30.5, 22.5, 24.0, 8.0, 16.5, 19.5, 16.5, 33.0, 18.0, 22.0, 15.0, 8.0),
    "L1": (42.5, 31.5, 24.5, 26.5, 8.5, 15.5, 21.5, 17.0, 32.0, 8.0, 33.0, 10.0, 9.0),
    "L2": (44.5, 33.0, 25.5, 27.5, 8.7, 15.0, 22.0, 16.5, 32.0, 5.0, 38.0, 8.0, 10.0),
    "L3": (46.5, 34.5, 26.5, 27.5, 10.3, 14.5, 23.0, 16.5, 32.0, 3.0, 42.0, 5.0, 10.5),
    "L4": (48.0, 35.5, 27.0, 27.0, 12.9, 14.0, 24.0, 17.0, 31.0, 3.0, 40.0, 5.0, 11.0),
    "L5": (50.0, 36.0, 28.0, 25.5, 17.5, 14.5, 25.0, 17.5, 28.0, 0.0, 44.0, 5.0, 11.5),
}


@dataclass(frozen=True)
class LevelDims:
    """Dimensions of one vertebra in mm (see the module docstring for the columns)."""

    level: str
    W: float
    D: float
    Ha: float
    Hp: float
    PW: float
    PH: float
    CW: float
    CD: float
    SP: float
    SPang: float
    TP: float
    TPang: float
    disc: float

    @property
    def H(self) -> float:
        """Mean body height (mm)."""
        return 0.5 * (self.Ha + self.Hp)

    def scaled(self, s: float) -> "LevelDims":
        vals = {c: getattr(self, c) * (s if c not in ("SPang", "TPang") else 1.0) for c in _COLS}
        return LevelDims(self.level, **vals)


def reference_dims(level: str) -> LevelDims:
    """Literature mean dimensions of ``level`` (T1-L5)."""
    return LevelDims(level, *_TABLE[level])


#: Published ranges (approximately mean +- 2 SD, Panjabi 1991/1992) used by the tests for the
#: mid-body width W and depth D and the mean body height H, mm.
def published_range(level: str, col: str) -> tuple[float, float]:
    v = getattr(reference_dims(level), col) if col != "H" else reference_dims(level).H
    return 0.75 * v, 1.25 * v


def level_table() -> dict[str, LevelDims]:
    return {lv: reference_dims(lv) for lv in _TABLE}


def subject_scale(sex: str, height_cm: float) -> float:
    """Linear size factor of the skeleton: men ~ +6 % vs women at equal stature (approximate)."""
    base = 1.0 if sex == "M" else 0.93
    return float(base * np.clip(height_cm / (176.0 if sex == "M" else 163.0), 0.9, 1.1))

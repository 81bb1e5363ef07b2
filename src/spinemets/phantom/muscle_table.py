"""Trunk muscle cross-sectional areas (cm2, one side, axial section) per level for a reference
45-year-old man, and torso/rib-cage sizes per level.

Approximate means compiled from CT/MRI morphometry (e.g. McGill S et al., Clin Biomech 1988 and
Marras WS et al., Clin Biomech 2001 for L1-L5; Anderson DE et al., J Biomech 2012 and
Bruno AG et al., J Biomech Eng 2015 for T4-L4 CT of the Framingham cohort). Sum over both sides
at L3 ~ 115 cm2, consistent with the FHS female L3 total 104-121 cm2 and male 20-67 % larger
(science.md section 6). Women's areas are scaled by 0.75; all areas shrink 0.8 %/year after 45
(Anderson 2023, science.md section 6). These numbers are design values of the phantom, not a
reference for patient studies.
"""

from __future__ import annotations

import numpy as np

from .spine import SPINE_LEVELS

_L = SPINE_LEVELS + ["S1"]  # C7, T1..T12, L1..L5, S1


def _row(**vals: float) -> np.ndarray:
    out = np.zeros(len(_L))
    for k, v in vals.items():
        out[_L.index(k)] = v
    return out


CSA_CM2: dict[str, np.ndarray] = {
    "erector_spinae": _row(C7=3.0, T1=4, T2=4.5, T3=5, T4=5.5, T5=6, T6=6.5, T7=7, T8=7.5, T9=8,
                           T10=9, T11=10.5, T12=12, L1=14, L2=16, L3=17, L4=15, L5=10, S1=4),
    "transversospinalis": _row(C7=3.5, T1=3.5, T2=3, T3=2.8, T4=2.6, T5=2.5, T6=2.4, T7=2.3, T8=2.3,
                               T9=2.3, T10=2.4, T11=2.6, T12=2.8, L1=3, L2=3.8, L3=5, L4=6.5, L5=8,
                               S1=6),
    "psoas_major": _row(T12=1.0, L1=3.5, L2=7, L3=11, L4=15, L5=17, S1=18),
    "quadratus_lumborum": _row(L1=2.5, L2=4.5, L3=6, L4=5),
    "rectus_abdominis": _row(T7=2, T8=3, T9=4, T10=4.5, T11=5, T12=5.5, L1=6, L2=6.5, L3=7, L4=7,
                             L5=6, S1=5),
    "external_oblique": _row(T7=2, T8=3, T9=4, T10=5, T11=6, T12=6.5, L1=7, L2=7.5, L3=7.5, L4=6,
                             L5=3),
    "internal_oblique": _row(T11=2, T12=3, L1=4, L2=5.5, L3=6.5, L4=7, L5=6, S1=3),
    "latissimus_dorsi": _row(T5=2, T6=4, T7=6, T8=7, T9=7, T10=6.5, T11=5.5, T12=4.5, L1=3, L2=2,
                             L3=1),
    "trapezius": _row(C7=6, T1=6, T2=6, T3=5.5, T4=5, T5=4, T6=3.5, T7=3, T8=2.5, T9=1.8, T10=1.2,
                      T11=0.5),
    "pectoralis_major": _row(C7=4, T1=8, T2=12, T3=14, T4=14, T5=11, T6=6, T7=2),
    "serratus_anterior": _row(T2=2, T3=3, T4=4, T5=4.5, T6=5, T7=5, T8=4.5, T9=3.5, T10=2),
}

#: Wall (sheet) muscles: (left-side sector start, end in deg of the torso ellipse parameter,
#: 0 = left, +90 = posterior, -90 = anterior; layer: 0 outermost). The layers stack from the
#: subcutaneous fat inwards, each beneath those that cover its angle (a fascial plane between):
#: the pectoralis major's lower fibres lie over the upper rectus sheath and the external
#: oblique's upper digitations (T6-T7), the internal oblique beneath the external oblique, the
#: serratus anterior beneath the external oblique's interdigitating slips; where nothing covers
#: an angle the layer lies directly under the subcutaneous fat. The internal oblique's fleshy
#: fibres reach the rectus sheath's lateral border (linea semilunaris), medial of the external
#: oblique's, so the wall has no gap between the rectus and the obliques; below the serratus the
#: external oblique reaches back to the latissimus (``soft._paint_wall_sheets``).
WALL_SECTORS: dict[str, tuple[float, float, int]] = {
    "rectus_abdominis": (-88.0, -62.0, 1),
    "external_oblique": (-50.0, 0.0, 1),
    "internal_oblique": (-60.0, -5.0, 2),
    "latissimus_dorsi": (22.0, 62.0, 1),
    "trapezius": (66.0, 87.0, 1),
    "pectoralis_major": (-84.0, -28.0, 0),
    "serratus_anterior": (-22.0, 22.0, 2),
}
#: sectors ending at or before this angle (deg) lie on the front and side of the rib cage; the
#: latissimus dorsi and trapezius behind it cover the deep back muscles and keep their depth
#: below the skin
RIB_BORNE_MAX_DEG = 22.0

#: Torso half-width A and half-depth B (mm, reference man, subcutaneous fat 15 mm)
TORSO_A = _row(C7=140, T1=150, T2=158, T3=163, T4=165, T5=166, T6=166, T7=165, T8=164, T9=163,
               T10=162, T11=160, T12=158, L1=156, L2=155, L3=156, L4=160, L5=165, S1=168)
TORSO_B = _row(C7=80, T1=90, T2=100, T3=108, T4=114, T5=118, T6=121, T7=122, T8=123, T9=123,
               T10=122, T11=120, T12=117, L1=114, L2=112, L3=110, L4=109, L5=109, S1=110)


def muscle_scale(sex: str, age: float) -> float:
    """CSA factor for sex and age (women x0.75; -0.8 %/year after 45, floor 0.6)."""
    s = 1.0 if sex == "M" else 0.75
    return float(s * max(1.0 - 0.008 * max(age - 45.0, 0.0), 0.6))

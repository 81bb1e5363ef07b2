"""The input of every strength model: one vertebral body resampled on a local isotropic grid.

Array axes are ``[s, a, l]``: index 0 runs inferior -> superior along the vertebra's own axis,
index 1 posterior -> anterior, index 2 right -> left (the vertebra's local frame, built by
``spinemets.qct``). ``spacing_mm`` is the isotropic grid step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class VertebraVolume:
    """Calibrated density of one vertebral body on a local isotropic grid.

    bmd_mg_cm3: float array [s, a, l], K2HPO4-equivalent BMD (mg/cm3)
    body_mask: bool array, the vertebral body
    lesion_class: uint8 array or None (0 none, 1 lytic, 2 blastic, 3 mixed)
    spacing_mm: isotropic grid step (mm)
    """

    bmd_mg_cm3: np.ndarray
    body_mask: np.ndarray
    spacing_mm: float
    lesion_class: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.bmd_mg_cm3.shape != self.body_mask.shape:
            raise ValueError("bmd and mask shapes differ")
        if self.lesion_class is not None and self.lesion_class.shape != self.body_mask.shape:
            raise ValueError("lesion and mask shapes differ")
        self.body_mask = self.body_mask.astype(bool)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(self.spacing_mm) ** 3

    def height_mm(self) -> float:
        """Extent of the body along the axis (mm)."""
        s = np.nonzero(self.body_mask.any(axis=(1, 2)))[0]
        return float((s[-1] - s[0] + 1) * self.spacing_mm) if s.size else 0.0

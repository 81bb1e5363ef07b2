"""Vertebral compressive strength from calibrated CT, three methods of increasing fidelity.

* ``density_area_strength``: yield stress at the trabecular density x mid-vertebral area;
* ``rigidity_strength``: CT rigidity analysis, yield strain x minimum axial rigidity;
* ``fe_strength``: voxel finite elements, strain-based failure criterion.

Each takes a :class:`VertebraVolume` (one body on a local isotropic grid, BMD in mg/cm3
K2HPO4) and returns a dataclass holding the strength in N and its inputs.
"""

from .density_area import DensityAreaResult, density_area_strength
from .fe import FEResult, fe_strength
from .materials import modulus_mpa, yield_stress_mpa
from .rigidity import RigidityResult, rigidity_strength
from .volume import VertebraVolume

__all__ = ["VertebraVolume", "DensityAreaResult", "density_area_strength", "RigidityResult",
           "rigidity_strength", "FEResult", "fe_strength", "modulus_mpa", "yield_stress_mpa"]

"""QCT: HU -> BMD calibration (phantom rods, phantomless internal tissues, fixed law) and per-vertebra
density, shape and strength (``assess_bone`` -> content of bone.json)."""

from .assess import assess_bone, lesion_classes, phantomless_calibration, resolve_calibration
from .calibration import Calibration, fixed_law, from_rods, linear_internal, physics_internal
from .rods import Rod, detect_rods, sample_rod

__all__ = ["assess_bone", "Calibration", "fixed_law", "from_rods", "linear_internal",
           "physics_internal", "phantomless_calibration", "resolve_calibration", "lesion_classes",
           "Rod", "detect_rods", "sample_rod"]

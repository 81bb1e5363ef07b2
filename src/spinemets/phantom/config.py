"""Phantom configuration: one dataclass with size presets.

Lengths in mm, densities in mg K2HPO4/cm3, HU for CT numbers. ``size`` picks the grid preset;
explicit ``pixel_mm`` / ``slice_mm`` override it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence, Union

from .. import anatomy
from ..errors import InputError

#: (pixel_mm, slice_mm, z-oversampling, in-plane field of view x/y mm)
PRESETS: dict[str, dict[str, Any]] = {
    # unit tests: coarse, fast
    "small": {"pixel_mm": 2.0, "slice_mm": 3.0, "oversample_z": 3, "fov_levels": ("T1", "L5")},
    # make demo: ~1 mm pixels, 3 mm slices, T1-L5
    "default": {"pixel_mm": 1.0, "slice_mm": 3.0, "oversample_z": 3, "fov_levels": ("T1", "L5")},
    # benchmarks: 512 x 512, ~0.7 mm, 1 mm slices
    "clinical": {"pixel_mm": 0.75, "slice_mm": 1.0, "oversample_z": 1, "fov_levels": ("T1", "L5"),
                 "matrix": 512},
}

LesionSpec = tuple[str, str, str, float]  # (level, class, location, radius_mm)


@dataclass
class PhantomConfig:
    """Everything that defines one synthetic study.

    * ``lesions``: list of ``(level, class, location, radius_mm)`` with class ``lytic|blastic|mixed``
      and location ``body|posterior``, or ``"random"`` (1-4 lesions drawn from ``seed``), or ``[]``.
    * ``fracture_levels``: levels with a pathological (wedge/crush) fracture.
    * ``followup_months``: later scans of the same subject to generate (empty: none).
    """

    seed: int = 0
    size: str = "default"
    pixel_mm: float | None = None
    slice_mm: float | None = None
    oversample_z: int | None = None
    fov_levels: tuple[str, str] | None = None
    sex: str | None = None  # "F" | "M"; None -> drawn from seed
    age: float | None = None  # years; None -> drawn from seed
    lesions: Union[str, Sequence[LesionSpec]] = "random"
    fracture_levels: Sequence[str] = ()
    calibration_rods: bool = False
    rod_bmd_mg_cm3: tuple[float, ...] = (0.0, 50.0, 100.0, 200.0)
    noise_hu: float = 15.0
    blur_fwhm_mm: float = 1.0
    followup_months: Sequence[float] = ()
    kvp: float = 120.0
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> "PhantomConfig":
        """A copy with preset values filled in and every field validated (InputError if bad)."""
        if self.size not in PRESETS:
            raise InputError(f"unknown phantom size {self.size!r}; use one of {', '.join(PRESETS)}")
        p = PRESETS[self.size]
        c = PhantomConfig(**{**asdict(self)})
        c.pixel_mm = float(self.pixel_mm if self.pixel_mm is not None else p["pixel_mm"])
        c.slice_mm = float(self.slice_mm if self.slice_mm is not None else p["slice_mm"])
        if c.oversample_z is None:
            c.oversample_z = int(p["oversample_z"]) if self.slice_mm is None else \
                max(1, int(round(c.slice_mm / c.pixel_mm)) | 1)
        c.fov_levels = tuple(self.fov_levels or p["fov_levels"])  # type: ignore[assignment]
        if not (0.3 <= c.pixel_mm <= 4.0):
            raise InputError(f"pixel size {c.pixel_mm} mm is outside 0.3-4 mm")
        if not (0.5 <= c.slice_mm <= 6.0):
            raise InputError(f"slice thickness {c.slice_mm} mm is outside 0.5-6 mm")
        lv = anatomy.TARGET_LEVELS
        if len(c.fov_levels) != 2 or any(x not in lv for x in c.fov_levels):
            raise InputError(f"field of view {c.fov_levels} must be two levels between T1 and L5")
        if lv.index(c.fov_levels[0]) > lv.index(c.fov_levels[1]):
            c.fov_levels = (c.fov_levels[1], c.fov_levels[0])
        if c.sex is not None and c.sex not in ("F", "M"):
            raise InputError(f"sex must be 'F' or 'M', got {c.sex!r}")
        if c.age is not None and not (18 <= c.age <= 100):
            raise InputError(f"age {c.age} is outside 18-100 years")
        for f in c.fracture_levels:
            if f not in lv:
                raise InputError(f"fracture level {f!r} is not a level T1-L5")
        if not isinstance(c.lesions, str):
            ok = []
            for spec in c.lesions:
                if len(spec) != 4:
                    raise InputError(f"lesion spec {spec!r} must be (level, class, location, radius_mm)")
                level, cls, loc, r = spec
                if level not in lv:
                    raise InputError(f"lesion level {level!r} is not a level T1-L5")
                if cls not in anatomy.LESION_CLASSES.values():
                    raise InputError(f"lesion class {cls!r} must be lytic, blastic or mixed")
                if loc not in ("body", "posterior"):
                    raise InputError(f"lesion location {loc!r} must be body or posterior")
                if not (2.0 <= float(r) <= 25.0):
                    raise InputError(f"lesion radius {r} mm is outside 2-25 mm")
                ok.append((level, cls, loc, float(r)))
            c.lesions = ok
        elif c.lesions != "random":
            raise InputError(f"lesions must be a list of specs or 'random', got {c.lesions!r}")
        if c.noise_hu < 0 or c.blur_fwhm_mm < 0:
            raise InputError("noise_hu and blur_fwhm_mm must be >= 0")
        c.followup_months = tuple(float(m) for m in c.followup_months)
        if any(m <= 0 for m in c.followup_months):
            raise InputError("follow-up months must be > 0")
        c.fracture_levels = tuple(c.fracture_levels)
        return c

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lesions"] = self.lesions if isinstance(self.lesions, str) else [list(x) for x in self.lesions]
        return d

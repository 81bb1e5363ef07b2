"""The phantom's design (everything drawn from the seed before any voxel is painted): subject,
vertebral dimensions, trabecular BMD, the scanner's effective energy (hence every reference
tissue's HU and the HU<->BMD law, see :mod:`.tissue_physics`), lesions, fractures and pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import anatomy
from .config import PhantomConfig
from .dimensions import LevelDims, reference_dims, subject_scale
from .lesions import Lesion, place_lesion
from .muscle_table import muscle_scale
from .soft import Subject
from .spine import SPINE_LEVELS
from .tissue_physics import EFFECTIVE_ENERGY_KEV_RANGE, TissuePhysics, hematocrit_from_draw
from .vertebra import Fracture


@dataclass
class Pose:
    phi_scale_thoracic: float = 1.0
    phi_scale_lumbar: float = 1.0
    phi_offset_deg: float = 0.0
    roll_deg: float = 0.0  # rotation about the scanner z axis (patient axial rotation on the table)
    shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class Model:
    config: PhantomConfig
    subject: Subject
    dims: dict[str, LevelDims]
    bmd: dict[str, float]  # trabecular BMD per level (incl. "S"), mg K2HPO4/cm3
    physics: TissuePhysics  # scanner effective energy + subject tissue composition -> HU
    lesions: list[Lesion]
    fractures: dict[str, Fracture]
    pose: Pose = field(default_factory=Pose)
    months: float = 0.0
    lesion_changes: list[dict] = field(default_factory=list)

    @property
    def hu_slope(self) -> float:
        """HU per mg/cm3 K2HPO4 at the scanner's effective energy."""
        return self.physics.hu_per_mg_cm3

    @property
    def hu_intercept(self) -> float:
        """HU of 0 mg/cm3 (water: 0 HU on a water-calibrated scanner)."""
        return self.physics.hu_intercept

    def bmd_to_hu(self, bmd: float) -> float:
        return self.hu_intercept + self.hu_slope * bmd


def draw_subject(cfg: PhantomConfig, rng: np.random.Generator) -> Subject:
    sex = cfg.sex or ("F" if rng.random() < 0.5 else "M")
    age = float(cfg.age if cfg.age is not None else round(rng.uniform(45, 80), 1))
    height = float(np.clip(rng.normal(176 if sex == "M" else 163, 6), 150, 195))
    bmi = float(np.clip(rng.normal(26.5, 3.0), 19, 35))
    weight = round(bmi * (height / 100) ** 2, 1)
    fat = 6.0 + 1.6 * (bmi - 18.0) + (3.0 if sex == "F" else 0.0)
    return Subject(sex, age, round(height, 1), weight, subject_scale(sex, height), muscle_scale(sex, age),
                   float(fat), float(np.clip((bmi - 18) / 10, 0.2, 1.6)))


def draw_bmd(subj: Subject, rng: np.random.Generator) -> dict[str, float]:
    """Trabecular BMD (mg K2HPO4/cm3) per level.

    Lumbar (L1-L3) mean: ~175 mg/cm3 at 25 y, falling ~1.6 (men) / 1.2 then 2.6 after 50 (women)
    mg/cm3 per year (QCT normative trends; ACR cut-offs 120/80, science.md 1.4); subject SD 15 %;
    thoracic ~ +1.2 % per level above L1 (thoracic vBMD is higher than lumbar), L4/L5 slightly
    lower; per-level scatter 4 %.
    """
    a = subj.age_years
    if subj.sex == "M":
        base = 178.0 - 1.6 * max(a - 25.0, 0.0)
    else:
        base = 182.0 - 1.2 * max(min(a, 50.0) - 25.0, 0.0) - 2.6 * max(a - 50.0, 0.0)
    base = max(base, 45.0) * float(np.clip(rng.normal(1.0, 0.15), 0.6, 1.4))
    out = {}
    order = SPINE_LEVELS
    iL1 = order.index("L1")
    for i, lv in enumerate(order):
        f = 1.0 + 0.012 * max(iL1 - i, 0) - 0.02 * max(i - order.index("L3"), 0)
        out[lv] = float(round(max(base * f * rng.normal(1.0, 0.04), 30.0), 1))
    out["S"] = float(round(0.9 * out["L5"], 1))
    return out


def build_model(cfg: PhantomConfig) -> Model:
    """Draw the design of a baseline phantom from ``cfg`` (already resolved)."""
    rng = np.random.default_rng(cfg.seed)
    subj = draw_subject(cfg, rng)
    dims = {}
    for lv in SPINE_LEVELS:
        dims[lv] = reference_dims(lv).scaled(subj.skeletal_scale * float(rng.normal(1.0, 0.025)))
    bmd = draw_bmd(subj, rng)
    # scanner (effective energy of the 120 kVp beam) and blood haematocrit: two draws, in the
    # place of the two draws of the former free HU<->BMD law so that the rest of the design of
    # every seed is unchanged
    energy = float(round(rng.uniform(*EFFECTIVE_ENERGY_KEV_RANGE), 2))
    hct = hematocrit_from_draw(subj.sex, float(rng.uniform(-1.0, 1.0)))
    physics = TissuePhysics(energy, subj.sex, subj.age_years, hct)
    fov = anatomy.TARGET_LEVELS[anatomy.TARGET_LEVELS.index(cfg.fov_levels[0]):
                                anatomy.TARGET_LEVELS.index(cfg.fov_levels[1]) + 1]
    fractures = {}
    for lv in cfg.fracture_levels:
        fractures[lv] = Fracture(float(round(rng.uniform(0.28, 0.45), 3)), float(round(rng.uniform(0.12, 0.22), 3)),
                                 float(round(rng.uniform(2.0, 3.5), 2)))
    specs = cfg.lesions
    if specs == "random":
        n = int(rng.integers(1, 5))
        levels = list(rng.choice(fov, size=min(n, len(fov)), replace=False))
        specs = []
        for lv in levels:
            cls = str(rng.choice(["lytic", "blastic", "mixed"], p=[0.45, 0.3, 0.25]))
            loc = "body" if rng.random() < 0.8 else "posterior"
            specs.append((str(lv), cls, loc, float(round(rng.uniform(5.0, 10.0), 1))))
    specs = list(specs)
    for lv in fractures:  # a pathological fracture sits in a lesion; add a lytic one if none given
        if not any(s[0] == lv and s[2] == "body" for s in specs):
            specs.append((lv, "lytic", "body", float(round(0.3 * dims[lv].D, 1))))
    lesions = [place_lesion(i + 1, lv, cls, loc, r, dims[lv], rng) for i, (lv, cls, loc, r) in enumerate(specs)]
    return Model(cfg, subj, dims, bmd, physics, lesions, fractures)

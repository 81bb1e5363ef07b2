"""The subject model used by the load solvers: spine geometry, segment masses, trunk muscles.

Coordinates: LPS millimetres in a *standing* reference frame (+x patient left, +y posterior,
+z superior = against gravity), origin at the L5/S1 joint centre of the default anatomy. Every
vertebra has a local frame whose columns are ``e_x`` (left), ``e_y`` (posterior) and ``e_z``
(superior, the compression axis); its origin is the vertebral-body centroid. Each level's load is
taken at its *cut point* ``cut_mm``: the centre of the intervertebral disc below the vertebra (the
intervertebral-joint centre of the Allaire/Wilkinson model; "L4" = the L4/L5 disc, where Wilke 1999
measured the intradiscal pressure; "L5" = L5/S1), on the plane through it normal to the vertebra's
``e_z``. Intervertebral rotations happen about these points (the posture's joints).

Muscles are stored per level in that local frame: ``anterior_mm`` (> 0 in front of the body
centroid) and ``left_mm`` (signed, > 0 towards the patient's left), with their CSA in mm2. They are
measured in the plane through the body centroid; the solvers carry each muscle along ``e_z`` to the
cut plane at the same in-plane offset from the cut point (which lies on the vertebra's axis).

Two constructors: :meth:`SubjectModel.default` (generic anatomy scaled by sex, mass, height, age)
and :meth:`SubjectModel.from_ct_outputs` (CT spine curvature, local frames and muscle CSA/positions
override the default, which still fills levels or groups the CT does not give).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spinemets.anatomy import MUSCLE_GROUPS, TARGET_LEVELS
from spinemets.errors import InputError

from . import default_anatomy as da

LEVELS: list[str] = list(TARGET_LEVELS)  # T1 ... L5, cranial to caudal
SEXES = ("male", "female")
#: Supine CT -> standing moment-arm corrections (science.md §3.2): abdominal flexors +30 %,
#: erector spinae +3 % (men) / +12 % (women).
SUPINE_TO_STANDING = {"abdominal": 1.30, "erector_spinae": {"male": 1.03, "female": 1.12}}
ABDOMINAL = ("rectus_abdominis", "external_oblique", "internal_oblique")
NOMINAL_BMI = 25.0  # kg/m2, used only when the body mass is unknown
_BAD_STATUS = {"missing", "absent", "failed", "error", "not_found", "not_segmented", "excluded",
               "not_present", "outside_fov", "partly_outside_fov"}


@dataclass
class Muscle:
    """One muscle group of one side crossing a level's cut plane."""

    name: str          # "erector_spinae_left"
    csa_mm2: float
    anterior_mm: float  # local frame, > 0 anterior of the body centroid
    left_mm: float      # local frame, > 0 towards the patient's left
    source: str         # "ct" | "default" | "default_scaled_to_ct"


@dataclass
class SubjectModel:
    """Everything the solvers need about one subject (see module docstring for frames/units)."""

    sex: str
    weight_kg: float
    height_cm: float
    age_years: float | None
    centroids_mm: np.ndarray          # (17, 3) vertebral-body centroids, standing frame
    frames: np.ndarray                # (17, 3, 3) columns e_x (left), e_y (posterior), e_z (superior)
    cut_mm: np.ndarray                # (17, 3) cut points: disc centre below each vertebra
    slab_mass_kg: np.ndarray          # (17,) trunk slab mass per level
    slab_com_mm: np.ndarray           # (17, 3) slab centres of mass, standing frame
    head_mass_kg: float
    head_com_mm: np.ndarray           # (3,)
    shoulder_mm: np.ndarray           # (2, 3) glenohumeral centres, [left, right]
    arm_mass_kg: dict[str, float]     # upper_arm, forearm, hand (one side)
    arm_geometry_mm: dict[str, float]  # lengths and CoM distances (one side)
    hip_mm: np.ndarray                # (3,) hip-joint axis centre (pelvic rotation centre)
    muscles: dict[str, list[Muscle]]  # level -> muscles crossing its cut
    muscle_stress_N_cm2: float = 100.0
    muscle_path_half_length_mm: float = 50.0
    tonic_activation: float = da.TONIC_ACTIVATION
    shoulder_level: str = da.SHOULDER_LEVEL
    provenance: dict[str, Any] = field(default_factory=dict)
    levels: list[str] = field(default_factory=lambda: list(LEVELS))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def default(cls, sex: str = "male", weight_kg: float = 70.0, height_cm: float = 175.0,
                age: float | None = None, muscle_stress_N_cm2: float = 100.0) -> "SubjectModel":
        """Generic anatomy (default_anatomy.py) scaled to sex, body mass, height and age."""
        sex, weight_kg, height_cm = _check_subject(sex, weight_kg, height_cm)
        _check_stress(muscle_stress_N_cm2)
        geo = _default_geometry(height_cm)
        model = cls(sex=sex, weight_kg=weight_kg, height_cm=height_cm,
                    age_years=None if age is None else float(age),
                    centroids_mm=geo["centroids"], frames=geo["frames"], cut_mm=geo["cuts"],
                    slab_mass_kg=_slab_masses(sex, weight_kg), slab_com_mm=geo["slab_com"],
                    head_mass_kg=da.SEGMENT_FRACTION[sex]["head_neck"] * weight_kg,
                    head_com_mm=geo["head_com"], shoulder_mm=geo["shoulders"],
                    arm_mass_kg={k: da.SEGMENT_FRACTION[sex][k] * weight_kg
                                 for k in ("upper_arm", "forearm", "hand")},
                    arm_geometry_mm=geo["arm"], hip_mm=geo["hip"],
                    muscles={lv: _default_muscles(lv, sex, weight_kg, height_cm, age)
                             for lv in LEVELS},
                    muscle_stress_N_cm2=float(muscle_stress_N_cm2),
                    muscle_path_half_length_mm=50.0 * height_cm / da.REFERENCE_HEIGHT_CM)
        model.provenance = {
            "geometry": "default anatomy (Allaire 2020 torso in the Wilkinson OpenSim model, "
                        "relaxed standing), lengths scaled by height / 170 cm",
            "muscles": "default anatomy table scaled by sex, body mass and age (Anderson 2023 "
                       "regressions)",
            "weight_kg_method": "given", "height_cm_method": "given",
            "levels": {lv: {"geometry": "default", "muscles": "default"} for lv in LEVELS},
        }
        return model

    @classmethod
    def from_ct_outputs(cls, vertebrae_summary: dict, muscles_summary: dict | None = None,
                        sex: str = "male", weight_kg: float | None = None,
                        height_cm: float | None = None, age: float | None = None,
                        muscle_stress_N_cm2: float = 100.0) -> "SubjectModel":
        """Subject from ``vertebrae.json`` (+ optional ``muscles.json``) contents.

        The CT gives the spine curvature, the local frames and the muscle CSA/positions of the
        levels it covers; everything else comes from the default anatomy scaled to the subject and
        is recorded as such in ``provenance``. Without body mass/height they are estimated from
        the CT (method stated in ``provenance``).
        """
        from .ct_subject import build_from_ct

        return build_from_ct(cls, vertebrae_summary, muscles_summary, sex, weight_kg, height_cm,
                             age, muscle_stress_N_cm2)

    # ------------------------------------------------------------------ helpers
    def level_index(self, level: str) -> int:
        return self.levels.index(level)

    def max_force_N(self, muscle: Muscle, stress_N_cm2: float | None = None) -> float:
        s = self.muscle_stress_N_cm2 if stress_N_cm2 is None else stress_N_cm2
        return s * muscle.csa_mm2 / 100.0

    def summary(self) -> dict[str, Any]:
        """The ``subject`` block of loads.json."""
        return {
            "sex": self.sex, "weight_kg": round(self.weight_kg, 2),
            "height_cm": round(self.height_cm, 1), "age_years": self.age_years,
            "muscle_stress_N_cm2": self.muscle_stress_N_cm2,
            "tonic_activation": self.tonic_activation,
            "shoulder_girdle_level": self.shoulder_level,
            "frame": "standing LPS mm, origin at the L5/S1 joint centre, gravity along -z",
            "provenance": self.provenance,
            "levels": {
                lv: {
                    "centroid_mm": [round(float(v), 2) for v in self.centroids_mm[i]],
                    "cut_point_mm": [round(float(v), 2) for v in self.cut_mm[i]],
                    "axis_si": [round(float(v), 4) for v in self.frames[i][:, 2]],
                    "slab_mass_kg": round(float(self.slab_mass_kg[i]), 3),
                    "muscles": {m.name: {"csa_mm2": round(m.csa_mm2, 1),
                                         "anterior_mm": round(m.anterior_mm, 1),
                                         "left_mm": round(m.left_mm, 1), "source": m.source}
                                for m in self.muscles[lv]},
                }
                for i, lv in enumerate(self.levels)
            },
        }


# ---------------------------------------------------------------------- building blocks
def _check_subject(sex: str, weight_kg: float | None, height_cm: float | None
                   ) -> tuple[str, float, float]:
    sex = str(sex).lower()
    if sex in ("m", "f"):
        sex = {"m": "male", "f": "female"}[sex]
    if sex not in SEXES:
        raise InputError(f"sex must be 'male' or 'female', got {sex!r}.")
    if weight_kg is not None and not (20.0 <= float(weight_kg) <= 250.0):
        raise InputError(f"body mass {weight_kg} kg is outside 20-250 kg.")
    if height_cm is not None and not (120.0 <= float(height_cm) <= 230.0):
        raise InputError(f"height {height_cm} cm is outside 120-230 cm.")
    return sex, (None if weight_kg is None else float(weight_kg)), \
        (None if height_cm is None else float(height_cm))  # type: ignore[return-value]


def _check_stress(s: float) -> None:
    if not (10.0 <= float(s) <= 300.0):
        raise InputError(f"maximum muscle stress {s} N/cm2 is outside 10-300 N/cm2.")


def _os_to_lps(x: float, y: float, z: float = 0.0) -> np.ndarray:
    """OpenSim ground (X anterior, Y up, Z right; m) -> LPS mm relative to the L5/S1 joint."""
    x0, y0 = da.JOINT_BELOW_XY_M["L5"]
    return np.array([-z * 1000.0, -(x - x0) * 1000.0, (y - y0) * 1000.0])


def frame_from_axis(e_z: np.ndarray, lateral_hint: np.ndarray | None = None) -> np.ndarray:
    """Right-handed frame (columns e_x left, e_y posterior, e_z superior) from a superior axis."""
    e_z = np.asarray(e_z, float)
    e_z = e_z / np.linalg.norm(e_z)
    hint = np.array([1.0, 0.0, 0.0]) if lateral_hint is None else np.asarray(lateral_hint, float)
    e_x = hint - (hint @ e_z) * e_z
    if np.linalg.norm(e_x) < 1e-6:
        e_x = np.array([0.0, 1.0, 0.0]) - e_z[1] * e_z
    e_x /= np.linalg.norm(e_x)
    e_y = np.cross(e_z, e_x)
    return np.stack([e_x, e_y, e_z], axis=1)


def _default_geometry(height_cm: float) -> dict[str, Any]:
    s = height_cm / da.REFERENCE_HEIGHT_CM
    joints = {k: _os_to_lps(*v) * s for k, v in da.JOINT_BELOW_XY_M.items()}
    above = {lv: (LEVELS[i - 1] if i > 0 else "C7") for i, lv in enumerate(LEVELS)}
    centroids = np.stack([(joints[lv] + joints[above[lv]]) / 2 for lv in LEVELS])
    cuts = np.stack([joints[lv] for lv in LEVELS])  # intervertebral joint below each vertebra
    frames = np.stack([frame_from_axis(joints[above[lv]] - joints[lv]) for lv in LEVELS])
    slab_com = np.stack([_os_to_lps(*da.SLAB_COM_XY_M[lv]) * s for lv in LEVELS])
    sx, sy, sz = da.SHOULDER_XYZ_M
    shoulders = np.stack([_os_to_lps(sx, sy, -sz), _os_to_lps(sx, sy, sz)]) * s  # left, right
    arm = {"upper_arm_length": da.UPPER_ARM_LENGTH_M, "upper_arm_com": da.UPPER_ARM_COM_M,
           "forearm_length": da.FOREARM_LENGTH_M, "forearm_com": da.FOREARM_COM_M,
           "hand_com": da.HAND_COM_M, "grip": da.GRIP_M}
    arm = {k: v * 1000.0 * s for k, v in arm.items()}
    hip = _os_to_lps(-0.0563, 0.8515) * s  # femoral-head centre height/AP (Rajagopal pelvis)
    hip[0] = 0.0
    return {"centroids": centroids, "cuts": cuts, "frames": frames, "slab_com": slab_com,
            "head_com": _os_to_lps(*da.HEAD_NECK_COM_XY_M) * s, "shoulders": shoulders,
            "arm": arm, "hip": hip}


def _slab_masses(sex: str, weight_kg: float) -> np.ndarray:
    f = np.array([da.TRUNK_SLAB_FRACTION[lv] for lv in LEVELS])
    # the per-level table is the male model; women's trunk fraction is slightly smaller
    f = f * da.SEGMENT_FRACTION[sex]["trunk_total"] / da.SEGMENT_FRACTION["male"]["trunk_total"]
    return f * weight_kg


def muscle_scale_factors(sex: str, weight_kg: float, height_cm: float, age: float | None
                         ) -> tuple[float, float]:
    """(CSA factor, offset factor) applied to the male 170 cm / 75 kg / 40 y reference table."""
    dm = weight_kg - da.REFERENCE_MASS_KG
    csa = 1.0 + da.CSA_PER_KG * dm
    off = (1.0 + da.OFFSET_PER_KG * dm) * height_cm / da.REFERENCE_HEIGHT_CM
    if age is not None:
        csa *= 1.0 + da.CSA_PER_YEAR * (float(age) - da.REFERENCE_AGE_Y)
    if sex == "female":
        csa *= da.FEMALE_CSA_FACTOR
        off *= da.FEMALE_OFFSET_FACTOR
    return float(np.clip(csa, 0.3, 3.0)), float(np.clip(off, 0.6, 1.6))


def _default_muscles(level: str, sex: str, weight_kg: float, height_cm: float,
                     age: float | None) -> list[Muscle]:
    fc, fo = muscle_scale_factors(sex, weight_kg, height_cm, age)
    out = []
    for group in list(MUSCLE_GROUPS) + [g for g in da.MUSCLES if g not in MUSCLE_GROUPS]:
        row = da.MUSCLES.get(group)
        if not row or level not in row["csa_cm2"]:
            continue
        csa = row["csa_cm2"][level] * 100.0 * fc
        ant = row["anterior_cm"][level] * 10.0 * fo
        lat = row["lateral_cm"][level] * 10.0 * fo
        for side, sign in (("left", 1.0), ("right", -1.0)):
            out.append(Muscle(f"{group}_{side}", csa, ant, sign * lat, "default"))
    return out


def estimate_mass_from_height(height_cm: float) -> float:
    return NOMINAL_BMI * (height_cm / 100.0) ** 2


def is_usable(status: Any) -> bool:
    return status is None or str(status).lower() not in _BAD_STATUS


def _finite3(v: Any) -> np.ndarray | None:
    if v is None:
        return None
    try:
        a = np.asarray(v, float).reshape(3)
    except (TypeError, ValueError):
        return None
    return a if np.all(np.isfinite(a)) else None


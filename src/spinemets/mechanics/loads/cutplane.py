"""Cut-plane equilibrium at every level for one activity (the scipy solver).

For the cut through level i's cut point (centre of the disc below vertebra i; plane normal = the
vertebra's e_z):
    external: F_ext (gravity + hand loads above the cut), M_ext about the cut point;
    muscles:  f_j u_j at p_j (force on the upper body);
    moment equilibrium about local e_x (flexion-extension) and e_y (lateral bending) by the muscles;
    the axial-torsion moment is reported and assumed carried by passive tissues (facets, discs);
    force on the body below = F_ext + sum f_j u_j, resolved in the local frame:
    compression_N = -(.) . e_z, shear_ap_N = (.) . (-e_y) (> 0 anterior), shear_lat_N = (.) . e_x
    (> 0 towards the patient's left).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..activities import Activity
from ..subject import SubjectModel
from .external import MuscleGeometry, external_loads, muscle_geometry
from .optimize import solve_level
from .posture import Posture, pose

STRESS_SENSITIVITY_N_CM2 = (40.0, 70.0, 100.0, 130.0)  # Burkhart 2017 range and the default


@dataclass
class LevelSystem:
    """Everything needed to solve and resolve one level of one activity."""

    level: str
    frame: np.ndarray          # (3, 3) local axes in the posture frame (columns)
    force_ext: np.ndarray      # (3,) N
    moment_local: np.ndarray   # (3,) N m, external moment in local axes
    muscles: MuscleGeometry
    arm_local: np.ndarray      # (3, m) m: local components of (p - c) x u per unit force


@dataclass
class LevelResult:
    level: str
    status: str
    reason: str | None
    compression_N: float | None
    shear_ap_N: float | None
    shear_lat_N: float | None
    forces_N: dict[str, float] = field(default_factory=dict)
    gravity_N: float = 0.0
    moment_ext_Nm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    torsion_passive_Nm: float | None = None
    max_activation: float | None = None
    by_stress: dict[str, float | None] = field(default_factory=dict)


def level_systems(subject: SubjectModel, act: Activity) -> tuple[Posture, list[LevelSystem]]:
    posture = pose(subject, act)
    force, moment = external_loads(subject, posture, act)
    out = []
    for i, lv in enumerate(subject.levels):
        frame = posture.rot[i] @ subject.frames[i]
        mg = muscle_geometry(subject, posture, i)
        r = (mg.point_mm - posture.cut_points[i]) / 1000.0
        arm = frame.T @ np.cross(r, mg.unit).T if len(mg.names) else np.zeros((3, 0))
        out.append(LevelSystem(lv, frame, force[i], frame.T @ moment[i], mg, arm))
    return posture, out


#: Shoulder-girdle muscles: no tonic lower bound (the EMG evidence for tonic activity in relaxed
#: standing concerns the axial trunk muscles; with the arms relaxed these are nearly silent).
SHOULDER_GIRDLE_GROUPS = ("trapezius", "latissimus_dorsi", "pectoralis_major", "serratus_anterior")


def tonic_bounds(names: list[str], tonic: float) -> np.ndarray:
    """Per-muscle lower activation bound: ``tonic`` for axial trunk muscles, 0 for the girdle."""
    return np.array([0.0 if n.rsplit("_", 1)[0] in SHOULDER_GIRDLE_GROUPS else tonic
                     for n in names])


def solve_system(sys_: LevelSystem, stress: float, p: int, tonic: float = 0.0
                 ) -> tuple[np.ndarray | None, str, str]:
    """Muscle forces (N) or None when infeasible; tonic activation dropped (and said) where the
    muscles crossing the cut cannot balance it."""
    fmax = stress * sys_.muscles.csa_mm2 / 100.0
    a_eq, b_eq = sys_.arm_local[:2] * fmax[None, :], -sys_.moment_local[:2]
    res = solve_level(a_eq, b_eq, p, tonic_bounds(sys_.muscles.names, tonic))
    msg = res.message
    if not res.feasible and tonic > 0:
        res = solve_level(a_eq, b_eq, p, 0.0)
        if res.feasible:
            msg = (f"tonic co-activation {tonic:g} dropped: the muscles crossing this cut have no "
                   "antagonist to balance it")
    if not res.feasible:
        return None, "infeasible", res.message
    return res.activation * fmax, "ok", msg


def resolve(sys_: LevelSystem, forces: np.ndarray) -> tuple[float, float, float]:
    total = sys_.force_ext + (forces[:, None] * sys_.muscles.unit).sum(0)
    e_x, e_y, e_z = sys_.frame.T
    return float(-total @ e_z), float(-total @ e_y), float(total @ e_x)


def solve_activity(subject: SubjectModel, act: Activity, p: int = 2,
                   sensitivity: bool = True) -> list[LevelResult]:
    _, systems = level_systems(subject, act)
    out = []
    for s in systems:
        forces, status, msg = solve_system(s, subject.muscle_stress_N_cm2, p,
                                           subject.tonic_activation)
        grav = float(-s.force_ext @ s.frame[:, 2])
        if forces is None:
            out.append(LevelResult(s.level, status, msg, None, None, None, gravity_N=grav,
                                   moment_ext_Nm=tuple(float(v) for v in s.moment_local)))
        else:
            c, sap, slat = resolve(s, forces)
            fmax = subject.muscle_stress_N_cm2 * s.muscles.csa_mm2 / 100.0
            tors = -(float(s.moment_local[2]) + float(s.arm_local[2] @ forces))
            out.append(LevelResult(
                s.level, status, None if msg == "ok" else msg, c, sap, slat,
                {n: float(f) for n, f in zip(s.muscles.names, forces)}, grav,
                tuple(float(v) for v in s.moment_local), tors,
                float((forces / fmax).max()) if len(forces) else 0.0))
        if sensitivity:
            out[-1].by_stress = _by_stress(s, forces, p, subject.tonic_activation,
                                           subject.muscle_stress_N_cm2)
    return out


def _by_stress(s: LevelSystem, forces: np.ndarray | None, p: int, tonic: float,
               stress0: float) -> dict[str, float | None]:
    res: dict[str, float | None] = {}
    for st in STRESS_SENSITIVITY_N_CM2:
        if st == stress0:
            f = forces
        else:
            f, _, _ = solve_system(s, st, p, tonic)
        res[f"{st:g}"] = None if f is None else round(resolve(s, f)[0], 1)
    return res

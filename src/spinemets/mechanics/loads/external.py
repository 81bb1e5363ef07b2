"""Gravity and hand loads above every cut, and muscle lines of action, for one posture.

Mass model (the same in both solvers): the trunk slab of level k (mass at its centre of mass) moves
with k's frame and lies above k's cut (the disc below vertebra k). Head-neck hangs from T1's frame,
the shoulder girdle from the frame of ``subject.shoulder_level`` (T4); the arms hang by gravity in
the sagittal plane at the angles of the activity and the hand loads act at the grip points. So the
body above the cut of level i = slabs T1..i + head + arms (for i at or below the shoulder level) +
hand loads.

Muscles: each level's muscles cross only that level's cut. Muscle j runs from a point on the frame
below (k+1, or the pelvis for L5) to a point on level k's frame, both at the muscle's in-plane
offset from the cut point and ``muscle_path_half_length_mm`` below/above the cut plane along the
standing e_z; its force on the upper body acts at the upper point towards the lower point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..activities import Activity
from ..subject import SubjectModel
from .posture import Posture, attach

G = 9.81  # m/s2


@dataclass
class PointLoad:
    position_mm: np.ndarray  # (3,) posture frame
    force_N: np.ndarray      # (3,)
    level_index: int         # frame it is attached to (load is above cut i iff level_index <= i)
    name: str


def mass_points(subject: SubjectModel, posture: Posture, act: Activity) -> list[PointLoad]:
    """All gravitational and hand loads of the activity (attachment level for each)."""
    down = np.array([0.0, 0.0, -1.0])
    pts: list[PointLoad] = []
    n = len(subject.levels)
    for k in range(n):
        pts.append(PointLoad(attach(posture, subject, k, subject.slab_com_mm[k]),
                             subject.slab_mass_kg[k] * G * down, k, f"slab_{subject.levels[k]}"))
    pts.append(PointLoad(attach(posture, subject, 0, subject.head_com_mm),
                         subject.head_mass_kg * G * down, 0, "head_neck"))
    for arm in arm_points(subject, posture, act):
        pts.append(arm)
    return pts


def arm_directions(act: Activity) -> tuple[np.ndarray, np.ndarray]:
    a = np.radians(act.upper_arm_deg)
    b = a + np.radians(act.elbow_flexion_deg)
    # forward = -y (anterior), down = -z
    return np.array([0.0, -np.sin(a), -np.cos(a)]), np.array([0.0, -np.sin(b), -np.cos(b)])


def arm_points(subject: SubjectModel, posture: Posture, act: Activity) -> list[PointLoad]:
    g = subject.arm_geometry_mm
    k = subject.levels.index(subject.shoulder_level)
    m = subject.arm_mass_kg
    d_ua, d_fa = arm_directions(act)
    down = np.array([0.0, 0.0, -1.0])
    out = []
    for side, sh0, load in (("left", subject.shoulder_mm[0], act.hand_load_left_kg),
                            ("right", subject.shoulder_mm[1], act.hand_load_right_kg)):
        sh = attach(posture, subject, k, sh0)
        elbow = sh + g["upper_arm_length"] * d_ua
        wrist = elbow + g["forearm_length"] * d_fa
        out += [PointLoad(sh + g["upper_arm_com"] * d_ua, m["upper_arm"] * G * down, k,
                          f"upper_arm_{side}"),
                PointLoad(elbow + g["forearm_com"] * d_fa, m["forearm"] * G * down, k,
                          f"forearm_{side}"),
                PointLoad(wrist + g["hand_com"] * d_fa, m["hand"] * G * down, k, f"hand_{side}")]
        if load > 0:
            out.append(PointLoad(wrist + g["grip"] * d_fa, load * G * down, k,
                                 f"hand_load_{side}"))
    return out


def external_loads(subject: SubjectModel, posture: Posture, act: Activity
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Force (17, 3) [N] and moment about each cut point (17, 3) [N m] of everything above each
    cut, in the posture (global) frame."""
    pts = mass_points(subject, posture, act)
    pos = np.stack([p.position_mm for p in pts])          # (P, 3)
    frc = np.stack([p.force_N for p in pts])              # (P, 3)
    lvl = np.array([p.level_index for p in pts])
    n = len(subject.levels)
    above = lvl[None, :] <= np.arange(n)[:, None]          # (n, P)
    force = above.astype(float) @ frc
    r = (pos[None, :, :] - posture.cut_points[:, None, :]) / 1000.0  # (n, P, 3) m
    mom = np.einsum("np,npk->nk", above.astype(float), np.cross(r, frc[None, :, :]))
    return force, mom


@dataclass
class MuscleGeometry:
    names: list[str]
    point_mm: np.ndarray   # (m, 3) application point on the upper body (posture frame)
    unit: np.ndarray       # (m, 3) unit force direction on the upper body
    csa_mm2: np.ndarray    # (m,)


def muscle_path_points(subject: SubjectModel, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Standing-frame (upper, lower) path points (m, 3) of level k's muscles."""
    fr = subject.frames[k]
    c0 = subject.cut_mm[k]
    half = subject.muscle_path_half_length_mm
    offs = np.array([[mu.left_mm, -mu.anterior_mm, 0.0] for mu in subject.muscles[subject.levels[k]]]
                    ).reshape(-1, 3)
    base = c0 + offs @ fr.T
    return base + half * fr[:, 2], base - half * fr[:, 2]


def muscle_geometry(subject: SubjectModel, posture: Posture, k: int) -> MuscleGeometry:
    ms = subject.muscles[subject.levels[k]]
    if not ms:
        return MuscleGeometry([], np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
    up0, lo0 = muscle_path_points(subject, k)
    n = len(subject.levels)
    up = np.stack([attach(posture, subject, k, p) for p in up0])
    lo = np.stack([attach(posture, subject, k + 1 if k + 1 < n else -1, p) for p in lo0])
    u = lo - up
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return MuscleGeometry([m.name for m in ms], up, u, np.array([m.csa_mm2 for m in ms]))

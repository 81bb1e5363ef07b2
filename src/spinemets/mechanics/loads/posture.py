"""Task posture: rotate the standing subject into an activity's posture.

Kinematic chain (standing frame, LPS mm, gravity along -z): the pelvis rotates about the hip axis by
``pelvis_share * trunk_flexion``; every level k has a joint centred on its cut point (the centre of
the intervertebral disc below vertebra k, ``subject.cut_mm``) that rotates everything above it (its own frame included) by its share of the
remaining flexion and of the lateral bend (shares proportional to typical intervertebral range of
motion, default_anatomy.ROM_*). Joint rotations are about the parent's axes: flexion about +x (top
moves anteriorly), lateral bend about +y (positive bend to the subject's right = negative rotation).

Points are attached to a level's frame: ``p = j_k + Q_k (p0 - j0_k)`` with ``j`` the cut point and
``Q_k`` the rotation of that frame from standing to the posture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import default_anatomy as da
from ..activities import Activity
from ..subject import SubjectModel


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


@dataclass
class Posture:
    """Positions and rotations of all level frames in one activity."""

    pelvis_rot: np.ndarray        # (3, 3)
    joint_flex_rad: np.ndarray    # (17,) per level joint (at its centroid)
    joint_bend_rad: np.ndarray    # (17,) rotation about +y (left bend > 0)
    rot: np.ndarray               # (17, 3, 3) Q_k, standing -> posture
    cut_points: np.ndarray        # (17, 3) posture positions of the cut points (joint centres)
    hip: np.ndarray               # (3,)
    pelvis_rot_angle: float = 0.0  # pelvic flexion (rad)


def joint_angles(act: Activity, levels: list[str]) -> tuple[float, np.ndarray, np.ndarray]:
    """(pelvis flexion, per-level flexion, per-level rotation about +y) in radians."""
    flex = np.radians(act.trunk_flexion_deg)
    pelvis = act.pelvis_share * flex
    wf = np.array([da.ROM_FLEXION_DEG[lv] for lv in levels], float)
    wb = np.array([da.ROM_LATERAL_DEG[lv] for lv in levels], float)
    jf = (flex - pelvis) * wf / wf.sum()
    jb = -np.radians(act.lateral_bend_deg) * wb / wb.sum()
    return pelvis, jf, jb


def pose(subject: SubjectModel, act: Activity) -> Posture:
    n = len(subject.levels)
    pelvis, jf, jb = joint_angles(act, subject.levels)
    qp = rot_x(pelvis)
    hip = subject.hip_mm
    c0 = subject.cut_mm
    rot = np.zeros((n, 3, 3))
    cen = np.zeros((n, 3))
    parent_rot, parent_pos, parent_c0 = qp, hip, hip
    for k in range(n - 1, -1, -1):  # L5 up to T1
        cen[k] = parent_pos + parent_rot @ (c0[k] - parent_c0)
        rot[k] = parent_rot @ rot_x(jf[k]) @ rot_y(jb[k])
        parent_rot, parent_pos, parent_c0 = rot[k], cen[k], c0[k]
    return Posture(qp, jf, jb, rot, cen, hip, float(pelvis))


def attach(posture: Posture, subject: SubjectModel, k: int, p0: np.ndarray) -> np.ndarray:
    """Posture position of a standing-frame point ``p0`` rigidly attached to level ``k``'s frame
    (``k = -1``: the pelvis)."""
    if k < 0:
        return posture.hip + posture.pelvis_rot @ (np.asarray(p0) - subject.hip_mm)
    return posture.cut_points[k] + posture.rot[k] @ (np.asarray(p0) - subject.cut_mm[k])

"""The spine's sagittal centreline and one rigid frame per vertebra (LPS mm).

The centreline lies in the mid-sagittal plane (x = 0). Its superior tangent is tilted by an angle
``phi`` towards posterior (+y): negative at the upper thoracic spine (kyphosis), positive at the
thoraco-lumbar junction, negative again at L5/S1 (lordosis). The knots below give a thoracic
kyphosis (T1-T12 tangent change) of ~40 deg and a lumbar lordosis (L1-S1) of ~45 deg, typical
adult values (e.g. Roussouly et al., Spine 2005; supine values are a little flatter).

Each vertebra's frame has its origin at the body centre and columns (u, v, w): u = patient left,
v = posterior, perpendicular to the centreline, w = superior along the centreline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from .dimensions import LevelDims

#: Level order of the generated spine (C7 only as the partly visible neighbour above T1).
SPINE_LEVELS = ["C7"] + [f"T{i}" for i in range(1, 13)] + [f"L{i}" for i in range(1, 6)]

#: superior-tangent tilt towards posterior, deg, at the body centres (and S1)
_PHI_KNOTS = {"C7": -24.0, "T1": -20.0, "T4": -10.0, "T7": 0.0, "T10": 10.0, "T12": 18.0,
              "L1": 15.0, "L2": 8.0, "L3": -1.0, "L4": -11.0, "L5": -21.0, "S1": -30.0}


@dataclass(frozen=True)
class Frame:
    """Rigid frame: local (u, v, w) mm -> LPS mm is ``origin + R @ local``."""

    origin: np.ndarray  # (3,) LPS mm
    R: np.ndarray  # (3, 3), columns u, v, w

    def to_lps(self, local: np.ndarray) -> np.ndarray:
        return np.asarray(local) @ self.R.T + self.origin

    def to_local(self, lps: np.ndarray) -> np.ndarray:
        return (np.asarray(lps) - self.origin) @ self.R

    @property
    def matrix(self) -> np.ndarray:
        """4x4 homogeneous local -> LPS."""
        m = np.eye(4)
        m[:3, :3] = self.R
        m[:3, 3] = self.origin
        return m


def frame_from_phi(origin: np.ndarray, phi_rad: float, roll: np.ndarray | None = None) -> Frame:
    w = np.array([0.0, np.sin(phi_rad), np.cos(phi_rad)])
    u = np.array([1.0, 0.0, 0.0])
    v = np.cross(w, u)
    R = np.stack([u, v, w], axis=1)
    if roll is not None:
        R = roll @ R
    return Frame(np.asarray(origin, float), R)


@dataclass
class SpineLayout:
    """Body-centre frames of every generated level plus the dense centreline."""

    frames: dict[str, Frame]
    phi_deg: dict[str, float]
    centreline_lps: np.ndarray  # (n, 3) dense points, superior to inferior
    sacrum_frame: Frame


def layout_spine(dims: dict[str, LevelDims], phi_scale_thoracic: float = 1.0,
                 phi_scale_lumbar: float = 1.0, top_z_mm: float = 0.0,
                 sacrum_height_mm: float = 30.0, heights: dict[str, float] | None = None,
                 phi_offset_deg: float = 0.0) -> SpineLayout:
    """Stack the levels along the curved centreline (bodies + discs) from ``top_z_mm`` down.

    ``phi_scale_*`` scale the curvature and ``phi_offset_deg`` tilts the whole spine (pitch);
    follow-ups use them to change the pose. ``heights`` overrides central body heights (mm),
    e.g. of a collapsed vertebra.
    """
    heights = heights or {}
    names = [lv for lv in SPINE_LEVELS if lv in dims] + ["S1"]
    # arc-length position of each body centre (s grows caudally)
    s_c = []
    s = 0.0
    for i, lv in enumerate(names):
        h = heights.get(lv, dims[lv].H) if lv != "S1" else sacrum_height_mm
        if i > 0:
            s += dims[names[i - 1]].disc
        s_c.append(s + h / 2)
        s += h
    s_c = np.asarray(s_c)
    knots_s, knots_phi = [], []
    for lv, sc in zip(names, s_c):
        if lv in _PHI_KNOTS:
            scale = phi_scale_lumbar if (lv.startswith("L") or lv == "S1") else phi_scale_thoracic
            knots_s.append(sc)
            knots_phi.append(_PHI_KNOTS[lv] * scale + phi_offset_deg)
    phi_of_s = PchipInterpolator(knots_s, np.radians(knots_phi), extrapolate=True)
    ss = np.arange(-20.0, s + 40.0, 0.25)
    phi = phi_of_s(ss)
    # moving caudally by ds: d(y, z) = -(sin phi, cos phi) ds
    dy = -np.sin(phi) * 0.25
    dz = -np.cos(phi) * 0.25
    y = np.concatenate([[0.0], np.cumsum(dy[:-1])])
    z = np.concatenate([[0.0], np.cumsum(dz[:-1])])
    pts = np.stack([np.zeros_like(y), y, z], axis=1)
    frames: dict[str, Frame] = {}
    phis: dict[str, float] = {}
    for lv, sc in zip(names, s_c):
        o = np.array([0.0, np.interp(sc, ss, y), np.interp(sc, ss, z)])
        frames[lv] = frame_from_phi(o, float(phi_of_s(sc)))
        phis[lv] = float(np.degrees(phi_of_s(sc)))
    shift = np.array([0.0, 0.0, top_z_mm - frames[names[0]].origin[2]])
    frames = {k: Frame(f.origin + shift, f.R) for k, f in frames.items()}
    sac = frames.pop("S1")
    return SpineLayout(frames, phis, pts + shift, sac)


def rigid_about(frame: Frame, R: np.ndarray, t: np.ndarray, centre: np.ndarray) -> Frame:
    """Apply the rigid motion x -> R (x - centre) + centre + t to a frame."""
    o = R @ (frame.origin - centre) + centre + t
    return Frame(o, R @ frame.R)

"""The fine voxel grid the phantom is painted on, and its material table.

The canvas has the output pixel size in-plane and ``slice_mm / oversample_z`` along z; the CT is
formed by averaging the sub-slices of each output slice (slice profile, partial volume). The label
maps use the same sub-slices: a voxel takes the label that fills most of its volume (the mode over
its sub-slices, background included; ties go to the central sub-slice), so that the truth describes
the same volume the CT value averages. Arrays are ``[z, y, x]`` uint8; LPS with identity direction.

Material ids (uint8): fixed tissues below 40, per-level trabecular bone 40-69, lesion materials
from 100 (one per lesion and component). ``MaterialTable`` maps id -> (HU, texture SD in HU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# fixed material ids
AIR, FAT_SC, FAT_VISC, MUSCLE, SOFT, BLOOD, LUNG, CSF, DISC, CORTICAL, TABLE_SHELL, TABLE_FOAM, \
    RESIN, RIB_MARROW, LIVER, KIDNEY, HEART, BOWEL, FAT_INTER, SPLEEN = range(20)
ROD0 = 30  # calibration rods 30..39
TRAB0 = 40  # trabecular bone per level 40..69
LESION0 = 100


@dataclass
class MaterialTable:
    hu: np.ndarray = field(default_factory=lambda: np.zeros(256, np.float32))
    texture_sd: np.ndarray = field(default_factory=lambda: np.zeros(256, np.float32))
    names: dict[int, str] = field(default_factory=dict)

    def set(self, mid: int, name: str, hu: float, texture_sd: float = 0.0) -> None:
        self.hu[mid] = hu
        self.texture_sd[mid] = texture_sd
        self.names[mid] = name


@dataclass
class Canvas:
    """Fine grid: labels (anatomy ids), materials, body flag, lesion instance ids."""

    shape: tuple[int, int, int]  # (nz, ny, nx)
    spacing: tuple[float, float, float]  # (x, y, z) mm
    origin: tuple[float, float, float]  # (x, y, z) LPS mm of voxel [0, 0, 0]
    lab: np.ndarray = field(init=False)
    mat: np.ndarray = field(init=False)
    body: np.ndarray = field(init=False)
    les: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.lab = np.zeros(self.shape, np.uint8)
        self.mat = np.zeros(self.shape, np.uint8)
        self.body = np.zeros(self.shape, np.uint8)  # vertebra id where the voxel is vertebral body
        self.les = np.zeros(self.shape, np.uint8)  # lesion instance (1-based)

    def axis_coords(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """1-D LPS coordinates (x, y, z) of the voxel centres along each axis."""
        nz, ny, nx = self.shape
        sx, sy, sz = self.spacing
        ox, oy, oz = self.origin
        return (ox + sx * np.arange(nx), oy + sy * np.arange(ny), oz + sz * np.arange(nz))

    def box(self, lo: np.ndarray, hi: np.ndarray):
        """Index slices of the LPS box [lo, hi] clipped to the grid, and the broadcastable
        float32 coordinates (z[:,None,None], y[None,:,None], x[None,None,:]); None if empty."""
        nz, ny, nx = self.shape
        sx, sy, sz = self.spacing
        ox, oy, oz = self.origin
        i0 = max(int(np.floor((lo[0] - ox) / sx)), 0)
        i1 = min(int(np.ceil((hi[0] - ox) / sx)) + 1, nx)
        j0 = max(int(np.floor((lo[1] - oy) / sy)), 0)
        j1 = min(int(np.ceil((hi[1] - oy) / sy)) + 1, ny)
        k0 = max(int(np.floor((lo[2] - oz) / sz)), 0)
        k1 = min(int(np.ceil((hi[2] - oz) / sz)) + 1, nz)
        if i0 >= i1 or j0 >= j1 or k0 >= k1:
            return None
        x = (ox + sx * np.arange(i0, i1, dtype=np.float32))[None, None, :]
        y = (oy + sy * np.arange(j0, j1, dtype=np.float32))[None, :, None]
        z = (oz + sz * np.arange(k0, k1, dtype=np.float32))[:, None, None]
        return (slice(k0, k1), slice(j0, j1), slice(i0, i1)), (z, y, x)

    def frame_region(self, origin: np.ndarray, R: np.ndarray, ext: np.ndarray):
        """Index slices of the grid covering the local box ``ext`` ([[lo u,v,w], [hi u,v,w]], mm)
        of the frame (origin, R columns) and the local (u, v, w) float32 coordinates there, as
        ``(slices, u, v, w)``; None when the box misses the grid."""
        b = self.box(*frame_box(origin, R, ext))
        if b is None:
            return None
        sl, co = b
        return (sl, *self.local_coords(co, origin, R))

    def local_coords(self, coords, origin: np.ndarray, R: np.ndarray):
        """Local (u, v, w) float32 arrays for the box coordinates in a frame (origin, R cols)."""
        z, y, x = coords
        dx = x - np.float32(origin[0])
        dy = y - np.float32(origin[1])
        dz = z - np.float32(origin[2])
        Rf = R.astype(np.float32)
        u = dx * Rf[0, 0] + dy * Rf[1, 0] + dz * Rf[2, 0]
        v = dx * Rf[0, 1] + dy * Rf[1, 1] + dz * Rf[2, 1]
        w = dx * Rf[0, 2] + dy * Rf[1, 2] + dz * Rf[2, 2]
        return u, v, w


def majority_subslices(fine: np.ndarray, ns: int, chunk: int = 16) -> np.ndarray:
    """Output-slice label map of a fine uint8 label array ``[nz * ns, ny, nx]``: per voxel, the
    label held by most of its ``ns`` sub-slices (majority occupancy; background is a label like
    any other). Ties go to the label of the central sub-slice when it is among the tied ones,
    else to the tied label of the lowest sub-slice. ``ns == 1`` returns the array itself."""
    if ns == 1:
        return fine
    nzf, ny, nx = fine.shape
    nz = nzf // ns
    c0 = ns // 2
    out = np.empty((nz, ny, nx), fine.dtype)
    for k0 in range(0, nz, chunk):
        k1 = min(k0 + chunk, nz)
        sub = fine[k0 * ns:k1 * ns].reshape(k1 - k0, ns, ny, nx)
        best = sub[:, c0].copy()
        if ns == 3:
            # the only way the central label loses: both outer sub-slices agree on another label
            a, c = sub[:, 0], sub[:, 2]
            flip = (a == c) & (a != best)
            best[flip] = a[flip]
        else:
            count = [np.zeros((k1 - k0, ny, nx), np.uint8) for _ in range(ns)]
            for i in range(ns):
                for j in range(ns):
                    count[i] += sub[:, i] == sub[:, j]
            best_n = count[c0].copy()
            for i in range(ns):
                better = count[i] > best_n
                best[better] = sub[:, i][better]
                best_n[better] = count[i][better]
        out[k0:k1] = best
    return out


def frame_box(origin: np.ndarray, R: np.ndarray, ext: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LPS axis-aligned bounds of a local box ext = [[lo u,v,w], [hi u,v,w]] in a frame."""
    corners = np.array([[ext[i, 0], ext[j, 1], ext[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    pts = corners @ R.T + origin
    return pts.min(axis=0), pts.max(axis=0)

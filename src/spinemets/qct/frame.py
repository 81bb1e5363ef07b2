"""The vertebra's own frame and resampling of image data onto it.

A :class:`LocalFrame` has its origin at the body centroid (LPS mm) and three unit axes (LPS):
``e_s`` the vertebra's cranio-caudal axis (pointing superior), ``e_a`` anterior (the patient's
anterior direction made orthogonal to ``e_s``) and ``e_l = e_s x e_a`` (patient's left).
Local grids are indexed ``[s, a, l]`` (inferior->superior, posterior->anterior, right->left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..image import Geometry


@dataclass
class LocalFrame:
    origin_lps_mm: np.ndarray
    e_s: np.ndarray
    e_a: np.ndarray
    e_l: np.ndarray
    axis_source: str

    def to_dict(self) -> dict:
        return {"origin_lps_mm": self.origin_lps_mm.tolist(), "axis_superior_lps": self.e_s.tolist(),
                "axis_anterior_lps": self.e_a.tolist(), "axis_source": self.axis_source}


def voxel_points_lps(mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    """LPS coordinates (n, 3) of the voxels of ``mask``."""
    return geometry.index_zyx_to_lps(np.argwhere(mask).astype(float))


def body_centroid_lps(mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    return voxel_points_lps(mask, geometry).mean(axis=0)


def body_centre_lps(mask: np.ndarray, geometry: Geometry, erosion_mm: float = 3.0) -> np.ndarray:
    """Centroid (LPS) of ``mask`` eroded by ``erosion_mm`` with a box of whole voxels (at least
    one voxel per axis): robust against spikes and end-plate partial volume. Falls back to the
    plain centroid when the erosion leaves nothing."""
    sp = np.asarray(geometry.spacing_mm[::-1], float)
    size = tuple(2 * max(1, int(round(erosion_mm / s))) + 1 for s in sp)
    er = ndimage.minimum_filter(mask.astype(np.uint8), size=size, mode="constant", cval=0) > 0
    return body_centroid_lps(er if er.any() else mask, geometry)


def half_voxel_mm(direction_lps: np.ndarray, geometry: Geometry) -> float:
    """Length (mm) of half a voxel step of the CT grid along ``direction_lps``: a step of 0.5 in
    voxel-index units along that direction (0.5 x spacing for a voxel axis)."""
    d = np.asarray(direction_lps, float) / np.linalg.norm(direction_lps)
    per_mm = np.linalg.solve(geometry.direction_matrix, d) / np.asarray(geometry.spacing_mm)
    return float(0.5 / np.linalg.norm(per_mm))


def make_frame(body_mask: np.ndarray, geometry: Geometry,
               axis_hint_lps: np.ndarray | None = None) -> LocalFrame:
    """Frame of one body. ``axis_hint_lps``: cranio-caudal direction from the neighbouring bodies'
    centroids (preferred); otherwise the body's shortest principal axis (a vertebral body is
    wider than tall), or the scanner S axis when that axis is more than 45 deg from S."""
    pts = voxel_points_lps(body_mask, geometry)
    origin = pts.mean(axis=0)
    s_scanner = np.array([0.0, 0.0, 1.0])
    source = "neighbour_centroids"
    if axis_hint_lps is not None and np.linalg.norm(axis_hint_lps) > 0:
        e_s = np.asarray(axis_hint_lps, float) / np.linalg.norm(axis_hint_lps)
    else:
        source = "principal_axis"
        cov = np.cov((pts - origin).T)
        w, v = np.linalg.eigh(cov)
        e_s = v[:, 0]
    if e_s @ s_scanner < 0:
        e_s = -e_s
    if e_s @ s_scanner < np.cos(np.radians(45)):
        e_s, source = s_scanner, "scanner_axis"
    ant = np.array([0.0, -1.0, 0.0])
    e_a = ant - (ant @ e_s) * e_s
    e_a /= np.linalg.norm(e_a)
    e_l = np.cross(e_s, e_a)
    return LocalFrame(origin, e_s, e_a, e_l, source)


@dataclass
class LocalGrid:
    """An isotropic grid in a local frame: index (k, j, i) -> origin + ((k,j,i) - center)*h."""

    frame: LocalFrame
    spacing_mm: float
    shape: tuple[int, int, int]
    center: np.ndarray  # (3,) index of the frame origin

    def index_of(self, point_lps: np.ndarray) -> np.ndarray:
        """Float grid index (k, j, i) of an LPS point."""
        f = self.frame
        d = np.asarray(point_lps, float) - f.origin_lps_mm
        return self.center + np.array([d @ f.e_s, d @ f.e_a, d @ f.e_l]) / self.spacing_mm

    def points_lps(self) -> np.ndarray:
        k, j, i = np.meshgrid(*[np.arange(n, dtype=float) for n in self.shape], indexing="ij")
        d = np.stack([k, j, i], axis=-1) - self.center
        f = self.frame
        return (f.origin_lps_mm + self.spacing_mm * (d[..., 0:1] * f.e_s + d[..., 1:2] * f.e_a
                                                     + d[..., 2:3] * f.e_l))


def grid_around(mask: np.ndarray, geometry: Geometry, frame: LocalFrame, spacing_mm: float,
                margin_mm: float = 2.0) -> LocalGrid:
    """The smallest local grid that holds ``mask`` plus ``margin_mm``."""
    pts = voxel_points_lps(mask, geometry) - frame.origin_lps_mm
    local = np.stack([pts @ frame.e_s, pts @ frame.e_a, pts @ frame.e_l], axis=1)
    half_vox = 0.5 * max(geometry.spacing_mm)
    lo = local.min(axis=0) - margin_mm - half_vox
    hi = local.max(axis=0) + margin_mm + half_vox
    shape = tuple(int(np.ceil((hi[d] - lo[d]) / spacing_mm)) + 1 for d in range(3))
    center = -lo / spacing_mm
    return LocalGrid(frame, float(spacing_mm), shape, center)  # type: ignore[arg-type]


def resample(volume: np.ndarray, geometry: Geometry, grid: LocalGrid, order: int = 1,
             cval: float = 0.0) -> np.ndarray:
    """Sample ``volume`` ([z, y, x] on ``geometry``) at the local grid points (order 0 or 1)."""
    idx = geometry.lps_to_index_zyx(grid.points_lps())
    coords = np.moveaxis(idx, -1, 0)
    return ndimage.map_coordinates(np.asarray(volume, dtype=np.float32 if order else volume.dtype),
                                   coords, order=order, mode="constant", cval=cval)

"""Typed image objects exchanged between stages.

Conventions (used by every stage of spinemets):

* Arrays are numpy arrays indexed ``[k, j, i]`` = ``[z, y, x]`` (the order of
  ``SimpleITK.GetArrayFromImage``).
* Physical coordinates are **LPS** millimetres, as in ITK/DICOM: +x towards the patient's Left,
  +y towards Posterior, +z towards Superior (head).
* ``Geometry.spacing_mm``, ``origin_lps_mm`` and ``direction`` follow ITK: spacing and origin are
  given in (x, y, z) order, ``direction`` is a 3x3 matrix whose *columns* are the LPS unit vectors
  of the i, j, k voxel axes. ``lps = origin + direction @ (spacing * [i, j, k])``.
* CT voxel values are Hounsfield units (float32 or int16).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """Voxel grid of an image: shape (z, y, x), spacing/origin (x, y, z) in mm, LPS direction."""

    shape_zyx: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_lps_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape_zyx", tuple(int(s) for s in self.shape_zyx))
        object.__setattr__(self, "spacing_mm", tuple(float(s) for s in self.spacing_mm))
        object.__setattr__(self, "origin_lps_mm", tuple(float(s) for s in self.origin_lps_mm))
        d = tuple(float(v) for v in np.asarray(self.direction, dtype=float).ravel())
        if len(d) != 9:
            raise ValueError("direction must have 9 elements")
        object.__setattr__(self, "direction", d)

    @property
    def direction_matrix(self) -> np.ndarray:
        """3x3 direction matrix; column c is the LPS unit vector of voxel axis c (i, j, k)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def voxel_volume_mm3(self) -> float:
        sx, sy, sz = self.spacing_mm
        return sx * sy * sz

    @property
    def affine_lps(self) -> np.ndarray:
        """4x4 matrix mapping homogeneous voxel index (i, j, k, 1) to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction_matrix * np.asarray(self.spacing_mm)[None, :]
        a[:3, 3] = self.origin_lps_mm
        return a

    def index_zyx_to_lps(self, idx_zyx: np.ndarray) -> np.ndarray:
        """Continuous voxel indices ``(..., 3)`` in (z, y, x) order -> LPS mm ``(..., 3)``."""
        idx = np.asarray(idx_zyx, dtype=float)[..., ::-1]  # -> (i, j, k)
        return idx @ self.affine_lps[:3, :3].T + self.affine_lps[:3, 3]

    def lps_to_index_zyx(self, lps: np.ndarray) -> np.ndarray:
        """LPS mm ``(..., 3)`` -> continuous voxel indices ``(..., 3)`` in (z, y, x) order."""
        inv = np.linalg.inv(self.affine_lps)
        ijk = np.asarray(lps, dtype=float) @ inv[:3, :3].T + inv[:3, 3]
        return ijk[..., ::-1]

    def axis_of(self, lps_axis: int) -> int:
        """Numpy array axis (0=z, 1=y, 2=x) most aligned with LPS axis 0 (L), 1 (P) or 2 (S)."""
        col = int(np.argmax(np.abs(self.direction_matrix[lps_axis, :])))
        return 2 - col

    def is_same_grid(self, other: "Geometry", tol_mm: float = 1e-3) -> bool:
        return (
            self.shape_zyx == other.shape_zyx
            and np.allclose(self.spacing_mm, other.spacing_mm, atol=1e-4)
            and np.allclose(self.origin_lps_mm, other.origin_lps_mm, atol=tol_mm)
            and np.allclose(self.direction, other.direction, atol=1e-4)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape_zyx": list(self.shape_zyx),
            "spacing_mm": list(self.spacing_mm),
            "origin_lps_mm": list(self.origin_lps_mm),
            "direction": list(self.direction),
            "coordinate_system": "LPS",
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Geometry":
        return cls(tuple(d["shape_zyx"]), tuple(d["spacing_mm"]), tuple(d["origin_lps_mm"]),
                   tuple(d["direction"]))

    @classmethod
    def from_sitk(cls, img: Any) -> "Geometry":
        size = img.GetSize()
        return cls((size[2], size[1], size[0]), img.GetSpacing(), img.GetOrigin(), img.GetDirection())

    def apply_to_sitk(self, img: Any) -> Any:
        img.SetSpacing(self.spacing_mm)
        img.SetOrigin(self.origin_lps_mm)
        img.SetDirection(self.direction)
        return img


@dataclass
class CTImage:
    """A CT volume in Hounsfield units with its geometry and provenance.

    ``metadata`` holds what the reader learnt (modality, series UID, source path, warnings, and
    for DICOM input the source datasets' identifiers needed to reference them from SEG/SR).
    """

    array: np.ndarray
    geometry: Geometry
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"CT array must be 3-D, got shape {self.array.shape}")
        if tuple(self.array.shape) != self.geometry.shape_zyx:
            raise ValueError(f"array shape {self.array.shape} != geometry {self.geometry.shape_zyx}")

    def to_sitk(self) -> Any:
        import SimpleITK as sitk

        return self.geometry.apply_to_sitk(sitk.GetImageFromArray(self.array))

    @classmethod
    def from_sitk(cls, img: Any, metadata: dict[str, Any] | None = None) -> "CTImage":
        import SimpleITK as sitk

        return cls(sitk.GetArrayFromImage(img), Geometry.from_sitk(img), dict(metadata or {}))


def label_voxel_counts(array: np.ndarray, minlength: int = 0) -> np.ndarray:
    """Voxel count per label value of a non-negative integer array (``np.bincount`` of it). Only the
    labelled (non-zero) voxels are counted, in chunks: a whole-volume ``bincount`` first converts
    the array to intp (8 bytes a voxel)."""
    flat = array[array != 0]
    out = np.zeros(max(int(minlength), 1), np.int64)
    chunk = 1 << 20
    for i in range(0, flat.size, chunk):
        c = np.bincount(flat[i:i + chunk], minlength=out.size)
        if c.size > out.size:
            c[:out.size] += out
            out = c
        else:
            out += c
    out[0] += array.size - flat.size
    return out if minlength or array.size else out[:0]


@dataclass
class LabelMap:
    """An integer label image on a known grid with its label table (id -> anatomy-table name)."""

    array: np.ndarray
    geometry: Geometry
    labels: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if tuple(self.array.shape) != self.geometry.shape_zyx:
            raise ValueError(f"array shape {self.array.shape} != geometry {self.geometry.shape_zyx}")
        if not np.issubdtype(self.array.dtype, np.integer):
            raise ValueError("label arrays must be integer")
        self.labels = {int(k): str(v) for k, v in self.labels.items()}

    def present_ids(self) -> list[int]:
        a = self.array
        if a.dtype.kind == "u" and a.dtype.itemsize <= 2:
            return [int(i) for i in np.flatnonzero(label_voxel_counts(a)) if i != 0]
        ids = np.unique(a)
        return [int(i) for i in ids if i != 0]

    def mask(self, label_id: int) -> np.ndarray:
        return self.array == label_id

    def volume_mm3(self, label_id: int) -> float:
        return float(np.count_nonzero(self.array == label_id)) * self.geometry.voxel_volume_mm3

    def to_sitk(self) -> Any:
        import SimpleITK as sitk

        return self.geometry.apply_to_sitk(sitk.GetImageFromArray(self.array))

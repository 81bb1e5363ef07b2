"""Oblique 2-D planes resampled from a 3-D volume.

A plane image has rows along the vertebra's *posterior* direction and columns along the
patient's *left*; pixel (r, c) lies at ``origin + (c - c0) * s * left + (r - r0) * s * posterior``
(LPS mm) where ``(r0, c0)`` is the centre pixel and ``s`` the pixel size in mm. The plane origin is
the vertebral body centroid, so plane coordinates (x = left, y = posterior, mm) are the vertebra's
own frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ..image import Geometry
from .frames import VertebraFrame


#: pixel size of the mid-vertebral planes (mm)
PLANE_PIXEL_MM = 1.0


@dataclass(frozen=True)
class Plane:
    origin_lps_mm: np.ndarray
    left: np.ndarray  # LPS unit vector of +column
    posterior: np.ndarray  # LPS unit vector of +row
    normal: np.ndarray  # LPS unit vector (cranial)
    pixel_mm: float
    shape: tuple[int, int]

    @classmethod
    def for_frame(cls, frame: VertebraFrame, geometry: Geometry, pixel_mm: float | None = None,
                  half_width_mm: float | None = None, volume: np.ndarray | None = None) -> "Plane":
        """Plane through the body centroid perpendicular to the local spine axis.

        ``pixel_mm`` defaults to 1 mm whatever the CT's pixel size (clinical scans have 0.6-1 mm;
        coarse scans are oversampled so that areas are not quantised to 9 mm^2 pixels);
        ``half_width_mm`` defaults to the largest distance from the centroid to a corner of the
        CT volume (the whole field of view is covered), at most 320 mm, shrunk to the extent of
        tissue (> -400 HU) plus 12 mm when the CT ``volume`` is given.
        """
        if pixel_mm is None:
            pixel_mm = PLANE_PIXEL_MM
        if half_width_mm is None:
            nz, ny, nx = geometry.shape_zyx
            corners = np.array([[z, y, x] for z in (0, nz - 1) for y in (0, ny - 1) for x in (0, nx - 1)], float)
            lps = geometry.index_zyx_to_lps(corners)
            d = lps - frame.origin_lps_mm
            d -= np.outer(d @ frame.superior, frame.superior)
            half_width_mm = float(min(np.linalg.norm(d, axis=1).max(), 320.0))
            if volume is not None:  # shrink to the patient: a coarse 4 mm look for tissue > -400 HU
                coarse = cls(np.asarray(frame.origin_lps_mm, float), np.asarray(frame.left, float),
                             -np.asarray(frame.anterior, float), np.asarray(frame.superior, float),
                             4.0, (int(2 * half_width_mm / 4.0) | 1,) * 2)
                img, inside = coarse.sample(volume, geometry, order=0, cval=-1024.0)
                tissue = (img > -400) & inside
                if tissue.any():
                    xx, yy = coarse.grid_mm()
                    half_width_mm = min(half_width_mm,
                                        float(max(np.abs(xx[tissue]).max(), np.abs(yy[tissue]).max())) + 12.0)
        n = int(np.ceil(2 * half_width_mm / pixel_mm)) | 1
        return cls(np.asarray(frame.origin_lps_mm, float), np.asarray(frame.left, float),
                   -np.asarray(frame.anterior, float), np.asarray(frame.superior, float),
                   float(pixel_mm), (n, n))

    def grid_mm(self) -> tuple[np.ndarray, np.ndarray]:
        """(x_left_mm, y_posterior_mm) of every pixel, each of ``shape``."""
        n_r, n_c = self.shape
        y = (np.arange(n_r) - n_r // 2) * self.pixel_mm
        x = (np.arange(n_c) - n_c // 2) * self.pixel_mm
        return np.meshgrid(x, y)

    def points_lps(self) -> np.ndarray:
        x, y = self.grid_mm()
        return self.origin_lps_mm + x[..., None] * self.left + y[..., None] * self.posterior

    def to_pixel(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        """Plane coordinates (mm) -> continuous (row, col)."""
        return y_mm / self.pixel_mm + self.shape[0] // 2, x_mm / self.pixel_mm + self.shape[1] // 2

    def project_lps(self, lps: np.ndarray) -> np.ndarray:
        """LPS points ``(..., 3)`` -> plane coordinates ``(..., 2)`` = (x_left_mm, y_posterior_mm)."""
        d = np.asarray(lps, float) - self.origin_lps_mm
        return np.stack([d @ self.left, d @ self.posterior], axis=-1)

    def sample(self, volume: np.ndarray, geometry: Geometry, order: int = 1,
               cval: float = 0.0, output: type | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Resample ``volume`` ([z, y, x] on ``geometry``) on the plane.

        Returns ``(image, inside)`` where ``inside`` marks pixels within the volume's extent.
        ``output``: the image's dtype (default: the volume's); the interpolation itself runs in
        double precision whatever the input dtype, so an int16 CT sampled with ``output=np.float32``
        gives the same image as its float32 copy would.
        """
        idx = geometry.lps_to_index_zyx(self.points_lps())
        coords = np.moveaxis(idx, -1, 0)
        shp = np.asarray(geometry.shape_zyx, float)[:, None, None]
        inside = np.all((coords >= -0.5) & (coords <= shp - 0.5), axis=0)
        img = ndi.map_coordinates(volume, coords, output=output, order=order,
                                  mode="nearest" if order == 0 else "constant", cval=cval, prefilter=False)
        return img, inside

    def to_dict(self) -> dict:
        return {"origin_lps_mm": [float(v) for v in self.origin_lps_mm],
                "normal_lps": [float(v) for v in self.normal],
                "left_lps": [float(v) for v in self.left],
                "posterior_lps": [float(v) for v in self.posterior],
                "pixel_mm": self.pixel_mm}

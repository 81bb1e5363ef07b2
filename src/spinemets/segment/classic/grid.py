"""Working grids of the classic backend: the CT in canonical LPS orientation, resampled isotropically.

The classic method works on an axis-aligned grid whose array axes are [z, y, x] = [S, P, L]
(index increases towards Superior, Posterior, Left). Spacings are in mm; the default value of
empty space is air (-1024 HU). Results are brought back onto the CT grid by nearest-neighbour
resampling in physical (LPS) space, so any input orientation works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

AIR_HU = -1024.0


@dataclass
class WorkGrid:
    """A resampled CT on a canonical grid: ``array`` [z, y, x] in HU, ``image`` the SimpleITK twin."""

    array: np.ndarray
    image: sitk.Image
    spacing_mm: float

    def index_to_lps(self, idx_zyx: np.ndarray) -> np.ndarray:
        """Continuous (z, y, x) indices -> LPS mm (axis-aligned canonical grid)."""
        idx = np.asarray(idx_zyx, dtype=float)
        origin = np.asarray(self.image.GetOrigin())
        return origin + idx[..., ::-1] * self.spacing_mm


def canonical_resample(img: sitk.Image, spacing_mm: float, bounds_lps: np.ndarray | None = None,
                       interpolator: int = sitk.sitkLinear, default: float = AIR_HU) -> sitk.Image:
    """Resample ``img`` onto an identity-direction (LPS) isotropic grid.

    ``bounds_lps`` ((xmin, ymin, zmin), (xmax, ymax, zmax)) restricts the grid to a box; by default
    the grid covers the image's physical bounding box.
    """
    if bounds_lps is None:
        size = np.asarray(img.GetSize())
        corners = []
        for c in np.ndindex(2, 2, 2):
            corners.append(img.TransformContinuousIndexToPhysicalPoint(
                [float(-0.5 + c[i] * size[i]) for i in range(3)]))
        corners = np.asarray(corners)
        lo, hi = corners.min(0), corners.max(0)
    else:
        lo, hi = np.asarray(bounds_lps[0], float), np.asarray(bounds_lps[1], float)
    n = np.maximum(1, np.round((hi - lo) / spacing_mm).astype(int))
    origin = lo + spacing_mm / 2.0
    origin = _snap_to_lattice(img, origin, spacing_mm)
    ref = sitk.Image([int(v) for v in n], sitk.sitkFloat32)
    ref.SetSpacing([spacing_mm] * 3)
    ref.SetOrigin([float(v) for v in origin])
    ref.SetDirection((1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    return sitk.Resample(img, ref, sitk.Transform(), interpolator, default,
                         sitk.sitkFloat32 if interpolator != sitk.sitkNearestNeighbor else img.GetPixelID())


def _snap_to_lattice(img: sitk.Image, origin: np.ndarray, spacing_mm: float) -> np.ndarray:
    """Move ``origin`` onto the image's voxel centres along every LPS axis where the image axis
    is aligned with it and has the working spacing, so that resampling there is exact (no
    interpolation blur, no half-voxel shift of the labels brought back)."""
    d = np.asarray(img.GetDirection()).reshape(3, 3)
    sp = np.asarray(img.GetSpacing())
    c0 = np.asarray(img.GetOrigin())
    out = np.array(origin, float)
    for a in range(3):
        col = int(np.argmax(np.abs(d[a, :])))
        if abs(abs(d[a, col]) - 1.0) < 1e-6 and abs(sp[col] - spacing_mm) <= 0.01 * spacing_mm:
            out[a] = c0[a] + np.round((out[a] - c0[a]) / spacing_mm) * spacing_mm
    return out


#: Pixel types whose every value float32 holds exactly: the linear interpolator reads them as
#: doubles either way, so resampling them directly equals resampling their float32 cast.
EXACT_IN_FLOAT32 = (sitk.sitkInt8, sitk.sitkUInt8, sitk.sitkInt16, sitk.sitkUInt16, sitk.sitkFloat32)


def resample_input(img: sitk.Image) -> sitk.Image:
    """``img`` itself when its pixel type converts exactly to float32 (8/16-bit integers, float32),
    else its float32 cast: a whole-volume float32 copy of a 16-bit CT (540 MB at 512 x 512 x 517)
    changes no resampled value."""
    return img if img.GetPixelID() in EXACT_IN_FLOAT32 else sitk.Cast(img, sitk.sitkFloat32)


def make_workgrid(img: sitk.Image, spacing_mm: float, bounds_lps: np.ndarray | None = None) -> WorkGrid:
    img = resample_input(img)
    out = canonical_resample(img, spacing_mm, bounds_lps)
    return WorkGrid(sitk.GetArrayFromImage(out), out, spacing_mm)


_SITK_UINT = {np.dtype(np.uint8): sitk.sitkUInt8, np.dtype(np.uint16): sitk.sitkUInt16,
              np.dtype(np.uint32): sitk.sitkUInt32, np.dtype(np.uint64): sitk.sitkUInt64}


def labels_to_grid_image(labels_zyx: np.ndarray, src: sitk.Image, reference: sitk.Image,
                         dtype: type = np.uint16) -> sitk.Image:
    """Nearest-neighbour resampling of a label array on ``src``'s grid onto ``reference``'s grid,
    as a SimpleITK image of the unsigned integer ``dtype`` (default uint16; read it through
    ``sitk.GetArrayViewFromImage`` while it is kept alive, to save a copy of a large grid)."""
    dt = np.dtype(dtype)
    li = sitk.GetImageFromArray(labels_zyx.astype(dt))
    li.CopyInformation(src)
    return sitk.Resample(li, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, _SITK_UINT[dt])


def labels_to_grid(labels_zyx: np.ndarray, src: sitk.Image, reference: sitk.Image) -> np.ndarray:
    """Nearest-neighbour resampling of a label array on ``src``'s grid onto ``reference``'s grid."""
    return sitk.GetArrayFromImage(labels_to_grid_image(labels_zyx, src, reference))


def sub_grid(img: sitk.Image, box: tuple[slice, ...]) -> sitk.Image:
    """An empty image on the part ``box`` (slices of the array [z, y, x]) of ``img``'s grid."""
    start = [int(b.start) for b in box[::-1]]
    size = [int(b.stop - b.start) for b in box[::-1]]
    out = sitk.Image(size, sitk.sitkUInt8)
    out.SetSpacing(img.GetSpacing())
    out.SetDirection(img.GetDirection())
    out.SetOrigin(img.TransformIndexToPhysicalPoint(start))
    return out

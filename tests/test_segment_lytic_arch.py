"""The arches' mid-sagittal plane (``segment.classic.arch_midline``) on a synthetic column.

A column of identical vertebrae on a 1.5 mm grid: an elliptic body (30 mm wide, 24 mm deep), two
pedicles, laminae meeting in the midline and a spinous process behind them, all left-right
symmetric about the column x = 40.0. A lytic lesion takes the left third of every body; the body
centreline is placed where the inscribed circle of what is left lies (4.5 mm to the right).
"""

import numpy as np

from spinemets.segment.classic.arch_midline import arch_midline
from spinemets.segment.classic.centreline import Centreline

W = 1.5  # mm
XC, YC = 40.0, 30.0  # true mid-sagittal column and body centre row (voxels)
R_MM = 10.0


def _column(lesion: bool = True, arch: bool = True) -> np.ndarray:
    nz, ny, nx = 60, 80, 81
    zz, yy, xx = np.mgrid[0:nz, 0:ny, 0:nx].astype(float)
    dx, dy = (xx - XC) * W, (yy - YC) * W
    body = (dx / 15.0) ** 2 + (dy / 12.0) ** 2 <= 1.0
    if lesion:
        body &= ~((dx > 5.0) & (np.abs(dy) < 11.0))
    bone = body.copy()
    if arch:
        pedicle = (np.abs(np.abs(dx) - 9.0) <= 2.5) & (dy > 10.0) & (dy <= 22.0)
        lamina = (np.abs(dx) <= 11.5) & (dy > 22.0) & (dy <= 27.0)
        spinous = (np.abs(dx) <= 2.5) & (dy > 27.0) & (dy <= 45.0)
        bone |= pedicle | lamina | spinous
    # discs: every 20th slice holds no bone
    bone[(zz.astype(int) % 20) == 0] = False
    return bone


def _centreline(x: float, nz: int = 60) -> Centreline:
    z = np.arange(nz, dtype=float)
    return Centreline(z, np.full(nz, YC), np.full(nz, x), np.full(nz, R_MM), np.ones(nz, bool), W)


def test_arch_plane_recovered_under_a_one_sided_lesion():
    bone = _column()
    cl = _centreline(XC - 3.0)  # 4.5 mm towards the intact side
    out = arch_midline(bone, cl)
    assert np.all(np.abs(out.x - XC) <= 0.5), out.x  # half a pixel: the search's step
    # y, radius and slices are the centreline's own
    assert np.array_equal(out.y, cl.y) and np.array_equal(out.radius_mm, cl.radius_mm)
    assert np.array_equal(out.z, cl.z)


def test_agreement_within_a_voxel_keeps_the_body_centreline():
    bone = _column(lesion=False)
    cl = _centreline(XC + 0.5)
    out = arch_midline(bone, cl)
    assert np.array_equal(out.x, cl.x)


def test_no_arch_keeps_the_body_centreline():
    bone = _column(arch=False)
    cl = _centreline(XC - 3.0)
    out = arch_midline(bone, cl)
    # behind the body there is no bone to mirror: the body's own x stays
    assert np.array_equal(out.x, cl.x)

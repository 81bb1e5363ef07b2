"""The top of the column (issue 3, T1/T2): the centreline where the field of view cuts a tilted
column.

The upper thoracic column is tilted 15-25 degrees to the slices (kyphosis). The centreline is the
Gaussian-weighted local mean of the per-slice body centres; at the end of the column the kernel
sees slices on one side only and returns the position of the slices below the end, pulled back
by slope x offset and straightened. The arch seeds of the top levels are laid out in the plane
normal to that centreline (``separate.seeds``), so a biased end puts T1's arch seeds on T2's arch
(small phantom seed 3: T1's centre 5 mm behind its body and vertical instead of 20 degrees; T2
Dice 0.796).
"""

import numpy as np
import pytest

from spinemets.segment.classic.centreline import find_centreline

W = 1.5  # working spacing, mm
TILT_DEG = 20.0


def _tilted_column(nz: int = 120, ny: int = 120, nx: int = 80):
    """Vertebral bodies (radius 10 mm, 16 mm tall, 4 mm discs) along an axis tilted ``TILT_DEG``
    in the sagittal plane (centre moving anterior, -y, going up), cut by the top of the volume
    in the middle of a body; the patient outline is the whole slice. Returns (filled, body,
    true y centre per slice in voxels)."""
    z, y, x = np.mgrid[0:nz, 0:ny, 0:nx].astype(float)
    t = np.radians(TILT_DEG)
    y0, x0 = 80.0, 40.0
    # axis through (z=0, y0, x0) with direction (cos t, -sin t, 0) in (z, y) (isotropic grid)
    dz, dy = z, y - y0
    along = dz * np.cos(t) - dy * np.sin(t)
    perp = np.sqrt((dz * np.sin(t) + dy * np.cos(t)) ** 2 + (x - x0) ** 2)
    period = 20.0 / W
    in_body = (along % period) < 16.0 / W
    filled = (perp <= 10.0 / W) & in_body
    body = np.ones_like(filled)
    y_true = y0 - np.arange(nz) * np.tan(t)
    return filled, body, y_true


@pytest.mark.xfail(strict=True, reason="centreline 2026-11-25 (local mean, prior-free chain pass): over the top 10 mm of "
                                       "a column tilted 20 deg the centre lies up to 6.2 mm off the body's and the tilt "
                                       "reads 2-6 deg (middle: 0.5 mm, 19-21 deg; bottom 10 mm: 3.8 mm, 5-10 deg). The "
                                       "tangent end model (top 1.9 mm, 17.6 deg; bottom 0.4 mm, 19.9 deg) is used only "
                                       "along a prior: on this prior-free pass it moved the ROI/prior of small seed 2 "
                                       "(T3 0.915 -> 0.786, T4 0.925 -> 0.732, false sacral disc)")
def test_centreline_follows_a_tilted_column_to_the_top_of_the_field_of_view():
    filled, body, y_true = _tilted_column()
    cl = find_centreline(filled, body, W)
    assert cl is not None
    top = cl.z >= cl.z[-1] - 10.0 / W
    err_mm = np.abs(cl.y[top] - y_true[cl.z[top].astype(int)]) * W
    t = cl.tangent(cl.z[top])
    tilt = np.degrees(np.arctan2(-t[:, 1], t[:, 0]))
    assert err_mm.max() <= 1.5, err_mm.round(1)
    assert np.all(np.abs(tilt - TILT_DEG) <= 5.0), tilt.round(1)


def test_centreline_follows_a_tilted_column_in_its_middle():
    """Away from the ends the local mean has no one-sided bias: the same column is tracked
    within a millimetre and a few degrees (a regression guard for the test above)."""
    filled, body, y_true = _tilted_column()
    cl = find_centreline(filled, body, W)
    mid = (cl.z >= 30) & (cl.z <= 80)
    err_mm = np.abs(cl.y[mid] - y_true[cl.z[mid].astype(int)]) * W
    t = cl.tangent(cl.z[mid])
    tilt = np.degrees(np.arctan2(-t[:, 1], t[:, 0]))
    assert err_mm.max() <= 1.5, err_mm.round(1)
    assert np.all(np.abs(tilt - TILT_DEG) <= 5.0), tilt.round(1)


def test_centreline_tracked_along_a_prior_follows_the_tilt_to_both_ends():
    """The working-grid passes track along a prior (the previous pass): there the last 2 sigma at
    each end follow the tangent of the last two-sided window (``_smooth_to_ends``), not a one-sided
    mean (which read 3.1 mm and 9-12 deg at the top, 3.8 mm and 5-10 deg at the bottom)."""
    filled, body, y_true = _tilted_column()
    cl = find_centreline(filled, body, W, prior=find_centreline(filled, body, W))
    assert cl is not None
    for end in (cl.z >= cl.z[-1] - 10.0 / W, cl.z <= cl.z[0] + 10.0 / W):
        err_mm = np.abs(cl.y[end] - y_true[cl.z[end].astype(int)]) * W
        t = cl.tangent(cl.z[end])
        tilt = np.degrees(np.arctan2(-t[:, 1], t[:, 0]))
        assert err_mm.max() <= 1.5, err_mm.round(1)
        assert np.all(np.abs(tilt - TILT_DEG) <= 5.0), tilt.round(1)

"""The column's mid-sagittal plane from the neural arches, not from the bodies.

``find_centreline`` places the column at the centre of each body's largest inscribed circle.
A lytic lesion that replaces one side of a body (soft tissue, below the bone threshold) moves
that centre towards the intact side (clinical phantom seed 2, a 9 mm lesion in the left half of
T8: 4 mm to the right), and with it everything the partition centres on the column: the arch
seeds (``separate.seeds``: pedicles and laminae within a half width of it), the rib zone, and
the midline band re-partitioned on the CT grid (``separate.posterior_region``). The arch, whose
pedicles, laminae and spinous process the lesion does not touch, stays where it was: its
left-right mirror plane is the vertebra's mid-sagittal plane.

Here, per axial slice of the working grid, the bone behind the body (from one inscribed radius
behind the centreline, ``ARCH_DEPTH_MM`` deep, within ``ARCH_HALF_WIDTH_MM`` of it: pedicles,
laminae, articular, transverse and spinous processes) is mirrored about every candidate column
(half-pixel steps, within ``SEARCH_MM`` of the centreline), and its overlap with itself,
summed over the slices within ``LEVEL_WINDOW_MM`` (about one level: the arch of a vertebra lies
at the height of the upper body, its spinous process below), is maximal at the mirror plane.
Only the centreline's lateral position (x) is replaced; y, the radius and the slices are kept.
Only the bone of the arch is used: the body, however symmetric, would pull the plane to its
intact side as the inscribed circle does (the overlap of a body missing one side is largest about
the centre of what is left).
"""

from __future__ import annotations

import numpy as np

from .centreline import Centreline

#: The arch window starts one inscribed body radius behind the centreline (the posterior wall,
#: where the pedicles start) and reaches this far behind it (mm): thoracic and lumbar laminae and
#: the roots of the spinous processes lie within 25-35 mm of the posterior wall.
ARCH_DEPTH_MM = 35.0
#: Lateral half width (mm) of the arch window: the transverse processes reach 25-38 mm from the
#: midline (paired, like the rib necks beside them, so symmetric as the arch is).
ARCH_HALF_WIDTH_MM = 30.0
#: The mirror plane is searched this far (mm) either side of the centreline.
SEARCH_MM = 8.0
#: Slices within this distance (mm) either side of a slice are summed: about half a level, so that
#: every slice sees a whole arch (pedicles, laminae and the spinous process hanging below them).
LEVEL_WINDOW_MM = 12.0
#: Fewest bone voxels (mm^3 of arch) the summed window must hold for its plane to be taken: the
#: pedicles and laminae of a small vertebra hold several cm^3; an arch cut off by the field of
#: view, or none (sacrum below its first segment), keeps the centreline's own position.
MIN_ARCH_MM3 = 2000.0
#: The arch plane replaces the body centreline only where the two differ by more than this many
#: working voxels: the plane is found in half-pixel steps from a few voxels of pedicle and lamina
#: per slice, so a smaller difference is within the grid's resolution of it.
AGREE_VOXELS = 1.0


def arch_midline(bone: np.ndarray, cl: Centreline) -> Centreline:
    """``cl`` with its lateral position (x, working-grid column index) moved to the mirror plane
    of the neural arches (module doc). ``bone``: the bone mask ([z, y, x], the working grid of
    ``cl``, isotropic spacing ``cl.spacing_mm``)."""
    w = float(cl.spacing_mm)
    nz, ny, nx = bone.shape
    zs = cl.z.astype(int)
    half = ARCH_HALF_WIDTH_MM / w
    depth = ARCH_DEPTH_MM / w
    n_fft = 2 * nx
    per_slice = np.zeros((zs.size, n_fft))
    count = np.zeros(zs.size)
    xi = np.arange(nx)
    for k, z in enumerate(zs):
        if not 0 <= z < nz:
            continue
        y0 = int(np.ceil(cl.y[k] + cl.radius_mm[k] / w))
        y1 = min(ny, int(np.floor(cl.y[k] + cl.radius_mm[k] / w + depth)) + 1)
        if y0 >= y1 or y0 >= ny:
            continue
        rows = bone[z, max(y0, 0):y1].astype(np.float64)
        rows = rows * (np.abs(xi - cl.x[k]) <= half)[None, :]
        if not rows.any():
            continue
        f = np.fft.rfft(rows, n=n_fft, axis=1)
        # per row, the number of bone pairs (x1, x2) with x1 + x2 = s: the self-overlap of the row
        # mirrored about the column s / 2
        per_slice[k] = np.round(np.fft.irfft(f * f, n=n_fft, axis=1).sum(axis=0))
        count[k] = rows.sum()
    win = int(round(LEVEL_WINDOW_MM / w))
    min_vox = MIN_ARCH_MM3 / w ** 3
    x_new = cl.x.astype(float).copy()
    s_all = np.arange(n_fft)
    search = SEARCH_MM / w
    for k in range(zs.size):
        lo, hi = max(0, k - win), min(zs.size, k + win + 1)
        if count[lo:hi].sum() < min_vox:
            continue
        total = per_slice[lo:hi].sum(axis=0)
        ok = np.abs(s_all - 2.0 * cl.x[k]) <= 2.0 * search
        if not total[ok].any():
            continue
        s_best = s_all[ok][np.argmax(total[ok])]
        x_new[k] = 0.5 * s_best
    # (half-pixel steps per slice; smoothed over the window as the centreline is)
    kernel = np.ones(2 * win + 1)
    pad = np.pad(x_new, win, mode="edge")
    x_smooth = np.convolve(pad, kernel / kernel.sum(), mode="valid")
    # within one working voxel the two agree as far as the grid resolves them: the body centreline
    # is kept there (only a displacement the grid shows moves the arch seeds)
    x_out = np.where(np.abs(x_smooth - cl.x) > AGREE_VOXELS, x_smooth, cl.x)
    return Centreline(cl.z, cl.y, x_out, cl.radius_mm, cl.valid, cl.spacing_mm)

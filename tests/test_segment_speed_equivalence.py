"""The vectorised helpers of the segmentation hot paths equal their plain definitions."""

from __future__ import annotations

import numpy as np
import pytest

from spinemets.image import Geometry, LabelMap, label_voxel_counts
from spinemets.segment.endplates import _runs_end, _smooth_edges


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32])
def test_label_voxel_counts_equals_bincount(dtype):
    rng = np.random.default_rng(3)
    a = (rng.integers(0, 30, (17, 40, 33)) * (rng.random((17, 40, 33)) < 0.3)).astype(dtype)
    assert np.array_equal(label_voxel_counts(a), np.bincount(a.ravel()))
    assert np.array_equal(label_voxel_counts(a, 64), np.bincount(a.ravel(), minlength=64))
    assert np.array_equal(label_voxel_counts(np.zeros((3, 4), dtype)), [12])
    lm = LabelMap(a, Geometry(tuple(a.shape), (1.0, 1.0, 1.0)))
    assert lm.present_ids() == [int(i) for i in np.unique(a) if i != 0]


def _longest_run(row: np.ndarray):
    best, k = None, 0
    while k < row.size:
        if row[k]:
            j = k
            while j + 1 < row.size and row[j + 1]:
                j += 1
            if best is None or j - k > best[1] - best[0]:
                best = (k, j)
            k = j + 1
        else:
            k += 1
    return best


def test_runs_end_equals_loop():
    rng = np.random.default_rng(5)
    m = rng.random((300, 41)) < 0.7
    m[:5] = False
    m[5:10] = True
    has, first, last = _runs_end(m)
    for r in range(m.shape[0]):
        ref = _longest_run(m[r])
        assert has[r] == (ref is not None)
        if ref is not None:
            assert (first[r], last[r]) == ref


def test_smooth_edges_equals_median_loop():
    rng = np.random.default_rng(7)
    shape = (9, 11)
    cells = np.argwhere(rng.random(shape) < 0.8) + 1
    edges = rng.normal(0.0, 3.0, len(cells))
    edges[rng.random(len(cells)) < 0.2] = np.inf
    grid_idx = (cells[:, 0], cells[:, 1])
    out = _smooth_edges(edges, grid_idx, (shape[0] + 2, shape[1] + 2))
    g = np.full((shape[0] + 4, shape[1] + 4), np.nan)
    g[cells[:, 0] + 1, cells[:, 1] + 1] = np.where(np.isfinite(edges), edges, np.nan)
    for c, (i, j) in enumerate(cells):
        if not np.isfinite(edges[c]):
            assert out[c] == edges[c]
            continue
        block = g[i:i + 3, j:j + 3].ravel()
        assert out[c] == float(np.median(block[np.isfinite(block)]))


# --- classic backend helpers made faster without changing their results -------------------------

def _edge_profiles_loop(rows):
    from spinemets.segment.classic import cortex

    prof = []
    for row in rows:
        inside = np.nonzero(row > cortex.EDGE_HU)[0]
        if inside.size < 20:
            continue
        for i, step in ((int(inside[0]), 1), (int(inside[-1]), -1)):
            idx = [i + k * step for k in (-3, -2, -1, 0, 1, 3)]
            if min(idx) < 0 or max(idx) >= row.size:
                continue
            v = row[idx].astype(np.float64)
            lo, hi = v[0], v[-1]
            if lo > cortex.AIR_MAX_HU or hi < cortex.TISSUE_MIN_HU:
                continue
            prof.append((v[1:5] - lo) / (hi - lo))
    return np.asarray(prof).reshape(-1, 4)


def test_edge_profiles_equal_row_loop():
    from spinemets.segment.classic.cortex import _edge_profiles

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:60, :70]
    for k in range(12):
        body = ((yy - 30 - rng.integers(-25, 25)) / rng.uniform(8, 40)) ** 2 + \
            ((xx - 35) / rng.uniform(8, 45)) ** 2 < 1  # some reach the slice's edges
        sl = np.where(body, 40, -1000) + rng.normal(0, 60 * (k % 3), body.shape)
        sl = sl.astype(np.int16)
        for a in (sl, sl.T):
            assert np.array_equal(_edge_profiles(a[::2]), _edge_profiles_loop(a[::2]))


def test_fill_holes_in_planes_equals_binary_fill_holes():
    from scipy import ndimage as ndi

    from spinemets.segment.classic.masks import _plane_structure, fill_holes_in_planes

    rng = np.random.default_rng(6)
    for k in range(40):
        shape = tuple(int(v) for v in rng.integers(1, 20, 3))
        m = ndi.gaussian_filter(rng.random(shape), rng.uniform(0.3, 2.0)) > rng.uniform(0.4, 0.6)
        if k == 0:
            m[:] = True
        if k == 1:
            m[:] = False
        for ax in range(3):
            assert np.array_equal(fill_holes_in_planes(m, ax),
                                  ndi.binary_fill_holes(m, structure=_plane_structure(ax)))


def _peel_whole_arrays(cand, dist, sp, axes, steps, max_depth):
    """The whole-array form of ``edge._peel``: depth from shifted copies of the whole grid."""
    def shift(a, d, axis):
        out = np.full_like(a, np.inf)
        src, dst = [slice(None)] * 3, [slice(None)] * 3
        src[axis], dst[axis] = (slice(None, -d), slice(d, None)) if d > 0 else (slice(-d, None), slice(None, d))
        out[tuple(dst)] = a[tuple(src)]
        return out

    peeled = np.zeros_like(cand)
    for _ in range(steps):
        best = np.full(cand.shape, np.inf, np.float32)
        for a in axes:
            for d in (1, -1):
                np.minimum(best, shift(dist, d, a) + float(sp[a]), out=best)
        new = cand & ~peeled & (best <= max_depth)
        if not new.any():
            break
        peeled |= new
        dist[new] = best[new]
    return peeled


@pytest.mark.parametrize("axes", [(0, 1, 2), (1, 2)])
def test_peel_equals_whole_array_shifts(axes):
    from spinemets.segment.classic import edge

    rng = np.random.default_rng(7)
    for _ in range(10):
        shape = tuple(int(v) for v in rng.integers(3, 16, 3))
        sp = rng.choice([0.5, 0.6, 0.75, 1.0], 3)
        outside = rng.random(shape) < 0.3
        cand = ~outside & (rng.random(shape) < 0.7)
        half = 0.5 * float(sp[list(axes)].min())
        dist0 = np.where(outside, -half, np.inf).astype(np.float32)
        steps = int(np.ceil(edge.MAX_DEPTH_MM / half))
        d1, d2 = dist0.copy(), dist0.copy()
        want = _peel_whole_arrays(cand, d1, sp, axes, steps, edge.MAX_DEPTH_MM)
        got = np.zeros(cand.size, bool)
        got[edge._peel(cand, d2, sp, axes, steps)] = True
        assert np.array_equal(got.reshape(shape), want)
        assert np.array_equal(d1, d2)


@pytest.mark.parametrize("max_id", [3, 28, 200, 40000])
def test_pack_maps_round_trip(max_id):
    from spinemets.segment.classic.refine import _grown_box, _pack_maps

    rng = np.random.default_rng(8)
    shape = (9, 11, 13)
    grown = (rng.integers(0, max_id + 1, shape) * (rng.random(shape) < 0.5)).astype(np.uint16)
    interior = np.where(rng.random(shape) < 0.5, grown, 0).astype(np.uint16)
    labelled = rng.random(shape) < 0.4
    barrier = rng.random(shape) < 0.2
    for bar in (None, barrier):
        packed, unpack = _pack_maps(interior, grown, labelled, bar)
        assert np.array_equal(unpack["interior"](packed), interior)
        assert np.array_equal(unpack["grown"](packed), grown)
        assert np.array_equal(unpack["grown_mask"](packed), grown > 0)
        assert np.array_equal(unpack["labelled"](packed), labelled)
        assert ("barrier" in unpack) == (bar is not None)
        if bar is not None:
            assert np.array_equal(unpack["barrier"](packed), barrier)
        box = _grown_box(packed, unpack["grown_mask"], chunk=4)
        from scipy import ndimage as ndi

        assert box == ndi.find_objects((grown > 0).view(np.uint8))[0]
    empty = np.zeros(shape, np.uint16)
    packed, unpack = _pack_maps(empty, empty, empty > 0, None)
    assert _grown_box(packed, unpack["grown_mask"]) is None


def _wall_fit_expressions(left, right, y, a, b, g, gg, noise_hu, tol):
    """The least cortical HU per wall of ``cortex.wall_cortical_hu``, as whole-array expressions."""
    r0g = y @ g.T - left[:, None] * (a * g).sum(1)[None, :] - right[:, None] * (b * g).sum(1)[None, :]
    cs_a = (r0g / gg[None, :]).T
    r0r0 = ((y * y).sum(1)[:, None] - 2 * left[:, None] * (y @ a.T) - 2 * right[:, None] * (y @ b.T)
            + left[:, None] ** 2 * (a * a).sum(1)[None, :] + 2 * (left * right)[:, None] * (a * b).sum(1)[None, :]
            + right[:, None] ** 2 * (b * b).sum(1)[None, :])
    rss_a = np.maximum(r0r0 - r0g ** 2 / gg[None, :], 0.0).T
    ok = rss_a <= rss_a.min(0)[None, :] + tol * noise_hu ** 2
    return np.where(ok, cs_a, np.inf).min(0)


def test_wall_cortical_hu_equals_expressions(monkeypatch):
    from scipy.special import ndtr

    from spinemets.segment.classic import cortex

    rng = np.random.default_rng(9)
    # a slab of bone walls: bright one-voxel lines along y in a darker trabecular block
    h = rng.normal(200, 20, (6, 40, 40)).astype(np.float32)
    h[:, :, ::6] += rng.uniform(300, 700, (6, 40, 7)).astype(np.float32)
    zin = np.ones(h.shape, bool)
    noise = 20.0
    for sigma_px in (0.3, 0.7, 1.2):
        got = cortex.wall_cortical_hu(h, zin, 200.0, sigma_px, noise)
        p = cortex.wall_profiles(h, zin, 200.0, noise)
        assert len(p) >= cortex.MIN_WALLS
        if len(p) > cortex.MAX_WALLS:
            p = p[:: int(np.ceil(len(p) / cortex.MAX_WALLS))]
        xs = np.array([-1.0, 0.0, 1.0])
        x1, t = np.meshgrid(np.arange(-1.6, 0.6 + 1e-9, cortex.WALL_STEP_PX),
                            np.arange(cortex.WALL_STEP_PX, cortex.WALL_MAX_PX + 1e-9, cortex.WALL_STEP_PX),
                            indexing="ij")
        x1, x2 = x1.ravel(), (x1 + t).ravel()
        keep = (x2 >= -0.6) & (x2 <= 1.6)
        x1, x2 = x1[keep], x2[keep]
        p1 = ndtr((xs[None, :] - x1[:, None]) / sigma_px)
        p2 = ndtr((xs[None, :] - x2[:, None]) / sigma_px)
        g = p1 - p2
        gg = (g * g).sum(1)
        use = gg >= 1e-6
        c_min = _wall_fit_expressions(p[:, 0], p[:, 4], p[:, 1:4], 1 - p1[use], p2[use], g[use], gg[use],
                                      noise, cortex.FIT_TOLERANCE_VAR)
        assert got == float(np.median(c_min))

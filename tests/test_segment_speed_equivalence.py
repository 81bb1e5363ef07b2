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

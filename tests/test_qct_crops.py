"""The memory-lean paths of ``qct.assess`` give what the full-volume computations give."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spinemets import anatomy
from spinemets.errors import InputError
from spinemets.image import CTImage, Geometry, LabelMap
from spinemets.qct import assess as A
from spinemets.qct import phantomless as P
from spinemets.qct.phantomless import sample_tissues


def _levels(ph):
    boxes = A._label_boxes(ph.vertebrae.array)
    return {vid: b for vid, b in boxes.items() if vid in {anatomy.vertebra_id(lv) for lv in anatomy.TARGET_LEVELS}}


@pytest.mark.parametrize("threshold", [P.CORTICAL_MIN_HU, 500.0])
def test_cortical_sample_on_crops_equals_full_slab(phantom_small, monkeypatch, threshold):
    ph = phantom_small
    boxes = _levels(ph)
    varr = ph.vertebrae.array
    vert = np.isin(varr, list(boxes))
    zs = np.nonzero(vert.any(axis=(1, 2)))[0]
    z0, z1 = int(zs[0]), int(zs[-1]) + 1
    monkeypatch.setattr(P, "CORTICAL_MIN_HU", threshold)
    got = A._cortical_bone_sample(ph.ct, varr, boxes, (z0, z1))
    hu = ph.ct.array[z0:z1].astype(np.float32)
    cort = vert[z0:z1] & (ndimage.uniform_filter(hu, size=3) >= threshold)
    assert got["n_voxels"] == int(cort.sum())
    if threshold == 500.0:
        assert got["n_voxels"] >= P.CORTICAL_MIN_VOXELS
        assert got["hu_median"] == float(np.median(hu[cort]))
    else:  # one rule (phantomless.cortical_values) serves both paths
        ref = sample_tissues(ph.ct, vert, ph.vertebral_bodies.array > 0)["cortical_bone"]
        assert got == ref


def test_lesion_classes_by_lookup(phantom_small):
    les = phantom_small.lesions
    cls = A.lesion_classes(les)
    naive = np.zeros(les.array.shape, np.uint8)
    for lid in les.present_ids():
        name = les.labels.get(lid, "").lower()
        c = next((k for k, v in anatomy.LESION_CLASSES.items() if v in name), lid)
        naive[les.array == lid] = c
    assert np.array_equal(cls, naive) and {1, 2} <= set(np.unique(cls).tolist())
    bad = LabelMap(np.where(les.array > 0, 7, 0).astype(les.array.dtype), les.geometry, {7: "tumour"})
    with pytest.raises(InputError):
        A.lesion_classes(bad)


def test_sampling_view_steps_and_geometry():
    g = Geometry((40, 30, 20), (0.75, 0.75, 1.0), (10.0, -5.0, 100.0), tuple(np.eye(3).ravel()))
    ct = CTImage(np.arange(40 * 30 * 20, dtype=np.int16).reshape(40, 30, 20) % 1000, g)
    sub, sl = A._sampling_view(ct, (5, 35))
    assert sub.geometry.spacing_mm == (1.5, 1.5, 2.0)  # steps of at most CAL_SAMPLE_MM = 2 mm
    assert np.array_equal(sub.array, ct.array[5:35:2, ::2, ::2])
    # the same voxel sits at the same LPS position on both grids
    assert np.allclose(sub.geometry.index_zyx_to_lps(np.array([3.0, 4.0, 5.0])),
                       g.index_zyx_to_lps(np.array([5 + 6.0, 8.0, 10.0])))
    coarse = Geometry((40, 30, 20), (2.0, 2.0, 3.0), (0.0, 0.0, 0.0), tuple(np.eye(3).ravel()))
    sub2, _ = A._sampling_view(CTImage(ct.array, coarse), (0, 40))
    assert sub2.array.shape == ct.array.shape  # coarse scans are not subsampled

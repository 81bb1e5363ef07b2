"""nnU-Net v2 raw dataset export (spinemets.dl.dataset)."""

import json

import numpy as np
import pytest
import SimpleITK as sitk

from spinemets import anatomy
from spinemets.dl.dataset import export_nnunet_dataset
from spinemets.errors import InputError
from spinemets.image import CTImage, Geometry, LabelMap

L1, L2, ES_L = anatomy.vertebra_id("L1"), anatomy.vertebra_id("L2"), anatomy.BY_NAME["erector_spinae_left"].id


def _case(seed: int, shape=(12, 14, 16)):
    rng = np.random.default_rng(seed)
    d = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)  # axis-permuted, non-identity frame
    g = Geometry(shape, (0.8, 0.9, 2.5), (10.0, -20.0, 30.0 + seed), tuple(d.ravel()))
    ct = CTImage(rng.integers(-100, 400, shape).astype(np.int16), g)
    lab = np.zeros(shape, np.uint16)
    lab[2:5] = L1
    lab[6:9] = L2
    lab[10:, :3] = ES_L
    return ct, LabelMap(lab, g, anatomy.label_table([L1, L2, ES_L]))


def test_layout_dataset_json_and_labels(tmp_path):
    cases = [_case(0), _case(1)]
    folder = export_nnunet_dataset(cases, tmp_path, 7, "Spine", ["vertebrae_L1", "L2"])
    assert folder == tmp_path / "Dataset007_Spine"
    dj = json.loads((folder / "dataset.json").read_text())
    assert dj["channel_names"] == {"0": "CT"}
    assert dj["labels"] == {"background": 0, "vertebrae_L1": 1, "vertebrae_L2": 2}
    assert dj["numTraining"] == 2 and dj["file_ending"] == ".nii.gz"
    for i, (ct, lm) in enumerate(cases):
        img = sitk.ReadImage(str(folder / "imagesTr" / f"case_{i:03d}_0000.nii.gz"))
        seg = sitk.ReadImage(str(folder / "labelsTr" / f"case_{i:03d}.nii.gz"))
        assert Geometry.from_sitk(img).is_same_grid(ct.geometry)
        assert Geometry.from_sitk(seg).is_same_grid(ct.geometry)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(img), ct.array)
        s = sitk.GetArrayFromImage(seg)
        np.testing.assert_array_equal(s == 1, lm.array == L1)
        np.testing.assert_array_equal(s == 2, lm.array == L2)
        assert set(np.unique(s)) == {0, 1, 2}  # the muscle was not requested -> background


def test_default_label_names_are_all_present_structures(tmp_path):
    folder = export_nnunet_dataset([_case(0)], tmp_path, 8, "All")
    dj = json.loads((folder / "dataset.json").read_text())
    assert dj["labels"] == {"background": 0, "vertebrae_L1": 1, "vertebrae_L2": 2,
                            "erector_spinae_left": 3}


def test_export_errors(tmp_path):
    ct, lm = _case(0)
    other = LabelMap(lm.array, Geometry(lm.geometry.shape_zyx, (1, 1, 1)), lm.labels)
    with pytest.raises(InputError, match="grid"):
        export_nnunet_dataset([(ct, other)], tmp_path, 9, "X")
    with pytest.raises(InputError, match="1..999"):
        export_nnunet_dataset([(ct, lm)], tmp_path, 1000, "X")
    with pytest.raises(InputError, match="letters"):
        export_nnunet_dataset([(ct, lm)], tmp_path, 9, "a b")
    with pytest.raises(InputError, match="not spinemets anatomy names: L9"):
        export_nnunet_dataset([(ct, lm)], tmp_path, 9, "X", ["L1", "L9"])
    export_nnunet_dataset([(ct, lm)], tmp_path, 9, "X")
    with pytest.raises(InputError, match="not empty"):
        export_nnunet_dataset([(ct, lm)], tmp_path, 9, "X")
    export_nnunet_dataset([(ct, lm)], tmp_path, 9, "X", overwrite=True)


def test_resample_and_crop_keep_geometry_exact():
    from spinemets.dl.prepare import crop_case, resample_case

    ct, lm = _case(3, shape=(20, 24, 28))
    r_ct, r_lm = resample_case(ct, lm, 2.0)
    assert r_ct.geometry.spacing_mm == (2.0, 2.0, 2.0)
    assert r_ct.geometry.is_same_grid(r_lm.geometry)
    # the image extent (outer voxel corners) is unchanged along every axis
    def corners(g):
        half = np.asarray(g.spacing_mm) / 2
        lo = np.asarray(g.origin_lps_mm) - g.direction_matrix @ half
        hi = g.index_zyx_to_lps(np.asarray(g.shape_zyx, float) - 1) + g.direction_matrix @ half
        return np.sort(np.c_[lo, hi], axis=1)
    np.testing.assert_allclose(corners(r_ct.geometry), corners(ct.geometry), atol=1.3)
    # nearest-neighbour labels keep their ids and roughly their volume
    assert set(r_lm.present_ids()) == {L1, L2, ES_L}
    assert r_lm.volume_mm3(L1) == pytest.approx(lm.volume_mm3(L1), rel=0.3)

    c_ct, c_lm = crop_case(ct, lm, [L1], margin_mm=2.5)
    assert c_lm.volume_mm3(L1) == lm.volume_mm3(L1)
    assert c_ct.geometry.shape_zyx[0] < ct.geometry.shape_zyx[0]
    # physical positions survive the crop: L1's centroid in LPS is the same
    def centroid(lab):
        return lab.geometry.index_zyx_to_lps(np.argwhere(lab.array == L1).mean(axis=0))
    np.testing.assert_allclose(centroid(c_lm), centroid(lm), atol=1e-6)
    start = np.round(ct.geometry.lps_to_index_zyx(np.asarray(c_ct.geometry.origin_lps_mm))).astype(int)
    sl = tuple(slice(a, a + n) for a, n in zip(start, c_ct.geometry.shape_zyx))
    np.testing.assert_array_equal(c_ct.array, ct.array[sl])
    with pytest.raises(InputError, match="nothing to crop"):
        crop_case(ct, lm, [999])

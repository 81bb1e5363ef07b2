"""nnU-Net v2 backend end to end on CPU: export a tiny phantom dataset, let nnU-Net plan,
preprocess and train it (spinemets' 1-epoch tiny trainer, a few iterations), then segment a CT
with the trained model folder. Checked: plumbing and label mapping, not accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from spinemets import anatomy
from spinemets.dl import (TINY_TRAINER, NnUNetFolders, export_nnunet_dataset, plan_and_preprocess,
                          predict_with_nnunet, train)
from spinemets.image import CTImage, Geometry, LabelMap
from spinemets.segment.backends import run_nnunet_vertebrae

pytestmark = pytest.mark.slow

LEVELS = ["L2", "L3", "L4"]
DATASET_ID = 901


def _blob_case(seed: int) -> tuple[CTImage, LabelMap]:
    rng = np.random.default_rng(seed)
    shape = (36, 36, 36)
    ct = rng.normal(40, 20, shape).astype(np.float32)
    lab = np.zeros(shape, np.uint16)
    zz, yy, xx = np.indices(shape)
    for k, lv in enumerate(reversed(LEVELS)):
        m = (zz >= 3 + 11 * k) & (zz < 11 + 11 * k) & ((yy - 18) ** 2 + (xx - 18) ** 2 < 40)
        lab[m] = anatomy.vertebra_id(lv)
        ct[m] += 300
    g = Geometry(shape, (4.0, 4.0, 4.0), (-70.0, -70.0, -60.0 + 3 * seed))
    return CTImage(np.round(ct).astype(np.int16), g), LabelMap(lab, g, anatomy.label_table(np.unique(lab)))


def _cases(n: int) -> list[tuple[CTImage, LabelMap]]:
    return [_blob_case(s) for s in range(n)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("nnunet")
    cases = _cases(6)
    folders = NnUNetFolders.under(root)
    ds = export_nnunet_dataset(cases[:5], folders.raw, DATASET_ID, "SpinemetsTest",
                               [f"vertebrae_{lv}" for lv in LEVELS])
    plan_and_preprocess(DATASET_ID, folders, num_processes=1, timeout_s=400)
    model = train(DATASET_ID, folders, fold=0, n_proc_da=0, timeout_s=500)
    return {"model": model, "dataset": ds, "test_case": cases[5], "root": root}


def test_trained_model_folder(trained):
    import torch

    model = trained["model"]
    assert model.name == f"{TINY_TRAINER}__nnUNetPlans__3d_fullres"
    ckpt = torch.load(model / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert ckpt["trainer_name"] == TINY_TRAINER  # nnU-Net found our trainer through nnUNet_extTrainer
    dj = json.loads((model / "dataset.json").read_text())
    assert dj["labels"] == {"background": 0, "vertebrae_L2": 1, "vertebrae_L3": 2, "vertebrae_L4": 3}


def test_predict_and_map_labels(trained):
    ct, _ = trained["test_case"]
    raw, names = predict_with_nnunet(ct, trained["model"], device="cpu")
    assert raw.shape == ct.geometry.shape_zyx
    assert names == {0: "background", 1: "vertebrae_L2", 2: "vertebrae_L3", 3: "vertebrae_L4"}
    assert set(np.unique(raw)) <= {0, 1, 2, 3}
    assert np.count_nonzero(raw) > 0, "the tiny model predicted no foreground at all"

    lm = run_nnunet_vertebrae(ct, trained["model"], device="cpu")
    assert lm.geometry.is_same_grid(ct.geometry)
    verse = {k: anatomy.vertebra_id(lv) for k, lv in enumerate(LEVELS, start=1)}
    assert set(lm.present_ids()) <= set(verse.values())
    for k, vid in verse.items():  # same prediction, our ids (nnU-Net inference is deterministic)
        np.testing.assert_array_equal(lm.array == vid, raw == k)
    assert lm.labels == {v: f"vertebrae_{anatomy.level_of(v)}" for v in lm.present_ids()}


def test_reoriented_ct_comes_back_on_its_grid(trained):
    ct, _ = trained["test_case"]
    img = sitk.DICOMOrient(ct.to_sitk(), "RAS")  # same voxels, stored in another axis order
    ct_ras = CTImage.from_sitk(img)
    lm = run_nnunet_vertebrae(ct_ras, trained["model"], orientation="LPS")
    assert lm.geometry.is_same_grid(ct_ras.geometry)
    ref = run_nnunet_vertebrae(ct, trained["model"])
    back = sitk.GetArrayFromImage(sitk.DICOMOrient(lm.to_sitk(), "LPS"))
    np.testing.assert_array_equal(back, ref.array)


def test_segment_verb_with_nnunet_backend(trained, tmp_path):
    from spinemets import cli
    from spinemets.io import read_label_map, write_image

    parser = cli.build_parser()
    verbs = parser._subparsers._group_actions[0].choices if parser._subparsers else {}
    if "segment" not in verbs:
        pytest.skip("the 'segment' verb is not registered yet (spinemets.segment.cli)")
    ct, _ = trained["test_case"]
    ct_path = write_image(ct, tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    rc = cli.main(["segment", str(ct_path), "-o", str(out), "--backend", "nnunet",
                   "--model", str(trained["model"])])
    assert rc == 0
    lm = read_label_map(out / "vertebrae.nii.gz")
    assert lm.geometry.is_same_grid(ct.geometry)
    assert set(lm.present_ids()) <= {anatomy.vertebra_id(lv) for lv in LEVELS}
    ref = run_nnunet_vertebrae(ct, trained["model"])
    np.testing.assert_array_equal(lm.array, ref.array)

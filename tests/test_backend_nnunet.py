"""nnU-Net v2 backend end to end on CPU: export a tiny phantom dataset, let nnU-Net plan,
preprocess and train it (spinemets' 1-epoch tiny trainer, a few iterations), then segment a CT
with the trained model folder. Checked: plumbing and label mapping, not accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from spinemets import anatomy
from spinemets.dl import TINY_TRAINER, predict_with_nnunet
from spinemets.dl.testbed import CLASSES, LEVELS, MUSCLES, build_phantom_testbed, phantom_case
from spinemets.image import CTImage, LabelMap
from spinemets.segment.backends import run_nnunet_muscles, run_nnunet_vertebrae

pytestmark = pytest.mark.slow

DATASET_ID = 901


def _test_ct() -> CTImage:
    """An unseen phantom cropped around the spine with 50 mm of tissue and air (~32 x 49 x 48),
    larger than the model's patch so that nnU-Net's sliding window is exercised."""
    return phantom_case(5, margin_mm=50.0)[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("nnunet")
    model = build_phantom_testbed(root, range(5), DATASET_ID, timeout_s=500)
    ds = root / "nnUNet_raw" / "Dataset901_SpinemetsPhantoms"
    return {"model": model, "dataset": ds, "test_case": _test_ct(), "root": root}


def test_trained_model_folder(trained):
    import torch

    model = trained["model"]
    assert model.name == f"{TINY_TRAINER}__nnUNetPlans__3d_fullres"
    ckpt = torch.load(model / "fold_0" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert ckpt["trainer_name"] == TINY_TRAINER  # nnU-Net found our trainer through nnUNet_extTrainer
    assert ckpt["inference_allowed_mirroring_axes"] is None
    dj = json.loads((model / "dataset.json").read_text())
    assert dj["labels"] == {"background": 0, **{n: k for k, n in enumerate(CLASSES, 1)}}
    assert (model / "fold_0" / "validation" / "summary.json").is_file()  # nnU-Net's own validation ran
    assert len(list((trained["dataset"] / "imagesTr").glob("case_*_0000.nii.gz"))) == 5


@pytest.fixture(scope="module")
def predicted(trained):
    ct = trained["test_case"]
    raw, names = predict_with_nnunet(ct, trained["model"], device="cpu")
    return (raw, names, run_nnunet_vertebrae(ct, trained["model"], device="cpu"),
            run_nnunet_muscles(ct, trained["model"], device="cpu"))


def test_predict_and_map_labels(trained, predicted):
    ct = trained["test_case"]
    raw, names, lm, _ = predicted
    assert raw.shape == ct.geometry.shape_zyx
    assert names == {0: "background", **{k: n for k, n in enumerate(CLASSES, 1)}}
    assert set(np.unique(raw)) <= set(range(len(CLASSES) + 1))
    assert np.count_nonzero(raw) > 0, "the tiny model predicted no foreground at all"

    assert lm.geometry.is_same_grid(ct.geometry)
    verse = {k: anatomy.vertebra_id(lv) for k, lv in enumerate(LEVELS, start=1)}
    assert set(lm.present_ids()) <= set(verse.values())
    for k, vid in verse.items():  # the same prediction in our ids (nnU-Net inference is deterministic)
        np.testing.assert_array_equal(lm.array == vid, raw == k)
    assert lm.labels == {v: f"vertebrae_{anatomy.level_of(v)}" for v in lm.present_ids()}


def test_reoriented_ct_comes_back_on_its_grid(trained, predicted):
    ct = trained["test_case"]
    ct_ras = CTImage.from_sitk(sitk.DICOMOrient(ct.to_sitk(), "RAS"))  # same voxels, other axis order
    lm = run_nnunet_vertebrae(ct_ras, trained["model"], orientation="LPS")
    assert lm.geometry.is_same_grid(ct_ras.geometry)
    back = sitk.GetArrayFromImage(sitk.DICOMOrient(lm.to_sitk(), "LPS"))
    np.testing.assert_array_equal(back, predicted[2].array)


def test_segment_verb_with_nnunet_backend(trained, predicted, tmp_path):
    from spinemets import cli
    from spinemets.io import read_label_map, write_image

    ct = trained["test_case"]
    ct_path = write_image(ct, tmp_path / "ct.nii.gz")
    out = tmp_path / "out"
    rc = cli.main(["segment", str(ct_path), "-o", str(out), "--backend", "nnunet",
                   "--model", str(trained["model"])])
    assert rc == 0
    lm = read_label_map(out / "vertebrae.nii.gz")
    assert lm.geometry.is_same_grid(ct.geometry)
    assert set(lm.present_ids()) <= {anatomy.vertebra_id(lv) for lv in LEVELS}
    np.testing.assert_array_equal(lm.array, predicted[2].array)  # the model's output is never edited
    bodies = read_label_map(out / "vertebral_bodies.nii.gz").array
    assert np.all((bodies == 0) | (bodies == lm.array))  # every body inside its vertebra
    summary = json.loads((out / "vertebrae.json").read_text())
    assert set(summary["levels"]) <= set(LEVELS)


def test_muscle_classes_of_the_same_model(trained, predicted):
    ct = trained["test_case"]
    raw, _, vert, mus = predicted
    assert mus.geometry.is_same_grid(ct.geometry)
    ids = {k: anatomy.BY_NAME[n].id for k, n in enumerate(CLASSES, 1) if n in MUSCLES}
    assert set(mus.present_ids()) <= set(ids.values())
    for k, mid in ids.items():
        np.testing.assert_array_equal(mus.array == mid, raw == k)
    assert not np.any((mus.array > 0) & (vert.array > 0))  # each backend keeps only its group


def test_muscles_verb_with_nnunet_backend(trained, predicted, tmp_path):
    from spinemets import cli
    from spinemets.io import read_label_map, write_image, write_label_map

    ct = trained["test_case"]
    ct_path = write_image(ct, tmp_path / "ct.nii.gz")
    # the phantom's true vertebrae on the test CT's grid: the verb under test is the muscle one
    _, truth = phantom_case(5, margin_mm=50.0)
    keep = np.isin(truth.array, [anatomy.vertebra_id(lv) for lv in LEVELS])
    vert = LabelMap(np.where(keep, truth.array, 0).astype(np.uint16), truth.geometry,
                    anatomy.label_table(np.unique(truth.array[keep])))
    vert_path = write_label_map(vert, tmp_path / "vertebrae.nii.gz")
    out = tmp_path / "out"
    rc = cli.main(["muscles", str(ct_path), "--vertebrae", str(vert_path), "-o", str(out),
                   "--backend", "nnunet", "--model", str(trained["model"])])
    assert rc == 0
    lm = read_label_map(out / "muscles.nii.gz")
    assert lm.geometry.is_same_grid(ct.geometry)
    assert set(lm.present_ids()) <= {anatomy.BY_NAME[m].id for m in MUSCLES}
    assert (out / "muscles.json").is_file()

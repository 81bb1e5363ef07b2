"""Error paths of spinemets.dl.predict (the working path is in test_backend_nnunet.py)."""

import json
import sys

import numpy as np
import pytest

from spinemets.dl.predict import available_folds, predict_with_nnunet
from spinemets.errors import InputError, MissingDependencyError
from spinemets.image import CTImage, Geometry


@pytest.fixture()
def ct():
    return CTImage(np.zeros((4, 4, 4), np.int16), Geometry((4, 4, 4), (1, 1, 1)))


def _model_folder(root, folds=("all",), channels=1):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {str(i): "CT" for i in range(channels)},
        "labels": {"background": 0, "vertebrae_L1": 1}, "numTraining": 1,
        "file_ending": ".nii.gz"}))
    (root / "plans.json").write_text("{}")
    for f in folds:
        (root / f"fold_{f}").mkdir()
        (root / f"fold_{f}" / "checkpoint_final.pth").write_bytes(b"")
    return root


def test_missing_model_folder(ct, tmp_path):
    with pytest.raises(InputError, match="model folder not found"):
        predict_with_nnunet(ct, tmp_path / "nope")


def test_missing_dataset_json(ct, tmp_path):
    m = _model_folder(tmp_path / "m")
    (m / "dataset.json").unlink()
    with pytest.raises(InputError, match="dataset.json missing"):
        predict_with_nnunet(ct, m)


def test_missing_checkpoint(ct, tmp_path):
    m = _model_folder(tmp_path / "m", folds=("0",))
    with pytest.raises(InputError, match=r"checkpoint_final.pth missing for fold\(s\) all .*available: 0"):
        predict_with_nnunet(ct, m, folds=("all",))
    with pytest.raises(InputError, match="no fold_"):
        predict_with_nnunet(ct, m, checkpoint="checkpoint_best.pth")
    assert available_folds(m) == ["0"]


def test_multichannel_model_is_refused(ct, tmp_path):
    m = _model_folder(tmp_path / "m", channels=2)
    with pytest.raises(InputError, match="2 input channels"):
        predict_with_nnunet(ct, m)


@pytest.mark.parametrize("module", ["nnunetv2", "torch"])
def test_nnunet_not_installed(ct, tmp_path, monkeypatch, module):
    m = _model_folder(tmp_path / "m")
    monkeypatch.setitem(sys.modules, module, None)  # makes `import MODULE` fail
    with pytest.raises(MissingDependencyError, match=f"nnU-Net v2 is not usable \\({module} is not installed\\): pip install"):
        predict_with_nnunet(ct, m)


def test_bad_device(ct, tmp_path):
    m = _model_folder(tmp_path / "m")
    with pytest.raises(InputError, match="unknown torch device"):
        predict_with_nnunet(ct, m, device="gpu0")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(MissingDependencyError, match="no CUDA GPU"):
            predict_with_nnunet(ct, m, device="cuda")

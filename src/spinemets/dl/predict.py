"""Run a trained nnU-Net v2 model folder on a CT, in this process, on CPU or GPU.

The CT is written to a temporary file in the model's ``file_ending`` and read back with the
model's own image reader (``plans.json`` ``image_reader_writer``), exactly as
``nnUNetv2_predict`` would read a file; the prediction is written with the same reader/writer and
read back onto the CT grid. Arrays therefore reach the network in the axis order the model was
trained with, whatever the reader class. nnU-Net does not reorient images: a model expects CTs
stored the way its training images were stored (``orientation`` can reorient first).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..image import CTImage, Geometry
from ._deps import require_nnunet
from .labels import dataset_label_names

log = logging.getLogger(__name__)

_SITK_ENDINGS = (".nii.gz", ".nii", ".mha", ".nrrd", ".mhd")


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise InputError(f"{what} missing: {path} (is this an nnU-Net v2 trained model folder?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def available_folds(model_dir: str | Path, checkpoint: str = "checkpoint_final.pth") -> list[str]:
    """Folds of a model folder that hold ``checkpoint`` (``"all"`` or ``"0"``..)."""
    out = []
    for d in sorted(Path(model_dir).glob("fold_*")):
        if (d / checkpoint).is_file():
            out.append(d.name[len("fold_"):])
    return out


def _resolve_folds(model_dir: Path, folds: Sequence[str | int] | str | None, checkpoint: str) -> list[str]:
    if folds is None or folds == "auto":
        found = available_folds(model_dir, checkpoint)
        if not found:
            raise InputError(f"no fold_*/{checkpoint} in nnU-Net model folder {model_dir}")
        return found
    if isinstance(folds, (str, int)):
        folds = [folds]
    out = [str(f) for f in folds]
    missing = [f for f in out if not (model_dir / f"fold_{f}" / checkpoint).is_file()]
    if missing:
        have = available_folds(model_dir, checkpoint)
        raise InputError(f"checkpoint {checkpoint} missing for fold(s) {', '.join(missing)} in "
                         f"{model_dir} (available: {', '.join(have) or 'none'})")
    return out


@contextlib.contextmanager
def _spinemets_trainer_lookup() -> Iterator[None]:
    """Let nnU-Net's predictor find spinemets' own trainer classes (e.g. the tiny trainer).

    ``nnUNetPredictor`` resolves the trainer named in the checkpoint with
    ``recursive_find_trainer_class_by_name``; this wraps that function for the duration of the
    call so that names defined in :mod:`spinemets.dl.nnunet_trainers` resolve to our classes and
    every other name goes through nnU-Net's own lookup unchanged.
    """
    import nnunetv2.inference.predict_from_raw_data as pfrd

    original = pfrd.recursive_find_trainer_class_by_name

    def lookup(name: str):
        from .nnunet_trainers import spinemets_trainers

        cls = getattr(spinemets_trainers, name, None)
        return cls if isinstance(cls, type) else original(name)

    pfrd.recursive_find_trainer_class_by_name = lookup
    try:
        yield
    finally:
        pfrd.recursive_find_trainer_class_by_name = original


def _reorient(ct: CTImage, orientation: str | None):
    import SimpleITK as sitk

    img = ct.to_sitk()
    if orientation:
        img = sitk.DICOMOrient(img, orientation)
    return img


def predict_with_nnunet(ct: CTImage, model_dir: str | Path,
                        folds: Sequence[str | int] | str | None = "auto", device: str = "cpu",
                        checkpoint: str = "checkpoint_final.pth", tta: bool = False,
                        orientation: str | None = None, tile_step_size: float = 0.5
                        ) -> tuple[np.ndarray, dict[int, str]]:
    """Segment ``ct`` with the nnU-Net v2 model in ``model_dir``.

    ``model_dir`` is a trained model folder (``dataset.json``, ``plans.json``,
    ``fold_*/checkpoint``). ``folds``: ``"auto"`` (every fold holding ``checkpoint``; several are
    ensembled by nnU-Net), or e.g. ``("all",)``/``(0,)``. ``tta``: nnU-Net's mirroring test-time
    augmentation. ``orientation``: reorient the CT to this DICOM orientation code (e.g. ``"LPS"``
    or ``"RAS"``) before prediction when the model was trained on images stored that way.

    Returns ``(labels, label_names)``: the model's label array ``[z, y, x]`` on the CT grid
    (uint16, the model's own ids) and ``{id: name}`` from its ``dataset.json``.
    Raises :class:`InputError` for a missing/incomplete model folder and
    :class:`MissingDependencyError` when nnU-Net v2 is not installed.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise InputError(f"nnU-Net model folder not found: {model_dir}")
    dataset_json = _read_json(model_dir / "dataset.json", "dataset.json")
    _read_json(model_dir / "plans.json", "plans.json")
    label_names = dataset_label_names(dataset_json)
    use_folds = _resolve_folds(model_dir, folds, checkpoint)
    channels = dataset_json.get("channel_names") or dataset_json.get("modality") or {}
    if len(channels) != 1:
        raise InputError(f"the model expects {len(channels)} input channels; spinemets gives it one CT")
    ending = str(dataset_json.get("file_ending", ".nii.gz"))
    if ending not in _SITK_ENDINGS:
        raise InputError(f"model file_ending {ending!r} is not supported (use one of {_SITK_ENDINGS})")

    require_nnunet()
    import SimpleITK as sitk
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise InputError(f"unknown torch device {device!r} (use cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MissingDependencyError(f"device {device!r} requested but torch sees no CUDA GPU; use --device cpu")
    chatter = io.StringIO()  # nnU-Net prints progress/info to stdout; keep the CLI's stdout clean
    with _spinemets_trainer_lookup(), contextlib.redirect_stdout(chatter):
        predictor = nnUNetPredictor(tile_step_size=tile_step_size, use_gaussian=True,
                                    use_mirroring=bool(tta),
                                    perform_everything_on_device=dev.type == "cuda", device=dev,
                                    verbose=False, allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(
            str(model_dir), [f if f == "all" else int(f) for f in use_folds], checkpoint)
    rw = predictor.plans_manager.image_reader_writer_class()

    with tempfile.TemporaryDirectory(prefix="spinemets_nnunet_") as tmp:
        img_in = _reorient(ct, orientation)
        in_path = Path(tmp) / f"case_0000{ending}"
        sitk.WriteImage(img_in, str(in_path), useCompression=True)
        with contextlib.redirect_stdout(chatter):
            data, props = rw.read_images([str(in_path)])
            seg = predictor.predict_single_npy_array(data, props, None, None, False)
            out_path = Path(tmp) / f"case{ending}"
            rw.write_seg(np.asarray(seg), str(out_path), props)
        seg_img = sitk.ReadImage(str(out_path))
    if chatter.getvalue().strip():
        log.debug("nnU-Net: %s", chatter.getvalue().strip())
    if not Geometry.from_sitk(seg_img).is_same_grid(ct.geometry):
        # after reorientation (or a writer that changed the header): back onto the CT grid,
        # nearest neighbour so labels stay labels
        seg_img = sitk.Resample(seg_img, ct.to_sitk(), sitk.Transform(), sitk.sitkNearestNeighbor,
                                0, seg_img.GetPixelID())
    arr = sitk.GetArrayFromImage(seg_img).astype(np.uint16)
    if tuple(arr.shape) != ct.geometry.shape_zyx:
        raise InputError(f"nnU-Net output shape {arr.shape} differs from the CT {ct.geometry.shape_zyx}")
    return arr, label_names

"""Export CT volumes with spinemets label maps as an nnU-Net v2 raw dataset (the training testbed).

Layout written (nnU-Net v2 "raw" convention)::

    OUT_RAW/DatasetNNN_Name/
        imagesTr/case_000_0000.nii.gz   CT in HU (int16 when integral), the CT's own geometry
        labelsTr/case_000.nii.gz        consecutive training ids (uint8/uint16), same grid
        dataset.json                    channel_names {"0": "CT"}, labels {"background": 0,
                                        "vertebrae_T12": 1, ...} (spinemets anatomy names),
                                        numTraining, file_ending ".nii.gz"

Because the label names are anatomy-table names, a model trained on this folder maps back onto
spinemets ids with :func:`spinemets.dl.labels.map_model_labels` without any mapping file.
Structures of the label maps that are not in ``label_names`` become background.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import DISCLAIMER, __version__, anatomy
from ..errors import InputError
from ..image import CTImage, LabelMap
from ..io.atomic import atomic_path, write_json_atomic
from .labels import resolve_anatomy_id

FILE_ENDING = ".nii.gz"


def _anatomy_names(label_names: Sequence[str]) -> list[str]:
    out: list[str] = []
    unknown = []
    for n in label_names:
        sid = resolve_anatomy_id(n)
        if sid is None:
            unknown.append(n)
        else:
            out.append(anatomy.BY_ID[sid].name)
    if unknown:
        raise InputError("not spinemets anatomy names: " + ", ".join(unknown))
    if len(set(out)) != len(out):
        raise InputError("label_names lists a structure twice")
    return out


def _write(arr: np.ndarray, like: CTImage | LabelMap, path: Path) -> None:
    import SimpleITK as sitk

    img = like.geometry.apply_to_sitk(sitk.GetImageFromArray(arr))
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)


def _ct_array(ct: CTImage) -> np.ndarray:
    a = ct.array
    if np.issubdtype(a.dtype, np.floating) and np.allclose(a, np.round(a)) and \
            a.min(initial=0) >= -32768 and a.max(initial=0) <= 32767:
        return np.round(a).astype(np.int16)
    return a


def export_nnunet_dataset(cases: Sequence[tuple[CTImage, LabelMap]], out_raw_dir: str | Path,
                          dataset_id: int, name: str, label_names: Sequence[str] | None = None,
                          case_ids: Sequence[str] | None = None, overwrite: bool = False) -> Path:
    """Write ``cases`` as ``OUT_RAW/DatasetNNN_Name`` and return that folder.

    ``label_names``: the structures to train, in training-id order (anatomy names such as
    ``vertebrae_L1``, or level names such as ``L1``); ``None`` takes every structure present in
    any case, ordered by spinemets id. ``case_ids`` default to ``case_000``, ``case_001``, ...
    An existing non-empty dataset folder is an error unless ``overwrite``.
    """
    if not 1 <= int(dataset_id) <= 999:
        raise InputError(f"nnU-Net dataset ids are 1..999, got {dataset_id}")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise InputError(f"dataset name must be letters, digits and underscores, got {name!r}")
    if not cases:
        raise InputError("no cases to export")
    if case_ids is None:
        case_ids = [f"case_{i:03d}" for i in range(len(cases))]
    if len(case_ids) != len(cases) or len(set(case_ids)) != len(case_ids):
        raise InputError("case_ids must be unique and one per case")
    for ct, lm in cases:
        if not ct.geometry.is_same_grid(lm.geometry):
            raise InputError("a label map is not on its CT's grid; resample it first")

    if label_names is None:
        present = sorted({i for _, lm in cases for i in lm.present_ids()})
        unknown = [i for i in present if i not in anatomy.BY_ID]
        if unknown:
            raise InputError(f"label ids not in the anatomy table: {unknown}")
        names = [anatomy.BY_ID[i].name for i in present]
    else:
        names = _anatomy_names(label_names)
    if not names:
        raise InputError("no structures to train: the label maps are empty")
    train_id = {anatomy.BY_NAME[n].id: k + 1 for k, n in enumerate(names)}

    folder = Path(out_raw_dir) / f"Dataset{int(dataset_id):03d}_{name}"
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise InputError(f"{folder} exists and is not empty (pass overwrite=True)")
        shutil.rmtree(folder)
    (folder / "imagesTr").mkdir(parents=True, exist_ok=True)
    (folder / "labelsTr").mkdir(parents=True, exist_ok=True)

    lut = np.zeros(max(max(train_id), max((int(lm.array.max(initial=0)) for _, lm in cases))) + 1,
                   dtype=np.uint16)
    for sid, tid in train_id.items():
        lut[sid] = tid
    label_dtype = np.uint8 if len(names) < 256 else np.uint16
    for cid, (ct, lm) in zip(case_ids, cases):
        _write(_ct_array(ct), ct, folder / "imagesTr" / f"{cid}_0000{FILE_ENDING}")
        _write(lut[lm.array.astype(np.int64)].astype(label_dtype), lm,
               folder / "labelsTr" / f"{cid}{FILE_ENDING}")

    dataset_json = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, **{n: k + 1 for k, n in enumerate(names)}},
        "numTraining": len(cases),
        "file_ending": FILE_ENDING,
        "name": name,
        "description": "Exported by spinemets " + __version__ + ". " + DISCLAIMER,
        "spinemets_version": __version__,
    }
    write_json_atomic(folder / "dataset.json", dataset_json)
    return folder

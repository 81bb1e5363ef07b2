"""Label maps on disk: ``NAME.nii.gz`` plus ``NAME.labels.json`` (``{"20": "vertebrae_L1", ...}``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..image import CTImage, Geometry, LabelMap
from .atomic import atomic_path, write_json_atomic


def labels_json_path(nifti_path: str | Path) -> Path:
    p = Path(nifti_path)
    name = p.name
    for ext in (".nii.gz", ".nii", ".nrrd", ".mha"):
        if name.endswith(ext):
            name = name[: -len(ext)]
            break
    return p.with_name(name + ".labels.json")


def write_label_map(label_map: LabelMap, path: str | Path) -> Path:
    """Write the label map as NIfTI (uint16 unless it fits uint8) and its label table beside it."""
    import SimpleITK as sitk

    path = Path(path)
    arr = label_map.array
    dtype = np.uint8 if arr.max(initial=0) < 256 else np.uint16
    img = label_map.geometry.apply_to_sitk(sitk.GetImageFromArray(arr.astype(dtype, copy=False)))
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)
    present = set(label_map.present_ids())
    table = {str(k): v for k, v in sorted(label_map.labels.items()) if k in present or not present}
    write_json_atomic(labels_json_path(path), table)
    return path


def read_label_map(path: str | Path, labels: dict[int, str] | None = None) -> LabelMap:
    """Read a label image; the label table comes from ``labels`` or the ``.labels.json`` beside it."""
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise InputError(f"label map not found: {path}")
    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read label map {path}: {str(exc).splitlines()[0]}") from None
    arr = sitk.GetArrayFromImage(img)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.allclose(arr, np.round(arr)):
            raise InputError(f"{path} does not hold integer labels")
        arr = np.round(arr).astype(np.int32)
    if arr.min(initial=0) < 0:
        raise InputError(f"{path} holds negative labels")
    arr = arr.astype(np.uint16)
    if labels is None:
        jp = labels_json_path(path)
        labels = {int(k): v for k, v in json.loads(jp.read_text()).items()} if jp.exists() else {}
    return LabelMap(arr, Geometry.from_sitk(img), labels)


def write_image(ct: CTImage, path: str | Path) -> Path:
    """Write a CT (HU) as NIfTI/NRRD/MHA; int16 when the values are integral and fit."""
    import SimpleITK as sitk

    arr = ct.array
    if np.issubdtype(arr.dtype, np.floating) and np.allclose(arr, np.round(arr)) and \
            arr.min(initial=0) >= -32768 and arr.max(initial=0) <= 32767:
        arr = np.round(arr).astype(np.int16)
    img = ct.geometry.apply_to_sitk(sitk.GetImageFromArray(arr))
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=True)
    return Path(path)

"""``nnunet`` backend: a trained nnU-Net v2 model folder -> spinemets label map.

The model's classes are mapped to anatomy ids by name through its ``dataset.json``
(:func:`spinemets.dl.labels.map_model_labels`; a JSON mapping file covers other names). Classes
outside the requested group (e.g. a spinal-cord class of a vertebra model) are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Collection, Mapping, Sequence

import numpy as np

from ... import anatomy
from ...dl.labels import map_model_labels
from ...dl.predict import predict_with_nnunet
from ...errors import InputError
from ...image import CTImage, LabelMap

VERTEBRA_GROUPS = ("vertebra", "vertebra_other")  # T1..L5 (+ transitional) and the sacrum
MUSCLE_GROUPS = ("muscle",)

LabelMapping = Mapping[str, str | None] | str | Path | None


def run_nnunet_structures(ct: CTImage, model_dir: str | Path, groups: Collection[str] | None,
                          label_mapping: LabelMapping = None, device: str = "cpu",
                          folds: Sequence[str | int] | str | None = "auto", tta: bool = False,
                          orientation: str | None = None) -> LabelMap:
    """Run the model and keep the structures whose anatomy ``group`` is in ``groups``
    (``None`` keeps every mapped class). Raises :class:`InputError` when the model has none."""
    arr, names = predict_with_nnunet(ct, model_dir, folds=folds, device=device, tta=tta,
                                     orientation=orientation)
    mapping = map_model_labels(names, label_mapping)
    if groups is not None:
        mapping = {m: a for m, a in mapping.items() if anatomy.BY_ID[a].group in groups}
        if not mapping:
            raise InputError(f"the model in {model_dir} has no {'/'.join(groups)} classes "
                             f"(its labels: {', '.join(n for i, n in sorted(names.items()) if i)})")
    out = anatomy.convert_labels(arr, mapping)
    # the table names what was predicted (as the TotalSegmentator backend's), not every class the
    # model could have predicted
    return LabelMap(out, ct.geometry, anatomy.label_table(np.unique(out)))


def run_nnunet_vertebrae(ct: CTImage, model_dir: str | Path, device: str = "cpu",
                         label_mapping: LabelMapping = None,
                         folds: Sequence[str | int] | str | None = "auto", tta: bool = False,
                         orientation: str | None = None) -> LabelMap:
    """Vertebrae (VerSe ids, T1=8 ... L5=24, sacrum 26) from an nnU-Net v2 model, on the CT grid."""
    return run_nnunet_structures(ct, model_dir, VERTEBRA_GROUPS, label_mapping, device, folds,
                                 tta, orientation)


def run_nnunet_muscles(ct: CTImage, model_dir: str | Path, label_mapping: LabelMapping = None,
                       device: str = "cpu", folds: Sequence[str | int] | str | None = "auto",
                       tta: bool = False, orientation: str | None = None) -> LabelMap:
    """Trunk muscle groups (ids 101-122) from an nnU-Net v2 model (2D or 3D), on the CT grid.

    A model with other class names (e.g. a published trunk-muscle model) needs
    ``label_mapping``: ``{"model class": "erector_spinae_left", "unused class": null, ...}``.
    """
    return run_nnunet_structures(ct, model_dir, MUSCLE_GROUPS, label_mapping, device, folds,
                                 tta, orientation)

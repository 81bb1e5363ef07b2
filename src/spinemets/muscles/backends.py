"""Model backends: a 3-D muscle label map from a deep-learning model, in anatomy-table ids.

* ``nnunet``: any nnU-Net v2 model folder (2-D or 3-D), run by
  :func:`spinemets.dl.predict.predict_with_nnunet`; its class names are mapped onto the anatomy
  table by :func:`spinemets.dl.labels.map_model_labels`, with an optional mapping file
  ``{"model_label_name": "anatomy_name" or null}`` (e.g. for the Alkalay lab's published
  trunk-muscle model, whose class names are not ours);
* ``totalseg``: TotalSegmentator ``abdominal_muscles`` via
  :func:`spinemets.segment.backends.totalseg.run_totalseg_muscles` (its class names equal ours).

Only muscle groups (ids 101-122) are kept; other classes a model predicts (vertebrae, organs) are
dropped after mapping. Per-level measures are then taken in the same mid-vertebral planes as the
classic backend, by sampling this label map (nearest neighbour).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from .. import anatomy
from ..errors import InputError
from ..image import CTImage

MUSCLE_IDS = frozenset(s.id for s in anatomy.STRUCTURES if s.group == "muscle")


def relabel_model_output(model_labels: np.ndarray, model_to_anatomy: Mapping[int, int]) -> np.ndarray:
    """Model label array + ``{model_id: anatomy_id}`` -> uint16 array of muscle ids only."""
    muscle_map = {int(k): int(v) for k, v in model_to_anatomy.items() if int(v) in MUSCLE_IDS}
    if not muscle_map:
        raise InputError("the model has no class that maps onto a spinemets trunk muscle group")
    return anatomy.convert_labels(np.asarray(model_labels), muscle_map)


def model_muscle_labels(ct: CTImage, backend: str, model_dir: str | Path | None,
                        mapping_file: str | Path | None, device: str = "cpu") -> np.ndarray:
    """uint16 ``[z, y, x]`` muscle label array on the CT grid from the chosen model backend."""
    if backend == "nnunet":
        if model_dir is None:
            raise InputError("the nnunet muscle backend needs a model folder (--model DIR)")
        from ..dl.labels import map_model_labels
        from ..dl.predict import predict_with_nnunet

        raw, names = predict_with_nnunet(ct, model_dir, device=device)
        return relabel_model_output(raw, map_model_labels(names, mapping_file))
    if backend == "totalseg":
        from ..segment.backends.totalseg import run_totalseg_muscles

        lm = run_totalseg_muscles(ct, device=device)
        if not lm.geometry.is_same_grid(ct.geometry, tol_mm=0.01):
            raise InputError("TotalSegmentator's muscle output is not on the CT grid")
        keep = np.isin(lm.array, list(MUSCLE_IDS))
        return np.where(keep, lm.array, 0).astype(np.uint16)
    raise InputError(f"unknown model backend {backend!r}")

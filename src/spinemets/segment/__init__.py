"""spinemets.segment: vertebrae T1-L5 (classic / nnunet / totalseg backends) and evaluation.

Public API: :func:`segment_vertebrae`, :class:`VertebraeResult`, :func:`write_vertebrae_outputs`,
:func:`evaluate_vertebrae`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..image import CTImage
from .evaluate import evaluate_vertebrae
from .results import VertebraeResult, build_result, write_vertebrae_outputs

BACKENDS = ("classic", "nnunet", "totalseg")


def segment_vertebrae(ct: CTImage, backend: str = "classic", model_dir: str | Path | None = None,
                      device: str = "cpu") -> VertebraeResult:
    """Segment and label the vertebrae T1-L5 of ``ct`` (HU, LPS) with the chosen backend."""
    if backend == "classic":
        from .classic.pipeline import run_classic

        out = run_classic(ct)

        from .. import anatomy
        from ..image import LabelMap

        lm = LabelMap(out.labels_ct, ct.geometry, {})
        lm.labels = anatomy.label_table(lm.present_ids())
        return build_result(lm, "classic", out.labelling.summary(), out.uncertain_ids, out.warnings, ct=ct)
    if backend == "nnunet":
        if model_dir is None:
            raise InputError("the nnunet backend needs a trained model folder (--model DIR)")
        from .backends.nnunet import run_nnunet_vertebrae

        return build_result(run_nnunet_vertebrae(ct, model_dir, device=device), "nnunet")
    if backend == "totalseg":
        from .backends.totalseg import run_totalseg_vertebrae

        return build_result(run_totalseg_vertebrae(ct, device=device), "totalseg")
    raise InputError(f"unknown segmentation backend {backend!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["segment_vertebrae", "VertebraeResult", "write_vertebrae_outputs", "evaluate_vertebrae",
           "BACKENDS"]

"""Synthetic metastatic-spine CT phantom with exact ground truth.

``generate_phantom(PhantomConfig(...)) -> Phantom`` (CT in HU, label maps, ``truth`` dict) and
``write_study(phantom, out_dir)`` (DICOM CT + SEG, NIfTI copies, truth.json, preview PNG).

Modules: ``config`` (PhantomConfig, presets), ``dimensions`` (literature vertebral dimensions),
``spine`` (sagittal centreline, per-vertebra frames), ``vertebra`` (analytic vertebra),
``skeleton`` (vertebrae, discs, canal, sacrum, ribs), ``muscle_table`` + ``soft`` (torso, organs,
muscles), ``lesions``, ``model`` (design drawn from the seed), ``scanner`` (CT formation),
``truth`` (measured ground truth; ``truth.LIMITATIONS`` lists what is not modelled),
``followup``, ``study`` (output folder), ``preview``, ``cli``.
"""

from .config import PRESETS, PhantomConfig
from .generate import Phantom, generate_phantom

__all__ = ["PRESETS", "PhantomConfig", "Phantom", "generate_phantom", "write_study"]


def __getattr__(name: str):
    if name == "write_study":
        from .study import write_study

        return write_study
    raise AttributeError(name)

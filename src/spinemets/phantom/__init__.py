"""Synthetic metastatic-spine CT phantom with exact ground truth.

``generate_phantom(PhantomConfig(...)) -> Phantom`` (CT in HU, label maps, ``truth`` dict) and
``write_study(phantom, out_dir)`` (DICOM CT + SEG, NIfTI copies, truth.json, preview PNG).
"""

from .config import PRESETS, PhantomConfig
from .generate import Phantom, generate_phantom

__all__ = ["PRESETS", "PhantomConfig", "Phantom", "generate_phantom", "write_study"]


def __getattr__(name: str):
    if name == "write_study":
        from .study import write_study

        return write_study
    raise AttributeError(name)

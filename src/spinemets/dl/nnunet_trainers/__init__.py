"""nnU-Net v2 trainer classes shipped with spinemets.

This folder is what ``nnUNet_extTrainer`` points at (see :func:`trainer_dir`): nnU-Net's own
trainer lookup then finds ``nnUNetTrainer_spinemetsTiny`` both in ``nnUNetv2_train -tr ...`` and
when a trained model is loaded for prediction. The modules here import only nnunetv2, because
nnU-Net imports them as top-level modules from this folder.
"""

from __future__ import annotations

from pathlib import Path

TINY_TRAINER = "nnUNetTrainer_spinemetsTiny"


def trainer_dir() -> Path:
    """Folder to put in the ``nnUNet_extTrainer`` environment variable."""
    return Path(__file__).resolve().parent

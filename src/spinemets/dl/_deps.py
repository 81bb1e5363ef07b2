"""Checks for the optional deep-learning dependencies (nnU-Net v2 and PyTorch)."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import MissingDependencyError

NNUNET_INSTALL_HINT = 'pip install -c constraints.txt "spinemets[dl]"'


def require_nnunet() -> ModuleType:
    """Import ``torch`` and ``nnunetv2`` or raise :class:`MissingDependencyError` with one line."""
    try:
        importlib.import_module("torch")
        return importlib.import_module("nnunetv2")
    except ImportError as exc:  # nnunetv2 itself or torch missing
        missing = getattr(exc, "name", None) or "nnunetv2"
        raise MissingDependencyError(
            f"nnU-Net v2 is not usable ({missing} is not installed): {NNUNET_INSTALL_HINT}"
        ) from None

"""Trunk muscle groups (11 groups, left/right) at every vertebral level T1-L5.

Public API:

* :func:`segment_muscles` (``ct``, ``vertebrae`` label map) -> :class:`MusclesResult`
  (``.labels``: muscle ids 101-122 on the CT grid; ``.summary``: content of ``muscles.json``);
* :func:`write_muscle_outputs` (``result``, ``ct``, ``out_dir``).

Per-level measures (CSA mm^2, HU mean/SD, fat fraction, centroid LPS mm, offsets in the
vertebra's frame) are taken in the mid-vertebral plane of each vertebra, perpendicular to the
local spine axis. Backends: ``classic`` (no weights; HU windows + anatomy-anchored marker
watershed), ``nnunet`` (an nnU-Net v2 model folder + label mapping), ``totalseg``.
"""

from .core import BACKENDS, MusclesResult, segment_muscles
from .outputs import write_muscle_outputs

__all__ = ["BACKENDS", "MusclesResult", "segment_muscles", "write_muscle_outputs"]

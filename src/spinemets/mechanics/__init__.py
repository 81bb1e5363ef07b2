"""spinemets.mechanics: subject model, spinal loads per activity, load-to-strength ratio.

Public API: :class:`SubjectModel`, :func:`load_activities`, :func:`compute_loads`,
:func:`compute_risk`. (Vertebral strength lives in ``spinemets.mechanics.strength``, owned by the
strength stage; nothing heavy is imported from it here.)
"""

from .activities import Activity, load_activities
from .loads import compute_loads
from .risk import compute_risk
from .subject import SubjectModel

__all__ = ["SubjectModel", "Activity", "load_activities", "compute_loads", "compute_risk"]

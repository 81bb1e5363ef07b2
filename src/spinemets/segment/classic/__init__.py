"""The ``classic`` vertebra backend: image analysis without learned weights.

Modules: ``grid`` (canonical working grids), ``masks`` (body/bone masks, cavity filling),
``centreline`` (body-column tracking), ``discs`` (disc profile + spacing prior),
``separate`` (seeded geodesic separation, rib/pelvis competitors), ``refine`` (back to the CT
grid), ``pipeline`` (``run_classic``). Labelling lives in ``spinemets.segment.labelling``.
"""

from .pipeline import ClassicOutput, run_classic

__all__ = ["ClassicOutput", "run_classic"]

"""Spinal loads per level and activity: cut-plane equilibrium + static optimisation (scipy), or the
same subject in OpenSim. Public entry point: :func:`compute_loads` (content of loads.json)."""

from __future__ import annotations

from typing import Any, Iterable

from spinemets import DISCLAIMER, __version__
from spinemets.errors import InputError

from ..activities import Activity, load_activities
from ..subject import SubjectModel
from .cutplane import STRESS_SENSITIVITY_N_CM2, LevelResult, solve_activity

CUT_DEFINITION = (
    "Each level's load is taken at the plane through the centre of the intervertebral disc below "
    "the vertebra (the intervertebral-joint centre; 'L4' = the L4/L5 disc, 'L5' = L5/S1), normal to "
    "the vertebra's superior axis e_z, for the body above that plane (the vertebra, its trunk slab "
    "and everything above). "
    "compression_N > 0 pushes the upper body onto the lower; shear_ap_N > 0: the upper body pushes "
    "the lower one anteriorly; shear_lat_N > 0: towards the patient's left. Muscles crossing the "
    "cut balance the flexion-extension and lateral-bending moments (static optimisation, "
    "min sum (f/CSA)^p, tonic*sigma_max*CSA <= f <= sigma_max*CSA, with a tonic co-activation of "
    "subject.tonic_activation (default 1.8 %, fitted to the documented absolute standing loads "
    "at L3/L4 and L4/L5, see mechanics/loads/calibration.py) of the axial trunk muscles (not the "
    "shoulder girdle), "
    "dropped only where no antagonist can balance it); "
    "each muscle (CSA and in-plane offset measured at the vertebra's mid-body plane) acts along "
    "the vertebra's axis, between attachment points 50 mm (x height/170 cm) above and below the "
    "cut; the axial-torsion moment is left to passive "
    "tissues (reported as torsion_passive_Nm). Not modelled: rib cage load sharing, "
    "intra-abdominal pressure, passive ligament/disc moments, co-contraction beyond the optimum."
)


def _round(v: float | None, nd: int = 1) -> float | None:
    return None if v is None else round(float(v), nd)


def level_dict(r: LevelResult) -> dict[str, Any]:
    d: dict[str, Any] = {
        "compression_N": _round(r.compression_N), "shear_ap_N": _round(r.shear_ap_N),
        "shear_lat_N": _round(r.shear_lat_N),
        "muscle_forces_N": {k: round(v, 1) for k, v in r.forces_N.items()},
        "status": r.status,
        "gravity_above_N": round(r.gravity_N, 1),
        "external_moment_Nm": {"flexion": round(r.moment_ext_Nm[0], 2),
                               "lateral_bending_left": round(r.moment_ext_Nm[1], 2),
                               "torsion": round(r.moment_ext_Nm[2], 2)},
        "torsion_passive_Nm": _round(r.torsion_passive_Nm, 2),
        "max_activation": _round(r.max_activation, 3),
        "compression_N_by_muscle_stress": r.by_stress,
    }
    if r.reason:
        d["reason"] = r.reason
    return d


def compute_loads(subject: SubjectModel, activities: Iterable[Activity] | None = None,
                  solver: str = "scipy", exponent: int = 2) -> dict[str, Any]:
    """Loads of every activity at every level T1-L5 (the content of loads.json)."""
    if not isinstance(subject, SubjectModel):
        raise InputError("compute_loads needs a SubjectModel.")
    if exponent not in (2, 3):
        raise InputError(f"the static-optimisation exponent must be 2 or 3, got {exponent}.")
    acts = list(load_activities() if activities is None else activities)
    if not acts:
        raise InputError("no activity to compute.")
    out: dict[str, Any] = {
        "disclaimer": DISCLAIMER, "spinemets_version": __version__,
        "subject": subject.summary(), "solver": solver, "exponent": exponent,
        "muscle_stress_sensitivity_N_cm2": list(STRESS_SENSITIVITY_N_CM2),
        "cut_definition": CUT_DEFINITION,
        "activity_definitions": {a.id: a.to_dict() for a in acts},
        "activities": {},
    }
    if solver == "scipy":
        for a in acts:
            res = solve_activity(subject, a, exponent)
            out["activities"][a.id] = {"levels": {r.level: level_dict(r) for r in res}}
    elif solver == "opensim":
        from ..opensim_model import solve_activity_opensim

        for a in acts:
            res = solve_activity_opensim(subject, a, exponent)
            # muscle-stress sensitivity of the same model, from the scipy solver
            sens = {r.level: r.by_stress for r in solve_activity(subject, a, exponent)}
            for r in res:
                r.by_stress = sens[r.level] if r.status == "ok" else {}
            out["activities"][a.id] = {"levels": {r.level: level_dict(r) for r in res}}
        out["solver_note"] = ("OpenSim 4 model of the same subject (a body per level between cut "
                              "planes, CustomJoints at the cuts, PathActuators = muscles): "
                              "StaticOptimization + JointReaction via "
                              "AnalyzeTool. compression_N_by_muscle_stress comes from the scipy "
                              "solver of the same model.")
    else:
        raise InputError(f"unknown solver {solver!r} (use 'scipy' or 'opensim').")
    return out


__all__ = ["compute_loads", "CUT_DEFINITION"]

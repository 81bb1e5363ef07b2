"""Where the default tonic co-activation comes from: a one-parameter fit to documented absolute
standing loads (science.md §3.5), not to the flexion/lifting ratios used as validation targets.

The cut-plane model has one free parameter that sets the *absolute* level of relaxed-standing
loads: the tonic co-activation of the axial trunk muscles (lower bound on their activation,
``subject.tonic_activation``). Without it the standing load is the weight above the cut plus the
least muscle force balancing its moment, which is known to be too low (about 330 N at L3/L4 for
70 kg). It is fitted here, by least squares on relative errors, to the two absolute in-vivo
standing loads science.md gives for a 70 kg man:

* ``L4`` cut (= the L4/L5 disc): Wilke et al. 1999 relaxed-standing nucleus pressure 0.50 MPa
  (tag C) converted to force with Nachemson's F = 0.66 P A (tag M) and the disc area
  A = 16.5 cm^2, the middle of the 15-18 cm^2 quoted there (tag M): 545 N;
* ``L3`` cut (= the L3/L4 disc): Nachemson, about 700 N in standing for 70 kg (tag M).

The reference subject is the default 70 kg, 175 cm man (Wilke's subject: 70 kg). The flexion and
lifting *ratios* of Wilke 1999 (2.2x and 4.6x standing) are not used, so they stay an independent
check of the model. :data:`spinemets.mechanics.default_anatomy.TONIC_ACTIVATION` holds the fitted
value rounded to 0.1 %; a test re-runs :func:`fit_tonic_activation` to keep the two in step.
"""

from __future__ import annotations

import copy

from scipy.optimize import minimize_scalar

#: (level of the cut, compression in N, source) for relaxed standing of a 70 kg man.
STANDING_ANCHORS: tuple[tuple[str, float, str], ...] = (
    ("L4", 0.66 * 0.50 * 1650.0,
     "Wilke 1999 L4/L5 IDP 0.50 MPa x 0.66 x 16.5 cm2 (Nachemson correction; science.md 3.5)"),
    ("L3", 700.0, "Nachemson, L3 about 700 N standing for 70 kg (science.md 3.5)"),
)
REFERENCE_SUBJECT = {"sex": "male", "weight_kg": 70.0, "height_cm": 175.0}


def standing_profile(subject, tonic: float) -> dict[str, float]:
    """Standing compression (N) per level of ``subject`` with the given tonic activation."""
    from ..activities import load_activities
    from .cutplane import solve_activity

    s = copy.deepcopy(subject)
    s.tonic_activation = float(tonic)
    act = next(a for a in load_activities() if a.id == "standing")
    return {r.level: float(r.compression_N) if r.compression_N is not None else float("nan")
            for r in solve_activity(s, act, sensitivity=False)}


def fit_tonic_activation(subject=None, upper: float = 0.05) -> float:
    """Tonic co-activation (fraction of maximum force) that best matches :data:`STANDING_ANCHORS`
    (least squares of relative errors) for ``subject`` (default: the 70 kg, 175 cm reference man)."""
    from ..subject import SubjectModel

    if subject is None:
        subject = SubjectModel.default(REFERENCE_SUBJECT["sex"], REFERENCE_SUBJECT["weight_kg"],
                                       REFERENCE_SUBJECT["height_cm"])

    def cost(t: float) -> float:
        prof = standing_profile(subject, t)
        return sum(((prof[lv] - f) / f) ** 2 for lv, f, _ in STANDING_ANCHORS)

    res = minimize_scalar(cost, bounds=(0.0, upper), method="bounded", options={"xatol": 1e-5})
    return float(res.x)


__all__ = ["STANDING_ANCHORS", "fit_tonic_activation", "standing_profile"]

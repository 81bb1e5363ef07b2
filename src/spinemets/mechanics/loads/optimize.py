"""Static optimisation of the muscle forces crossing one cut (scipy SLSQP, LP feasibility check).

Variables are activations ``a_j = f_j / (sigma_max * CSA_j)`` in [0, 1]; minimising
``sum a_j**p`` is the same as minimising ``sum (f_j / CSA_j)**p`` (sigma_max is one number), i.e.
OpenSim's static-optimisation objective with ``optimal_force = sigma_max * CSA``.
Equality constraints: the muscles balance the external flexion-extension and lateral-bending
moments about the cut point. A level whose moments the muscles cannot balance is reported as
infeasible (never clipped).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog, minimize


@dataclass
class SOResult:
    activation: np.ndarray  # (m,)
    feasible: bool
    message: str


def solve_level(a_eq: np.ndarray, b_eq: np.ndarray, p: int = 2,
                a_min: float | np.ndarray = 0.0) -> SOResult:
    """min sum a**p  s.t.  a_eq @ a = b_eq, a_min <= a <= 1 (a_eq: (k, m), b_eq: (k,));
    ``a_min`` is a number or one lower bound per muscle."""
    m = a_eq.shape[1]
    scale = max(float(np.abs(b_eq).max(initial=0.0)), 1e-9)
    tol = 1e-6 * scale + 1e-6
    if m == 0:
        ok = bool(np.all(np.abs(b_eq) <= tol))
        return SOResult(np.zeros(0), ok, "no muscle crosses this cut")
    a_min = np.broadcast_to(np.asarray(a_min, float), (m,))
    x0 = np.clip(np.linalg.lstsq(a_eq, b_eq, rcond=None)[0], a_min, 1.0)
    res = _slsqp(a_eq, b_eq, p, x0, a_min)
    if _residual(a_eq, b_eq, res) <= 1e-4 * scale + 1e-6:
        return SOResult(res, True, "ok")
    lp = linprog(np.zeros(m), A_eq=a_eq, b_eq=b_eq, bounds=[(float(lo), 1.0) for lo in a_min],
                 method="highs")
    if lp.status != 0:
        return SOResult(np.clip(res, 0, 1), False, "muscles cannot balance the external moment "
                        "(linear-programming feasibility check failed)")
    res = _slsqp(a_eq, b_eq, p, np.asarray(lp.x), a_min)
    if _residual(a_eq, b_eq, res) <= 1e-4 * scale + 1e-6:
        return SOResult(res, True, "ok")
    return SOResult(np.asarray(lp.x), True, "SLSQP did not converge; feasible LP point used")


def _residual(a_eq: np.ndarray, b_eq: np.ndarray, x: np.ndarray) -> float:
    return float(np.abs(a_eq @ x - b_eq).max())


def _slsqp(a_eq: np.ndarray, b_eq: np.ndarray, p: int, x0: np.ndarray, a_min: np.ndarray
           ) -> np.ndarray:
    cons = {"type": "eq", "fun": lambda x: a_eq @ x - b_eq, "jac": lambda x: a_eq}
    res = minimize(lambda x: float(np.sum(x ** p)), x0, jac=lambda x: p * x ** (p - 1),
                   method="SLSQP", bounds=[(float(lo), 1.0) for lo in a_min], constraints=[cons],
                   options={"ftol": 1e-12, "maxiter": 300})
    return np.clip(res.x, a_min, 1.0)

"""The OpenSim solver (same subject built through the OpenSim API, StaticOptimization +
JointReaction) agrees with the scipy solver."""

from __future__ import annotations

import pytest

pytest.importorskip("opensim")

from spinemets.mechanics import SubjectModel, load_activities  # noqa: E402
from spinemets.mechanics.loads.cutplane import solve_activity  # noqa: E402
from spinemets.mechanics.opensim_model import solve_activity_opensim  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("act_id", ["standing", "flexion_45"])
def test_opensim_agrees_with_scipy_lumbar(act_id):
    subject = SubjectModel.default("male", 70, 175)
    act = next(a for a in load_activities() if a.id == act_id)
    sp = {r.level: r for r in solve_activity(subject, act, sensitivity=False)}
    os_ = {r.level: r for r in solve_activity_opensim(subject, act)}
    for lv in ("L1", "L2", "L3", "L4", "L5"):
        assert os_[lv].status == "ok"
        a, b = sp[lv].compression_N, os_[lv].compression_N
        assert abs(a - b) <= 0.15 * a, (lv, a, b)
        assert abs(sp[lv].shear_ap_N - os_[lv].shear_ap_N) <= 0.15 * abs(a)

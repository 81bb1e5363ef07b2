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


@pytest.mark.slow
def test_opensim_flags_infeasible_levels_and_solves_the_rest():
    weak = SubjectModel.default("male", 70, 175, muscle_stress_N_cm2=10)
    act = next(a for a in load_activities() if a.id == "lift_stoop_20kg")
    sp = {r.level: r for r in solve_activity(weak, act, sensitivity=False)}
    os_ = {r.level: r for r in solve_activity_opensim(weak, act)}
    assert any(r.status == "infeasible" for r in os_.values())
    for lv, r in os_.items():
        assert r.status == sp[lv].status
        if r.status == "infeasible":
            assert r.compression_N is None
        else:
            assert r.compression_N == pytest.approx(sp[lv].compression_N, rel=0.02)


@pytest.mark.slow
def test_cli_opensim_solver(tmp_path):
    import json

    from spinemets.cli import main

    acts = tmp_path / "acts.json"
    acts.write_text(json.dumps({"activities": [{"id": "flexion_20", "trunk_flexion_deg": 20,
                                                "pelvis_share": 0.3}]}))
    assert main(["loads", "--sex", "female", "--weight-kg", "60", "--height-cm", "165",
                 "--activities", str(acts), "--solver", "opensim", "-o", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "loads.json").read_text())
    assert out["solver"] == "opensim"
    l4 = out["activities"]["flexion_20"]["levels"]["L4"]
    assert l4["status"] == "ok" and l4["compression_N"] > 0

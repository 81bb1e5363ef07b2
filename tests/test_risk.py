"""Load-to-strength ratio: lesion ordering, nulls with reasons, bands, Monte Carlo."""

from __future__ import annotations

import json

import pytest

from spinemets import DISCLAIMER
from spinemets.cli import main
from spinemets.errors import InputError
from spinemets.mechanics import SubjectModel, compute_loads, compute_risk, load_activities
from spinemets.mechanics.risk import band


@pytest.fixture(scope="module")
def loads():
    acts = [a for a in load_activities() if a.id in ("standing", "flexion_45_weights")]
    return compute_loads(SubjectModel.default("female", 62, 163, age=68), acts)


def _bone(lytic_level="L2"):
    levels = {}
    for lv in ("T12", "L1", "L2", "L3"):
        levels[lv] = {"strength_N": {"density_area": 3200.0, "rigidity": 3500.0, "fe": 3400.0},
                      "status": "ok"}
    # a lytic lesion removes bone: lower strength by every method
    levels[lytic_level] = {"strength_N": {"density_area": 1700.0, "rigidity": 1500.0,
                                          "fe": 1600.0}, "status": "ok"}
    levels["L4"] = {"strength_N": {"density_area": None, "rigidity": None, "fe": None},
                    "status": "failed"}
    return {"levels": levels}


def test_lytic_vertebra_has_higher_lsr_than_twin(loads):
    r = compute_risk(loads, _bone("L2"))
    twin = compute_risk(loads, {"levels": {**_bone("L2")["levels"],
                                           "L2": _bone("L3")["levels"]["L2"]}})
    for act in ("standing", "flexion_45_weights"):
        lsr = r["activities"][act]["levels"]["L2"]["lsr"]
        assert lsr > twin["activities"][act]["levels"]["L2"]["lsr"]
        comp = loads["activities"][act]["levels"]["L2"]["compression_N"]
        assert lsr == pytest.approx(comp / 1600.0, rel=1e-3)  # 'auto' prefers FE
    assert r["disclaimer"] == DISCLAIMER and "Research output" in r["research_note"]


def test_null_strength_gives_null_lsr_with_reason(loads):
    r = compute_risk(loads, _bone())
    l4 = r["activities"]["standing"]["levels"]["L4"]
    assert l4["lsr"] is None and l4["reason"]
    t1 = r["activities"]["standing"]["levels"]["T1"]
    assert t1["lsr"] is None and "not in bone.json" in t1["reason"]
    fe_only = compute_risk(loads, {"levels": {"L1": {"strength_N": {"fe": None,
                                                                    "density_area": 3000.0}}}},
                           method="fe")
    assert fe_only["activities"]["standing"]["levels"]["L1"]["lsr"] is None


def test_bands():
    assert band(0.5)[0] == "low" and band(0.8)[0] == "uncertain"
    assert band(1.2)[0] == "uncertain" and band(1.3)[0] == "high" and band(None) == (None, None)


def test_monte_carlo_reproducible_and_brackets_point(loads):
    a = compute_risk(loads, _bone(), monte_carlo=300, seed=3)
    b = compute_risk(loads, _bone(), monte_carlo=300, seed=3)
    assert a == b
    mc = a["activities"]["flexion_45_weights"]["levels"]["L2"]["monte_carlo"]
    assert mc["lsr_p05"] < mc["lsr_median"] < mc["lsr_p95"]
    assert 0.0 <= mc["p_lsr_above_1"] <= 1.0
    with pytest.raises(InputError):
        compute_risk(loads, _bone(), method="magic")
    with pytest.raises(InputError):
        compute_risk({"x": 1}, _bone())


def test_cli_risk(tmp_path, loads):
    (tmp_path / "loads.json").write_text(json.dumps(loads))
    (tmp_path / "bone.json").write_text(json.dumps(_bone()))
    assert main(["risk", "--loads", str(tmp_path / "loads.json"), "--bone",
                 str(tmp_path / "bone.json"), "--monte-carlo", "20", "-o", str(tmp_path)]) == 0
    r = json.loads((tmp_path / "risk.json").read_text())
    assert r["levels"]["L2"]["max_lsr_activity"] == "flexion_45_weights"
    assert main(["risk", "--loads", str(tmp_path / "missing.json"), "--bone",
                 str(tmp_path / "bone.json"), "-o", str(tmp_path)]) == 2

"""Peer check: spinal joint reactions of the public OpenSim thoracolumbar model (Wilkinson full-body
model with the Allaire 2020 torso, ``shared/data/opensim_thoracolumbar_wilkinson``) beside ours, for
relaxed standing and 45 degree forward flexion, same body mass, T1/T2 ... L5/S1, and the levels where
each standing/flexion profile falls instead of rising.

Peer model run: default pose = relaxed standing; flexion = pelvis_tilt and the intervertebral FE
coordinates T1/T2..L5/S1 set with the same lumbopelvic rhythm as our ``flexion_45`` activity (35 %
pelvis, rest shared by range of motion); arms keep their pose relative to the thorax. OpenSim
StaticOptimization with all 520 muscles, strong reserve actuators on every non-spinal coordinate
(pelvis residuals, limbs, neck, ribs) and weak ones (1 N m) on the spinal coordinates, then
JointReaction at T1/T2 ... L5/S1 (on the upper vertebra, expressed in ground, projected on the
axis joining adjacent joint centres). Same cut in both: the intervertebral joint below each vertebra
(our cut points are this model's joint centres, scaled by height), resolved along the vertebra's axis.
Usage: ``python benchmarks/peer_wilkinson.py [--standing-only]`` (about half a minute per posture on
2 cores). The peer's thoracic joints share load with its rib cage and carry its arms through the
shoulder girdle and ribs, so T1-T8 are not like for like (ours: arms at T4, no rib cage).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from spinemets.mechanics.opensim_model import read_sto, run_analysis, write_coordinates_mot

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO.parent / "shared" / "data" / "opensim_thoracolumbar_wilkinson" / "cyclistFullBodyMuscle.osim"
LEVEL_JOINT = {"L5": "L5_S1", "L4": "L4_L5", "L3": "L3_L4", "L2": "L2_L3", "L1": "L1_L2",
               "T12": "T12_L1", "T11": "T11_T12", "T10": "T10_T11", "T9": "T9_T10",
               "T8": "T8_T9", "T7": "T7_T8", "T6": "T6_T7", "T5": "T5_T6", "T4": "T4_T5",
               "T3": "T3_T4", "T2": "T2_T3", "T1": "T1_T2"}
_BODY = {**{f"T{i}": f"thoracic{i}" for i in range(1, 13)},
         **{f"L{i}": f"lumbar{i}" for i in range(1, 6)}}
#: the reported vertebrae (all T1-L5, cranial to caudal) and the child body of the joint below each
CHILD = {lv: _BODY[lv] for lv in reversed(LEVEL_JOINT)}
#: the joint above each reported vertebra (its axis joins the joint centres below and above)
JOINT_ABOVE = {lv: ("T1_head_neck" if i == 0 else LEVEL_JOINT[list(CHILD)[i - 1]])
               for i, lv in enumerate(CHILD)}
SPINE_PREFIX = tuple(f"{j}_" for j in LEVEL_JOINT.values())


def _joint_name(model, base: str) -> str:
    js = model.getJointSet()
    for cand in (f"{base}_IVDjnt", base):
        if js.contains(cand):
            return cand
    raise KeyError(base)


def run_peer(osim, pose: dict[str, float], out: Path) -> dict[str, float]:
    model = osim.Model(str(MODEL))
    state = model.initSystem()
    cs = model.getCoordinateSet()
    have = {model.getForceSet().get(i).getName() for i in range(model.getForceSet().getSize())}
    free = [cs.get(i).getName() for i in range(cs.getSize())
            if not (cs.get(i).get_locked() or cs.get(i).isConstrained(state))
            and f"reserve_{cs.get(i).getName()}" not in have]
    for cname in free:
        ca = osim.CoordinateActuator(cname)
        ca.setName(f"reserve_{cname}")
        spinal = cname.startswith(SPINE_PREFIX)
        ca.setOptimalForce(1.0 if spinal else 1000.0)
        ca.setMinControl(-1e6)
        ca.setMaxControl(1e6)
        model.addForce(ca)
    model.finalizeConnections()
    model_file = out / "peer.osim"
    model.printToXML(str(model_file))
    state = model.initSystem()
    names = [cs.get(i).getName() for i in range(cs.getSize())]
    vals = []
    for i in range(cs.getSize()):
        c = cs.get(i)
        vals.append(pose.get(c.getName(), c.getDefaultValue()))
    mot = out / "peer.mot"
    write_coordinates_mot(mot, dict(zip(names, vals)))

    def analyze(analysis, name):
        run_analysis(model_file, mot, out, analysis, name, 0.0, 0.0)

    so = osim.StaticOptimization()
    so.setName("SO")
    so.setUseModelForceSet(True)
    so.setStartTime(0.0)
    so.setEndTime(0.0)
    analyze(so, "so")
    forces = read_sto(out / "so_SO_force.sto")
    reserves = sorted(((abs(v), n, v) for n, v in forces.items() if n.startswith("reserve_")),
                      reverse=True)[:6]
    print("  largest reserve actuator loads [N or N m]: "
          + ", ".join(f"{n[8:]}={v:.1f}" for _, n, v in reserves), flush=True)
    jr = osim.JointReaction()
    jr.setName("JR")
    jr.setForcesFileName(str(out / "so_SO_force.sto"))
    joints, onb, inf = osim.ArrayStr(), osim.ArrayStr(), osim.ArrayStr()
    for lv in CHILD:
        joints.append(_joint_name(model, LEVEL_JOINT[lv]))
        onb.append("child")
        inf.append("ground")
    jr.setJointNames(joints)
    jr.setOnBody(onb)
    jr.setInFrame(inf)
    jr.setStartTime(0.0)
    jr.setEndTime(0.0)
    analyze(jr, "jr")
    rx = read_sto(out / "jr_JR_ReactionLoads.sto")
    # compression axis from adjacent joint centres in the posed model
    for c, v in zip(names, vals):
        cs.get(c).setValue(state, v, False)
    model.assemble(state)
    model.realizePosition(state)
    res = {}
    for lv, body in CHILD.items():
        jn = _joint_name(model, LEVEL_JOINT[lv])
        j = model.getJointSet().get(jn)
        p_lo = j.getChildFrame().getPositionInGround(state)
        p_hi = model.getJointSet().get(_joint_name(model, JOINT_ABOVE[lv])).getChildFrame() \
            .getPositionInGround(state)
        e = np.array([p_hi.get(k) - p_lo.get(k) for k in range(3)])
        e /= np.linalg.norm(e)
        f = np.array([rx[f"{jn}_on_{body}_in_ground_f{a}"] for a in "xyz"])
        res[lv] = float(f @ e)
    return res


def flexion_pose(total_deg: float = 45.0, pelvis_share: float = 0.35) -> dict[str, float]:
    from spinemets.mechanics import default_anatomy as da

    flex = np.radians(total_deg)
    w = np.array([da.ROM_FLEXION_DEG[lv] for lv in LEVEL_JOINT], float)
    spinal = (1 - pelvis_share) * flex * w / w.sum()
    pose = {"pelvis_tilt": -pelvis_share * flex}  # + = posterior tilt in this model
    for (lv, j), a in zip(LEVEL_JOINT.items(), spinal):
        pose[f"{j}_FE"] = -float(a)  # + = extension in this model
    return pose


def main() -> int:
    if not MODEL.is_file():
        print(f"peer model not found: {MODEL}")
        return 1
    import opensim as osim

    from spinemets.mechanics import SubjectModel, compute_loads, load_activities

    osim.Logger.setLevelString("error")
    tmp_model = osim.Model(str(MODEL))
    mass = tmp_model.getTotalMass(tmp_model.initSystem())
    ours = compute_loads(SubjectModel.default("male", mass, 170.0),
                         [a for a in load_activities() if a.id in ("standing", "flexion_45")])
    print(f"body mass {mass:.2f} kg (peer model total); ours: default male, 170 cm, same mass")
    postures = [("standing", {})]
    if "--standing-only" not in sys.argv[1:]:
        postures.append(("flexion_45", flexion_pose()))
    peer = {}
    for name, pose in postures:
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            peer[name] = run_peer(osim, pose, Path(tmp))
        print(f"peer {name}: {time.perf_counter() - t:.0f} s", flush=True)
    print(f"{'level':6s} {'activity':11s} {'ours IVJ below [N]':>18s} {'peer IVJ below [N]':>19s} "
          f"{'ours/peer':>9s}")
    for name in peer:
        for lv in CHILD:
            a = ours["activities"][name]["levels"][lv]["compression_N"]
            b = peer[name][lv]
            print(f"{lv:6s} {name:11s} {a:18.0f} {b:19.0f} {a / b if b else float('nan'):9.2f}")
    for name in peer:
        for who, prof in (("ours", [ours["activities"][name]["levels"][lv]["compression_N"]
                                    for lv in CHILD]),
                          ("peer", [peer[name][lv] for lv in CHILD])):
            falls = [f"{a}->{b} {(y - x) / x * 100:+.1f} %" for a, b, x, y in
                     zip(list(CHILD), list(CHILD)[1:], prof, prof[1:]) if y <= x]
            print(f"{name} {who}: compression falls at " + (", ".join(falls) or "no level"))
    for lv in ("L4",) if "flexion_45" in peer else ():
        print(f"flexion_45/standing at {lv}: ours "
              f"{ours['activities']['flexion_45']['levels'][lv]['compression_N'] / ours['activities']['standing']['levels'][lv]['compression_N']:.2f}, "
              f"peer {peer['flexion_45'][lv] / peer['standing'][lv]:.2f} (Wilke 1999 IDP: 2.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Solver 2: the same subject as an OpenSim model, solved by OpenSim static optimisation and joint
reaction analysis (``opensim`` 4.x Python package).

Model (per activity): a body per level between cut planes (body k = vertebra k with its trunk slab,
between the discs above and below it, + head on T1, + arm segments and hand loads welded to the
shoulder-girdle level at their task positions), a CustomJoint at every cut point (the disc centre
below each vertebra; flexion, lateral bending, axial rotation;
the coordinates hold the activity's posture), the pelvis welded to ground at the activity's pelvic
rotation, one PathActuator per muscle (two path points across the cut, optimal force =
sigma_max * CSA, min_control = tonic activation of the axial muscles) and a reserve CoordinateActuator on every
axial-rotation coordinate (torsion left to passive tissues, as in the scipy solver).
Run: AnalyzeTool(StaticOptimization) from a setup XML, then AnalyzeTool(JointReaction) with the
optimised forces (dependencies.md: tools must run from setup XML files).
Joint reactions: on the child body, expressed in the child frame, resolved in the vertebra's axes.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from spinemets.errors import MissingDependencyError

from .activities import Activity
from .loads.cutplane import LevelResult, level_systems, tonic_bounds
from .loads.external import arm_points, muscle_path_points
from .loads.optimize import solve_level
from .loads.posture import pose
from .subject import SubjectModel

log = logging.getLogger(__name__)


def _osim():
    try:
        import opensim  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("the OpenSim solver needs the 'opensim' package "
                                     "(pip install spinemets[opensim]).") from exc
    import opensim as osim

    osim.Logger.setLevelString("error")
    return osim


def to_os(v_lps_mm: np.ndarray) -> np.ndarray:
    """LPS mm (vector) -> OpenSim axes (X anterior, Y up, Z right) in metres."""
    v = np.asarray(v_lps_mm, float)
    return np.array([-v[..., 1], v[..., 2], -v[..., 0]]).T / 1000.0 if v.ndim > 1 else \
        np.array([-v[1], v[2], -v[0]]) / 1000.0


def _vec3(osim, v):
    return osim.Vec3(float(v[0]), float(v[1]), float(v[2]))


def _inertia(osim, mass: float):
    i = max(mass, 1e-6) * 1e-3
    return osim.Inertia(i, i, i)


def _level_feasibility(subject: SubjectModel, act: Activity) -> tuple[list[float], list[bool]]:
    """Per level: the tonic lower bound it can carry and whether its muscles can balance it at
    all (same rule and LP check as the scipy solver)."""
    _, systems = level_systems(subject, act)
    tonic, feasible = [], []
    for s in systems:
        fmax = subject.muscle_stress_N_cm2 * s.muscles.csa_mm2 / 100.0
        a_eq, b_eq = s.arm_local[:2] * fmax[None, :], -s.moment_local[:2]
        r = solve_level(a_eq, b_eq, 2, tonic_bounds(s.muscles.names, subject.tonic_activation))
        tonic.append(subject.tonic_activation if r.feasible else 0.0)
        feasible.append(r.feasible or solve_level(a_eq, b_eq, 2, 0.0).feasible)
    return tonic, feasible


def build_model(subject: SubjectModel, act: Activity, tonic: list[float] | None = None,
                feasible: list[bool] | None = None):
    """OpenSim ``Model`` of ``subject`` for ``act`` plus the coordinate values of the posture.

    Levels marked infeasible get reserve actuators on flexion and lateral bending too, so that
    OpenSim can solve the other levels (those levels are reported infeasible)."""
    osim = _osim()
    post = pose(subject, act)
    n = len(subject.levels)
    c0 = subject.cut_mm
    tonic = tonic if tonic is not None else [subject.tonic_activation] * n
    m = osim.Model()
    m.setName(f"spinemets_{act.id}")
    m.setGravity(osim.Vec3(0, -9.81, 0))
    pelvis = osim.Body("pelvis", 1e-3, osim.Vec3(0), _inertia(osim, 1e-3))
    m.addBody(pelvis)
    m.addJoint(osim.WeldJoint("ground_pelvis", m.getGround(), _vec3(osim, to_os(subject.hip_mm)),
                              osim.Vec3(0, 0, -post.pelvis_rot_angle), pelvis, osim.Vec3(0),
                              osim.Vec3(0)))
    bodies = {}
    coords: dict[str, float] = {}
    for k in range(n - 1, -1, -1):
        lv = subject.levels[k]
        parts = [(float(subject.slab_mass_kg[k]), subject.slab_com_mm[k])]
        if k == 0:
            parts.append((subject.head_mass_kg, subject.head_com_mm))
        mass = sum(p[0] for p in parts)
        com = sum(p[0] * (p[1] - c0[k]) for p in parts) / mass
        b = osim.Body(f"B_{lv}", float(mass), _vec3(osim, to_os(com)), _inertia(osim, mass))
        m.addBody(b)
        bodies[k] = b
        parent = bodies.get(k + 1, pelvis)
        loc = c0[k] - (c0[k + 1] if k + 1 < n else subject.hip_mm)
        st = osim.SpatialTransform()
        names = [f"{lv}_FE", f"{lv}_LB", f"{lv}_AR"]
        for j, (axis, name) in enumerate(zip([(0, 0, -1), (-1, 0, 0), (0, 1, 0)], names)):
            ta = [st.upd_rotation1, st.upd_rotation2, st.upd_rotation3][j]()
            ta.setCoordinateNames(osim.ArrayStr(name, 1))
            ta.setAxis(osim.Vec3(*axis))
            ta.set_function(osim.LinearFunction(1.0, 0.0))
        for j, axis in enumerate([(1, 0, 0), (0, 1, 0), (0, 0, 1)]):
            ta = [st.upd_translation1, st.upd_translation2, st.upd_translation3][j]()
            ta.setAxis(osim.Vec3(*axis))
            ta.set_function(osim.Constant(0.0))
        joint = osim.CustomJoint(f"J_{lv}", parent, _vec3(osim, to_os(loc)), osim.Vec3(0), b,
                                 osim.Vec3(0), osim.Vec3(0), st)
        m.addJoint(joint)
        coords[names[0]] = float(post.joint_flex_rad[k])
        coords[names[1]] = float(post.joint_bend_rad[k])
        coords[names[2]] = 0.0
    # arms and hand loads: welded point masses at their task positions in the shoulder level frame
    ks = subject.levels.index(subject.shoulder_level)
    for p in arm_points(subject, post, act):
        local = post.rot[ks].T @ (p.position_mm - post.cut_points[ks])
        mass = float(np.linalg.norm(p.force_N) / 9.81)
        b = osim.Body(p.name, mass, osim.Vec3(0), _inertia(osim, mass))
        m.addBody(b)
        m.addJoint(osim.WeldJoint(f"weld_{p.name}", bodies[ks], _vec3(osim, to_os(local)),
                                  osim.Vec3(0), b, osim.Vec3(0), osim.Vec3(0)))
    for k in range(n):
        lv = subject.levels[k]
        up0, lo0 = muscle_path_points(subject, k)
        lower_body = bodies.get(k + 1, pelvis)
        lower_origin = c0[k + 1] if k + 1 < n else subject.hip_mm
        for j, mu in enumerate(subject.muscles[lv]):
            pa = osim.PathActuator()
            pa.setName(f"{lv}_{mu.name}")
            pa.set_optimal_force(subject.muscle_stress_N_cm2 * mu.csa_mm2 / 100.0)
            pa.setMinControl(float(tonic_bounds([mu.name], tonic[k])[0]))
            pa.setMaxControl(1.0)
            pa.addNewPathPoint(f"{lv}_{mu.name}_up", bodies[k], _vec3(osim, to_os(up0[j] - c0[k])))
            pa.addNewPathPoint(f"{lv}_{mu.name}_lo", lower_body,
                               _vec3(osim, to_os(lo0[j] - lower_origin)))
            m.addForce(pa)
        dofs = ["AR"] if feasible is None or feasible[k] else ["AR", "FE", "LB"]
        for dof in dofs:
            ca = osim.CoordinateActuator(f"{lv}_{dof}")
            ca.setName(f"reserve_{lv}_{dof}")
            ca.setOptimalForce(1000.0 if dof == "AR" else 10.0)
            ca.setMinControl(-1e6)
            ca.setMaxControl(1e6)
            m.addForce(ca)
    m.finalizeConnections()
    return m, coords


def write_coordinates_mot(path: Path, coords: dict[str, float]) -> None:
    """A constant-posture coordinates file (radians; 6 rows, as OpenSim's GCV splines need)."""
    names = list(coords)
    times = [0.01 * i for i in range(6)]
    lines = ["spinemets_posture", "version=1", f"nRows={len(times)}",
             f"nColumns={len(names) + 1}", "inDegrees=no", "endheader",
             "\t".join(["time"] + names)]
    for t in times:
        lines.append("\t".join([f"{t:.3f}"] + [f"{coords[n]:.10f}" for n in names]))
    path.write_text("\n".join(lines) + "\n")


def read_sto(path: Path) -> dict[str, float]:
    """First data row of an OpenSim storage file (.sto) as {column name: value}."""
    lines = path.read_text().splitlines()
    i = next(j for j, ln in enumerate(lines) if ln.strip() == "endheader")
    header = lines[i + 1].split("\t")
    row = [float(v) for v in lines[i + 2].split("\t")]
    return dict(zip(header, row))


def run_analysis(model_file: Path, coordinates_file: Path, results_dir: Path, analysis, name: str,
                 initial_time: float = 0.0, final_time: float = 0.01) -> Path:
    """Run one OpenSim analysis (e.g. StaticOptimization, JointReaction) through AnalyzeTool from a
    setup XML written to ``results_dir`` (dependencies.md: tools must run from setup files).
    Returns the setup file; results are written to ``results_dir`` with the prefix ``name``."""
    osim = _osim()
    tool = osim.AnalyzeTool()
    tool.setName(name)
    tool.setModelFilename(str(model_file))
    tool.setCoordinatesFileName(str(coordinates_file))
    tool.setLowpassCutoffFrequency(-1)
    tool.setInitialTime(initial_time)
    tool.setFinalTime(final_time)
    tool.setResultsDir(str(results_dir))
    tool.getAnalysisSet().cloneAndAppend(analysis)
    setup = Path(results_dir) / f"{name}_setup.xml"
    tool.printToXML(str(setup))
    osim.AnalyzeTool(str(setup)).run()
    return setup


def solve_activity_opensim(subject: SubjectModel, act: Activity, p: int = 2,
                           workdir: str | Path | None = None) -> list[LevelResult]:
    """Loads at every level from OpenSim StaticOptimization + JointReaction."""
    osim = _osim()
    tonic, feasible = _level_feasibility(subject, act)
    model, coords = build_model(subject, act, tonic, feasible)
    with tempfile.TemporaryDirectory(prefix="spinemets_osim_") as tmp:
        out = Path(workdir) if workdir else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        model_file = out / "model.osim"
        model.printToXML(str(model_file))
        mot = out / "posture.mot"
        write_coordinates_mot(mot, coords)
        so = osim.StaticOptimization()
        so.setName("SO")
        so.setActivationExponent(float(p))
        so.setUseModelForceSet(True)
        so.setConvergenceCriterion(1e-8)
        so.setMaxIterations(500)
        so.setStartTime(0.0)
        so.setEndTime(0.01)
        run_analysis(model_file, mot, out, so, "so")
        force_file = out / "so_SO_force.sto"
        forces = read_sto(force_file)
        jr = osim.JointReaction()
        jr.setName("JR")
        jr.setForcesFileName(str(force_file))
        jr.setStartTime(0.0)
        jr.setEndTime(0.01)
        joints = osim.ArrayStr()
        onb = osim.ArrayStr()
        inf = osim.ArrayStr()
        for lv in subject.levels:
            joints.append(f"J_{lv}")
            onb.append("child")
            inf.append("child")
        jr.setJointNames(joints)
        jr.setOnBody(onb)
        jr.setInFrame(inf)
        run_analysis(model_file, mot, out, jr, "jr")
        rx = read_sto(out / "jr_JR_ReactionLoads.sto")
    _, systems = level_systems(subject, act)
    results = []
    for k, lv in enumerate(subject.levels):
        key = f"J_{lv}_on_B_{lv}_in_B_{lv}"
        r_os = np.array([rx[f"{key}_fx"], rx[f"{key}_fy"], rx[f"{key}_fz"]])
        e = to_os(subject.frames[k].T) * 1000.0  # rows: e_x, e_y, e_z in body axes (OpenSim)
        comp = float(r_os @ e[2])
        names = [mu.name for mu in subject.muscles[lv]]
        f = {nm: float(forces.get(f"{lv}_{nm}", np.nan)) for nm in names}
        fmax = np.array([subject.muscle_stress_N_cm2 * mu.csa_mm2 / 100 for mu in
                         subject.muscles[lv]])
        fv = np.array(list(f.values())) if f else np.zeros(0)
        s = systems[k]
        resid = (s.arm_local[:2] @ fv + s.moment_local[:2]) if len(fv) else s.moment_local[:2]
        ok = feasible[k] and bool(np.all(np.abs(resid) <= 0.02 * (1 + np.abs(s.moment_local[:2]).max())))
        if len(fv):
            ok = ok and bool(np.all(fv <= fmax * 1.001))
        grav = float(-s.force_ext @ s.frame[:, 2])
        if not ok:
            results.append(LevelResult(lv, "infeasible", "the muscles crossing this cut cannot "
                                       "balance its moments within their bounds (reserve "
                                       "actuators were needed)" if not feasible[k] else
                                       "OpenSim static optimisation did not balance the moments "
                                       "with muscle forces within bounds",
                                       None, None, None, f, grav,
                                       tuple(float(v) for v in s.moment_local)))
            continue
        results.append(LevelResult(
            lv, "ok", None if tonic[k] == subject.tonic_activation else
            "tonic co-activation dropped at this cut (no antagonist)",
            comp, float(r_os @ e[1]), float(-r_os @ e[0]), f, grav,
            tuple(float(v) for v in s.moment_local),
            float(forces.get(f"reserve_{lv}_AR", np.nan)) * 1000.0,
            float((fv / fmax).max()) if len(fv) else 0.0))
    return results

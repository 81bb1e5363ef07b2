"""CLI verbs ``loads`` and ``risk``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spinemets.errors import InputError
from spinemets.io.atomic import write_json_atomic

from . import default_anatomy as da


def _read_json(path: str, what: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} file {p} does not exist.")
    try:
        return json.loads(p.read_text("utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{what} file {p} is not valid JSON ({exc.msg}).") from None


def _loads(args: argparse.Namespace) -> int:
    from . import SubjectModel, compute_loads, load_activities

    if args.vertebrae:
        vert = _read_json(args.vertebrae, "vertebrae")
        mus = _read_json(args.muscles, "muscles") if args.muscles else None
        subject = SubjectModel.from_ct_outputs(vert, mus, sex=args.sex, weight_kg=args.weight_kg,
                                               height_cm=args.height_cm, age=args.age,
                                               muscle_stress_N_cm2=args.muscle_stress)
    else:
        if args.muscles:
            raise InputError("--muscles needs --vertebrae (the muscles are placed on the CT spine).")
        if args.weight_kg is None or args.height_cm is None:
            raise InputError("without --vertebrae, give --weight-kg and --height-cm for the default "
                             "anatomy.")
        subject = SubjectModel.default(args.sex, args.weight_kg, args.height_cm, age=args.age,
                                       muscle_stress_N_cm2=args.muscle_stress)
    if not 0.0 <= args.tonic_activation < 0.5:
        raise InputError("--tonic-activation must be in [0, 0.5).")
    subject.tonic_activation = args.tonic_activation
    acts = load_activities(args.activities)
    result = compute_loads(subject, acts, solver=args.solver, exponent=args.exponent)
    out = Path(args.output) / "loads.json"
    write_json_atomic(out, result)
    print(out)
    return 0


def _risk(args: argparse.Namespace) -> int:
    from . import compute_risk

    result = compute_risk(_read_json(args.loads, "loads"), _read_json(args.bone, "bone"),
                          method=args.method, monte_carlo=args.monte_carlo, seed=args.seed)
    out = Path(args.output) / "risk.json"
    write_json_atomic(out, result)
    print(out)
    return 0


def register(sub) -> None:
    p = sub.add_parser("loads", help="spinal loads per vertebra T1-L5 for daily activities",
                       description="Compression and shear at every level T1-L5 for each activity "
                                   "(cut-plane equilibrium + static optimisation, or OpenSim). "
                                   "With --vertebrae the subject comes from the CT outputs; "
                                   "without it from default anatomy for --sex/--weight-kg/--height-cm.")
    p.add_argument("--vertebrae", help="vertebrae.json of the segment stage")
    p.add_argument("--muscles", help="muscles.json of the muscles stage")
    p.add_argument("--sex", choices=["male", "female"], default="male")
    p.add_argument("--weight-kg", type=float, default=None)
    p.add_argument("--height-cm", type=float, default=None)
    p.add_argument("--age", type=float, default=None)
    p.add_argument("--muscle-stress", type=float, default=100.0,
                   help="maximum muscle stress in N/cm2 (default 100)")
    p.add_argument("--tonic-activation", type=float, default=da.TONIC_ACTIVATION,
                   help="tonic co-activation of every trunk muscle, fraction of its maximum force "
                        f"(default {da.TONIC_ACTIVATION:g}: fitted to documented absolute standing "
                        "loads, see mechanics/loads/calibration.py)")
    p.add_argument("--activities", help="activities JSON (default: the packaged file)")
    p.add_argument("--solver", choices=["scipy", "opensim"], default="scipy")
    p.add_argument("--exponent", type=int, choices=[2, 3], default=2,
                   help="static-optimisation exponent p in sum (f/CSA)^p")
    p.add_argument("-o", "--output", required=True, help="output folder (writes loads.json)")
    p.set_defaults(func=_loads)

    r = sub.add_parser("risk", help="load-to-strength ratio per vertebra and activity",
                       description="LSR = compression / strength per level and activity "
                                   "(research output).")
    r.add_argument("--loads", required=True, help="loads.json")
    r.add_argument("--bone", required=True, help="bone.json of the bone stage")
    r.add_argument("--method", choices=["auto", "fe", "rigidity", "density_area"], default="auto")
    r.add_argument("--monte-carlo", type=int, default=0, help="number of Monte Carlo samples")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("-o", "--output", required=True, help="output folder (writes risk.json)")
    r.set_defaults(func=_risk)

"""``spinemets bone``: calibrated density, shape and strength per vertebra -> OUT/bone.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import InputError


def register(sub: Any) -> None:
    p = sub.add_parser("bone", help="QCT calibration, vBMD, body shape and strength per vertebra",
                       description="Calibrate HU to BMD (mg/cm3 K2HPO4), measure every vertebral body "
                                   "and estimate its compressive strength (density x area, CT rigidity, "
                                   "voxel FE). Writes OUT/bone.json.")
    p.add_argument("ct", help="CT (DICOM folder/zip or NIfTI/NRRD/MHA)")
    p.add_argument("--vertebrae", required=True, help="vertebra label map (VerSe ids T1=8..L5=24)")
    p.add_argument("--bodies", required=True,
                   help="vertebral-body label map (vertebra ids, or one body label intersected with each vertebra)")
    p.add_argument("--body-label", type=int, default=None,
                   help="use only this label of --bodies (e.g. 1 for TotalSegmentator vertebrae_body)")
    p.add_argument("--lesions", help="lesion label map (1 lytic, 2 blastic, 3 mixed, or named labels)")
    p.add_argument("--calibration", choices=["phantom", "phantomless", "fixed"], default="phantomless")
    p.add_argument("--rods-json", help="rods JSON: {\"rods\": [{\"density_mg_cm3\": ..., "
                                       "\"center_lps_mm\": [x, y], \"radius_mm\": r}, ...]}")
    p.add_argument("--fixed-law", help="\"slope,intercept\" of BMD = slope*HU + intercept (with --calibration fixed)")
    p.add_argument("--no-fe", action="store_true", help="skip the voxel finite-element model")
    p.add_argument("--fe-element-mm", type=float, default=1.5, help="FE element edge (mm), default 1.5")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.set_defaults(func=run)


def _calibration_spec(args: argparse.Namespace) -> Any:
    if args.calibration == "fixed":
        if args.fixed_law:
            try:
                slope, intercept = (float(v) for v in args.fixed_law.split(","))
            except ValueError:
                raise InputError(f"--fixed-law must be 'slope,intercept', got {args.fixed_law!r}") from None
            return {"method": "fixed", "slope": slope, "intercept": intercept}
        return "fixed"
    if args.calibration == "phantom":
        if not args.rods_json:
            raise InputError("--calibration phantom needs --rods-json with the rods' densities")
        try:
            spec = json.loads(Path(args.rods_json).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read rods JSON {args.rods_json}: {exc}") from None
        if isinstance(spec, list):
            spec = {"rods": spec}
        return {"method": "phantom", **spec}
    return "phantomless"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..image import LabelMap
    from ..io import read_ct, read_label_map, write_json_atomic
    from .assess import assess_bone

    ct = read_ct(args.ct)
    vert = read_label_map(args.vertebrae)
    bodies = read_label_map(args.bodies)
    if args.body_label is not None:
        bodies = LabelMap((bodies.array == args.body_label).astype(np.uint16), bodies.geometry,
                          {1: "vertebral_body"})
    lesions = read_label_map(args.lesions) if args.lesions else None
    result = assess_bone(ct, vert, bodies, lesions, calibration=_calibration_spec(args),
                         fe=not args.no_fe, fe_element_mm=args.fe_element_mm)
    out = Path(args.out)
    write_json_atomic(out / "bone.json", result)
    print(f"wrote {out / 'bone.json'} ({len(result['levels'])} levels, calibration "
          f"{result['calibration']['method']})")
    return 0

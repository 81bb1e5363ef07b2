"""``spinemets muscles CT --vertebrae OUT/vertebrae.nii.gz -o OUT [--backend ...]``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("muscles", help="trunk muscle groups per vertebral level (CSA, HU, fat, position)",
                       description="Segment the 11 trunk muscle groups left/right in the mid-vertebral "
                                   "plane of every vertebra T1-L5 and write muscles.nii.gz + muscles.json.")
    p.add_argument("ct", help="CT: DICOM folder/zip, NIfTI, NRRD or MHA")
    p.add_argument("--vertebrae", required=True, help="vertebra label map on the CT grid (spinemets ids)")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--backend", choices=("classic", "nnunet", "totalseg"), default="classic")
    p.add_argument("--model", default=None, help="nnU-Net v2 model folder (nnunet backend)")
    p.add_argument("--mapping", default=None,
                   help='JSON {"model_label": "anatomy_name" or null} for the nnunet backend')
    p.add_argument("--vertebrae-json", default=None,
                   help="vertebrae.json of the segment stage (body centroids are taken from it)")
    p.add_argument("--device", default="cpu", help="torch device for the model backends")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io import read_ct, read_label_map
    from . import segment_muscles, write_muscle_outputs

    ct = read_ct(args.ct)
    vert = read_label_map(args.vertebrae)
    summary = None
    vj = Path(args.vertebrae_json) if args.vertebrae_json else Path(args.vertebrae).with_name("vertebrae.json")
    if vj.is_file():
        try:
            summary = json.loads(vj.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{vj} is not valid JSON: {exc}") from None
    elif args.vertebrae_json:
        raise InputError(f"vertebrae summary not found: {vj}")
    res = segment_muscles(ct, vert, backend=args.backend, model_dir=args.model, mapping_file=args.mapping,
                          device=args.device, vertebrae_summary=summary)
    paths = write_muscle_outputs(res, ct, args.out)
    n_ok = sum(1 for e in res.summary["levels"].values() if e.get("status") == "ok")
    print(f"muscles: {n_ok} levels measured -> {paths['json']}")
    return 0

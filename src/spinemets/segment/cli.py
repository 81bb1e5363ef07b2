"""Verbs ``spinemets segment`` and ``spinemets evaluate``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _segment(args: argparse.Namespace) -> int:
    from ..io import read_ct
    from . import segment_vertebrae, write_vertebrae_outputs

    ct = read_ct(args.ct, series_uid=args.series_uid)
    result = segment_vertebrae(ct, backend=args.backend, model_dir=args.model, device=args.device)
    paths = write_vertebrae_outputs(result, ct, args.output)
    lab = result.summary["labelling"]
    print(f"{len(result.summary['levels'])} vertebrae ({', '.join(result.summary['levels'])}); "
          f"anchor {lab.get('anchor')}, confidence {lab.get('confidence')}; wrote {paths['json'].parent}")
    for w in result.summary["warnings"]:
        print(f"warning: {w}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ..io import write_json_atomic
    from .evaluate import evaluate_files

    m = evaluate_files(args.pred, args.ref, args.pred_convention, args.ref_convention)
    write_json_atomic(args.output, m)
    rate = m["identification_rate"]
    md = m["mean_dice_matched"]
    print(f"identification rate {rate if rate is None else round(rate, 3)}, mean Dice (matched) "
          f"{md if md is None else round(md, 3)}; wrote {args.output}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from . import BACKENDS
    from .evaluate import CONVENTIONS

    p = sub.add_parser("segment", help="segment and label vertebrae T1-L5")
    p.add_argument("ct", help="CT: DICOM folder/file/zip, NIfTI, NRRD or MHA")
    p.add_argument("-o", "--output", required=True, type=Path, help="output folder")
    p.add_argument("--backend", choices=BACKENDS, default="classic")
    p.add_argument("--model", type=Path, default=None, help="trained nnU-Net v2 model folder (nnunet backend)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--series-uid", default=None, help="series to use in a multi-series DICOM input")
    p.set_defaults(func=_segment)

    e = sub.add_parser("evaluate", help="Dice, HD95 and identification rate of two vertebra label maps")
    e.add_argument("pred", type=Path)
    e.add_argument("ref", type=Path)
    e.add_argument("-o", "--output", required=True, type=Path, help="metrics JSON")
    e.add_argument("--pred-convention", choices=CONVENTIONS, default="spinemets")
    e.add_argument("--ref-convention", choices=CONVENTIONS, default="spinemets")
    e.set_defaults(func=_evaluate)

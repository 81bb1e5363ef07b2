"""``spinemets info CT [--json] [--series-uid UID]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _cmd_info(args: argparse.Namespace) -> int:
    from .info import format_info, info

    d = info(args.ct, series_uid=args.series_uid)
    if args.json:
        json.dump(d, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_info(d))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("info", help="describe a CT input (DICOM folder/zip, NIfTI, NRRD, MHA)",
                       description="Read a CT as spinemets would and print its series, size, spacing, "
                                   "orientation, HU range, modality and slice gaps. Bad input ends with "
                                   "exit code 2 and one line naming the fault.")
    p.add_argument("ct", help="DICOM folder, .zip of DICOM files, or NIfTI/NRRD/MHA file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--series-uid", default=None, help="SeriesInstanceUID to read from a multi-series folder")
    p.set_defaults(func=_cmd_info)

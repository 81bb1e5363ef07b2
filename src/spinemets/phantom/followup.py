"""Follow-up studies of the same phantom: lesion growth or response, new lesions, optional
collapse, and a different pose (curvature, pitch, translation) with exact per-vertebra transforms.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import anatomy
from .lesions import place_lesion
from .model import Model, Pose
from .spine import Frame
from .vertebra import Fracture


def followup_models(base: Model) -> list[Model]:
    """One model per requested follow-up month, in increasing order of months."""
    out = []
    cfg = base.config
    for i, months in enumerate(sorted(cfg.followup_months)):
        rng = np.random.default_rng([cfg.seed, 7919, int(round(months * 100))])
        changes = []
        lesions = []
        for les in base.lesions:
            if les.cls == "blastic":
                factor = 1.0 + 0.01 * months * rng.uniform(0.5, 1.5)  # slow growth
                kind = "growth"
            elif rng.random() < 0.3:
                factor = max(1.0 - 0.02 * months * rng.uniform(0.5, 1.0), 0.6)  # response
                kind = "response"
            else:
                factor = 1.0 + 0.025 * months * rng.uniform(0.6, 1.4)  # progression
                kind = "growth"
            g = les.grown(factor)
            lesions.append(g)
            changes.append({"lesion_id": les.id, "change": kind, "radius_factor": round(factor, 4)})
        fractures = dict(base.fractures)
        if months >= 6:
            fov = anatomy.TARGET_LEVELS[anatomy.TARGET_LEVELS.index(cfg.fov_levels[0]):
                                        anatomy.TARGET_LEVELS.index(cfg.fov_levels[1]) + 1]
            free = [lv for lv in fov if not any(le.level == lv for le in lesions)]
            if free:
                lv = str(rng.choice(free))
                nid = max([le.id for le in lesions], default=0) + 1
                new = place_lesion(nid, lv, "lytic", "body", float(rng.uniform(4.0, 6.0) * months / 6.0),
                                   base.dims[lv], rng)
                new.new_at_months = months
                lesions.append(new)
                changes.append({"lesion_id": nid, "change": "new", "level": lv})
            if cfg.extra.get("followup_collapse", True):
                # the largest lytic body lesion collapses its vertebra (if not fractured yet)
                cands = [le for le in lesions if le.cls in ("lytic", "mixed") and le.location == "body"
                         and le.level not in fractures and le.new_at_months is None]
                if cands:
                    le = max(cands, key=lambda x: float(np.prod(x.radii_mm)))
                    if float(np.prod(le.radii_mm)) ** (1 / 3) >= 7.0:
                        fractures[le.level] = Fracture(0.3, 0.15, 2.5)
                        changes.append({"lesion_id": le.id, "change": "collapse", "level": le.level})
        pose = Pose(phi_scale_thoracic=float(rng.uniform(0.85, 1.15)), phi_scale_lumbar=float(rng.uniform(0.85, 1.15)),
                    phi_offset_deg=float(rng.uniform(-3, 3)), roll_deg=float(rng.uniform(-4, 4)),
                    shift_mm=(float(rng.uniform(-8, 8)), float(rng.uniform(-6, 6)), float(rng.uniform(-10, 10))))
        out.append(replace(base, lesions=lesions, fractures=fractures, pose=pose, months=float(months),
                           lesion_changes=changes))
    return out


def transforms_between(base: dict[str, Frame], follow: dict[str, Frame]) -> dict[str, list[list[float]]]:
    """Per level: 4x4 LPS matrix mapping a baseline point of the vertebra to the follow-up."""
    out = {}
    for lv, fb in base.items():
        if lv not in follow or lv not in anatomy.VERSE_ID or lv.startswith("C"):
            continue
        m = follow[lv].matrix @ np.linalg.inv(fb.matrix)
        out[lv] = [[round(float(v), 8) for v in row] for row in m]
    return out

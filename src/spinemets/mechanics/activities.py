"""Activities (static postures + hand loads) read from a user-extendable JSON file.

The packaged file is ``spinemets/data/activities.json``; its ``description`` explains every key.
Angles are degrees, masses kg.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from spinemets.errors import InputError


@dataclass(frozen=True)
class Activity:
    """One static task. See ``data/activities.json`` for the meaning of each field."""

    id: str
    description: str
    trunk_flexion_deg: float = 0.0
    pelvis_share: float = 0.0
    lateral_bend_deg: float = 0.0
    upper_arm_deg: float = 0.0
    elbow_flexion_deg: float = 0.0
    hand_load_left_kg: float = 0.0
    hand_load_right_kg: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _num(entry: dict, key: str, lo: float, hi: float, default: float = 0.0, src: str = "") -> float:
    v = entry.get(key, default)
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise InputError(f"activity {entry.get('id')!r} in {src}: {key} must be a number.") from None
    if not lo <= v <= hi:
        raise InputError(f"activity {entry.get('id')!r} in {src}: {key}={v} is outside {lo}..{hi}.")
    return v


def parse_activity(entry: dict, src: str = "activities file") -> Activity:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        raise InputError(f"every activity in {src} needs a non-empty string 'id'.")
    arms = entry.get("arms") or {}
    hands = entry.get("hand_load_kg") or {}
    if not isinstance(arms, dict) or not isinstance(hands, dict):
        raise InputError(f"activity {entry['id']!r} in {src}: 'arms' and 'hand_load_kg' must be "
                         "objects.")
    return Activity(
        id=entry["id"], description=str(entry.get("description", "")),
        trunk_flexion_deg=_num(entry, "trunk_flexion_deg", -30, 110, src=src),
        pelvis_share=_num(entry, "pelvis_share", 0, 1, src=src),
        lateral_bend_deg=_num(entry, "lateral_bend_deg", -45, 45, src=src),
        upper_arm_deg=_num(dict(arms, id=entry["id"]), "upper_arm_deg", -60, 180, src=src),
        elbow_flexion_deg=_num(dict(arms, id=entry["id"]), "elbow_flexion_deg", 0, 160, src=src),
        hand_load_left_kg=_num(dict(hands, id=entry["id"]), "left", 0, 100, src=src),
        hand_load_right_kg=_num(dict(hands, id=entry["id"]), "right", 0, 100, src=src),
    )


def load_activities(path: str | Path | None = None) -> list[Activity]:
    """Activities from ``path`` (JSON with an ``activities`` list) or the packaged default file."""
    if path is None:
        text = resources.files("spinemets").joinpath("data/activities.json").read_text("utf-8")
        src = "the packaged activities.json"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"activities file {p} does not exist.")
        text, src = p.read_text("utf-8"), str(p)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{src} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    items = doc.get("activities") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise InputError(f"{src} must contain a non-empty 'activities' list.")
    acts = [parse_activity(e, src) for e in items]
    ids = [a.id for a in acts]
    if len(set(ids)) != len(ids):
        raise InputError(f"{src} has duplicate activity ids.")
    return acts

"""Map the label names of a trained model (its ``dataset.json``) onto spinemets anatomy ids.

A model's classes are matched by name, case-insensitively, in this order:

1. a user mapping ``{model_label_name: anatomy_name}`` (JSON file or dict); a value of ``null``
   drops the class on purpose (e.g. a model's ``spinal_cord`` class);
2. the spinemets anatomy name itself (``vertebrae_L1``, ``erector_spinae_left``, ``rib_left_3``);
3. VerSe-style level names (``L1``, ``T12``, ``C7``, ``L6``, ``T13``; also ``vertebra_L1``,
   ``vertebrae-L1``); ``S1``/``vertebrae_S1`` fold into the sacrum, as in the anatomy table;
4. the DICOM segment label of the anatomy table (``"L1 vertebra"``, ``"Left psoas major"``);
5. TotalSegmentator class names (its ``total``/``abdominal_muscles`` names equal ours for
   vertebrae, sacrum, ribs, aorta and the 11 trunk muscle groups).

Names that match nothing are an error listing every one of them: a silently dropped class
would make a model look as if it found nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

from .. import anatomy
from ..errors import InputError

#: Class names meaning "no structure" in model dataset.json files.
BACKGROUND_NAMES = {"background", "bg", "clear label", "unlabeled", "unlabelled"}


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip()).lower()


def _build_lookup() -> dict[str, int]:
    table: dict[str, int] = {}
    for s in anatomy.STRUCTURES:
        table[_norm(s.name)] = s.id
        table.setdefault(_norm(s.segment_label), s.id)
    for level, vid in anatomy.VERSE_ID.items():
        for form in (level, f"vertebra_{level}", f"vertebrae_{level}", f"{level}_vertebra"):
            table.setdefault(_norm(form), vid)
    for form in ("S1", "vertebrae_S1", "vertebra_S1", "S1_vertebra"):
        table.setdefault(_norm(form), anatomy.SACRUM_ID)
    return table


_LOOKUP = _build_lookup()


def resolve_anatomy_id(name: str) -> int | None:
    """Anatomy-table id for a structure name in any of the accepted conventions, else None."""
    return _LOOKUP.get(_norm(name))


def load_label_mapping(path: str | Path) -> dict[str, str | None]:
    """Read a JSON mapping file ``{model_label_name: anatomy_name_or_null}``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"label mapping file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"label mapping file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in data.items()):
        raise InputError(f"label mapping file {path} must be a JSON object "
                         '{"model_label_name": "anatomy_name" or null}')
    return dict(data)


def map_model_labels(label_names: Mapping[int, str],
                     mapping: Mapping[str, str | None] | str | Path | None = None) -> dict[int, int]:
    """Model label ids -> spinemets anatomy ids.

    ``label_names`` is ``{model_id: model_label_name}`` (background may be included and is
    skipped). ``mapping`` is a dict or the path of a JSON mapping file (see module docstring).
    Classes mapped to ``null`` are left out of the result; several classes may map to one
    structure (they are merged, e.g. TotalSegmentator's ``sacrum`` and ``vertebrae_S1``). Raises :class:`InputError` naming
    every class that cannot be matched, and every mapping target that is not a known structure.
    """
    if mapping is not None and not isinstance(mapping, Mapping):
        mapping = load_label_mapping(mapping)
    user = {_norm(k): v for k, v in (mapping or {}).items()}
    out: dict[int, int] = {}
    unknown: list[str] = []
    bad_targets: list[str] = []
    for model_id, name in sorted(label_names.items()):
        model_id = int(model_id)
        if model_id == 0 or _norm(name) in BACKGROUND_NAMES:
            continue
        key = _norm(name)
        if key in user:
            target = user[key]
            if target is None:
                continue
            tid = resolve_anatomy_id(target)
            if tid is None:
                bad_targets.append(f"{name} -> {target}")
                continue
            out[model_id] = tid
            continue
        tid = resolve_anatomy_id(name)
        if tid is None:
            unknown.append(f"{model_id}:{name}")
        else:
            out[model_id] = tid
    if bad_targets:
        raise InputError("label mapping targets are not spinemets anatomy names: "
                         + ", ".join(bad_targets))
    if unknown:
        raise InputError("model labels with no spinemets counterpart: " + ", ".join(unknown)
                         + "; give a mapping file {\"model_label\": \"anatomy_name\" or null}")
    return out


def dataset_label_names(dataset_json: Mapping) -> dict[int, str]:
    """``{id: name}`` from an nnU-Net v2 ``dataset.json`` ``labels`` entry (name -> id or ids).

    Region-based models (a name mapped to a list of ids) are not supported by spinemets and give
    an :class:`InputError`.
    """
    labels = dataset_json.get("labels")
    if not isinstance(labels, Mapping) or not labels:
        raise InputError("dataset.json has no 'labels' entry")
    out: dict[int, str] = {}
    for name, value in labels.items():
        if isinstance(value, (list, tuple)):
            raise InputError(f"region-based nnU-Net labels are not supported (label {name!r})")
        out[int(value)] = str(name)
    return out

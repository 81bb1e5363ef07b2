"""The one anatomy table of spinemets: label ids, names, DICOM segment labels, SNOMED CT codes,
colours, and converters from other tools' label conventions.

Ids:

* vertebrae use the VerSe convention (C1=1 ... C7=7, T1=8 ... T12=19, L1=20 ... L5=24, L6=25,
  sacrum=26, T13=28);
* trunk muscle groups use 101-122 (left = odd, right = even; *left/right are the patient's*);
* other tissues of the phantom and the label maps use 40-99.

SNOMED codes come from the DICOM standard's code tables (pydicom ``codes.SCT``) and from
TotalSegmentator's SNOMED mapping. Where no exact concept was available to us offline, the
structure carries its nearest parent concept and ``code_is_parent=True`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

CAT_ANATOMY = ("SCT", "123037004", "Anatomical Structure")
CAT_TISSUE = ("SCT", "85756007", "Tissue")
CAT_ALTERED = ("SCT", "49755003", "Morphologically Altered Structure")
CAT_OBJECT = ("SCT", "260787004", "Physical object")
LEFT = ("SCT", "7771000", "Left")
RIGHT = ("SCT", "24028007", "Right")


@dataclass(frozen=True)
class Structure:
    """One labelled structure. ``name`` is the key used in every file (``vertebrae_L1``)."""

    id: int
    name: str
    segment_label: str  # human-readable DICOM SEG SegmentLabel, e.g. "L1 vertebra"
    category: tuple[str, str, str]  # (scheme, value, meaning)
    type_code: tuple[str, str, str]
    color_rgb: tuple[int, int, int]
    laterality: tuple[str, str, str] | None = None
    code_is_parent: bool = False
    group: str = ""  # "vertebra", "muscle", "tissue", ...

    @property
    def level(self) -> str | None:
        """Vertebral level name ("L1") for vertebrae, else None."""
        return self.name.split("_", 1)[1] if self.group == "vertebra" else None


# --- vertebrae ------------------------------------------------------------------------------
_VERT_SCT = {
    "C1": "14806007", "C2": "39976000", "C3": "113205007", "C4": "5329002", "C5": "36978003",
    "C6": "36054005", "C7": "87391001", "T1": "64864005", "T2": "53733008", "T3": "1626008",
    "T4": "73071006", "T5": "56401006", "T6": "45296009", "T7": "62487009", "T8": "11068009",
    "T9": "82687006", "T10": "7610001", "T11": "12989004", "T12": "23215003", "L1": "66794005",
    "L2": "14293000", "L3": "36470004", "L4": "11994002", "L5": "49668003",
}
CERVICAL = [f"C{i}" for i in range(1, 8)]
THORACIC = [f"T{i}" for i in range(1, 13)]
LUMBAR = [f"L{i}" for i in range(1, 6)]
#: Levels spinemets assesses (T1-L5), cranial to caudal.
TARGET_LEVELS: list[str] = THORACIC + LUMBAR
#: All vertebral levels in cranio-caudal order, transitional ones in their anatomical place.
ALL_LEVELS: list[str] = CERVICAL + THORACIC + ["T13"] + LUMBAR + ["L6"]

VERSE_ID: dict[str, int] = {lv: i + 1 for i, lv in enumerate(CERVICAL + THORACIC + LUMBAR)}
VERSE_ID.update({"L6": 25, "T13": 28})
SACRUM_ID = 26


def _vertebra_color(level: str) -> tuple[int, int, int]:
    order = CERVICAL + THORACIC + LUMBAR
    if level not in order:
        return (200, 200, 120)
    t = order.index(level) / (len(order) - 1)
    rgb = np.array([230, 220, 170]) * (1 - t) + np.array([170, 120, 230]) * t
    # alternate brightness so that neighbours differ in every viewer
    rgb = rgb * (1.0 if order.index(level) % 2 == 0 else 0.8)
    return tuple(int(v) for v in rgb)  # type: ignore[return-value]


def _vertebrae() -> list[Structure]:
    out = []
    for lv, vid in VERSE_ID.items():
        if lv in _VERT_SCT:
            code, parent = ("SCT", _VERT_SCT[lv], f"{lv} vertebra"), False
        else:  # transitional: generic vertebra of the region
            code, parent = ("SCT", "51282000", "Vertebra"), True
        out.append(Structure(vid, f"vertebrae_{lv}", f"{lv} vertebra", CAT_ANATOMY, code,
                             _vertebra_color(lv), None, parent, "vertebra"))
    out.append(Structure(SACRUM_ID, "sacrum", "Sacrum", CAT_ANATOMY, ("SCT", "54735007", "Sacrum"),
                         (250, 200, 130), None, False, "vertebra_other"))
    return out


# --- trunk muscle groups --------------------------------------------------------------------
#: (group name, SNOMED type code, code_is_parent, colour)
_MUSCLE_GROUPS: list[tuple[str, tuple[str, str, str], bool, tuple[int, int, int]]] = [
    ("erector_spinae", ("SCT", "44947003", "Erector spinae muscle"), False, (220, 60, 60)),
    ("transversospinalis", ("SCT", "244849004", "Deep muscle of back"), True, (240, 140, 40)),
    ("psoas_major", ("SCT", "68455001", "Iliopsoas muscle"), True, (60, 160, 220)),
    ("quadratus_lumborum", ("SCT", "127954009", "Skeletal muscle"), True, (70, 200, 120)),
    ("rectus_abdominis", ("SCT", "1142228004", "Abdominal wall muscle"), True, (230, 200, 60)),
    ("external_oblique", ("SCT", "1142228004", "Abdominal wall muscle"), True, (180, 90, 200)),
    ("internal_oblique", ("SCT", "1142228004", "Abdominal wall muscle"), True, (120, 70, 170)),
    ("latissimus_dorsi", ("SCT", "15665001", "Latissimus dorsi muscle"), False, (40, 120, 120)),
    ("trapezius", ("SCT", "31764008", "Trapezius muscle"), False, (150, 110, 60)),
    ("pectoralis_major", ("SCT", "60005003", "Pectoralis major muscle"), False, (200, 100, 140)),
    ("serratus_anterior", ("SCT", "18346003", "Serratus anterior muscle"), False, (100, 180, 60)),
]
MUSCLE_GROUPS: list[str] = [g[0] for g in _MUSCLE_GROUPS]
_MUSCLE_PRETTY = {
    "erector_spinae": "erector spinae", "transversospinalis": "transversospinalis (multifidus)",
    "psoas_major": "psoas major", "quadratus_lumborum": "quadratus lumborum",
    "rectus_abdominis": "rectus abdominis", "external_oblique": "external oblique",
    "internal_oblique": "internal oblique", "latissimus_dorsi": "latissimus dorsi",
    "trapezius": "trapezius", "pectoralis_major": "pectoralis major",
    "serratus_anterior": "serratus anterior",
}


def _muscles() -> list[Structure]:
    out = []
    for n, (group, code, parent, rgb) in enumerate(_MUSCLE_GROUPS):
        for side, lat, shade in (("left", LEFT, 1.0), ("right", RIGHT, 0.75)):
            sid = 101 + 2 * n + (0 if side == "left" else 1)
            out.append(Structure(sid, f"{group}_{side}", f"{side.capitalize()} {_MUSCLE_PRETTY[group]}",
                                 CAT_ANATOMY, code, tuple(int(c * shade) for c in rgb), lat, parent,
                                 "muscle"))
    return out


# --- other tissues (phantom truth, auxiliary labels) ----------------------------------------
def _others() -> list[Structure]:
    s = Structure
    out = [
        s(41, "spinal_canal", "Spinal canal", CAT_ANATOMY, ("SCT", "61853006", "Spinal canal"),
          (240, 240, 100), group="tissue"),
        s(42, "intervertebral_disc", "Intervertebral disc", CAT_ANATOMY,
          ("SCT", "421060004", "Vertebral column"), (110, 220, 220), code_is_parent=True,
          group="tissue"),
        s(43, "subcutaneous_fat", "Subcutaneous fat", CAT_TISSUE,
          ("SCT", "67769002", "Subcutaneous fatty tissue"), (250, 230, 180), group="tissue"),
        s(44, "visceral_fat", "Visceral fat", CAT_TISSUE, ("SCT", "55603005", "Adipose tissue"),
          (240, 210, 150), group="tissue"),
        s(45, "soft_tissue", "Other soft tissue", CAT_ANATOMY, ("SCT", "38866009", "Body part"),
          (200, 150, 150), code_is_parent=True, group="tissue"),
        s(46, "aorta", "Aorta", CAT_ANATOMY, ("SCT", "15825003", "Aorta"), (220, 40, 40), group="tissue"),
        s(47, "lung", "Lung", CAT_ANATOMY, ("SCT", "39607008", "Lung"), (190, 210, 240), group="tissue"),
        s(48, "patient_table", "Patient table", CAT_OBJECT, ("SCT", "86407004", "Table"),
          (120, 120, 120), group="object"),
        s(49, "calibration_phantom", "Calibration phantom", CAT_OBJECT, ("SCT", "706342009", "Phantom"),
          (90, 200, 255), group="object"),
    ]
    rib_codes = {1: "48535007", 2: "78247007", 3: "25888004", 4: "25523003", 5: "15339008",
                 6: "59558009", 7: "24915002", 8: "5953002", 9: "22565002", 10: "77644006",
                 11: "58830002", 12: "43993008"}
    for side, lat, base in (("left", LEFT, 60), ("right", RIGHT, 80)):
        for k in range(1, 13):
            out.append(s(base + k, f"rib_{side}_{k}", f"{side.capitalize()} rib {k}", CAT_ANATOMY,
                         ("SCT", rib_codes[k], f"Rib {k}"), (230, 190, 140), lat, group="rib"))
    return out


#: Lesion classes (separate lesion label maps use these ids).
LESION_CLASSES: dict[int, str] = {1: "lytic", 2: "blastic", 3: "mixed"}
LESION_CODE = ("SCT", "14799000", "Neoplasm, metastatic")

STRUCTURES: list[Structure] = _vertebrae() + _muscles() + _others()
BY_ID: dict[int, Structure] = {s.id: s for s in STRUCTURES}
BY_NAME: dict[str, Structure] = {s.name: s for s in STRUCTURES}
assert len(BY_ID) == len(STRUCTURES) and len(BY_NAME) == len(STRUCTURES), "duplicate ids/names"


def structure(key: int | str) -> Structure:
    """Look a structure up by id or name; ``KeyError`` with a helpful message otherwise."""
    table = BY_ID if isinstance(key, (int, np.integer)) else BY_NAME
    try:
        return table[int(key) if isinstance(key, (int, np.integer)) else key]
    except KeyError:
        raise KeyError(f"{key!r} is not in the spinemets anatomy table") from None


def vertebra_id(level: str) -> int:
    """VerSe id of a level name ("L1" -> 20)."""
    return VERSE_ID[level]


def level_of(label_id: int) -> str | None:
    """Level name of a VerSe vertebra id (20 -> "L1"); None for non-vertebrae."""
    for lv, vid in VERSE_ID.items():
        if vid == label_id:
            return lv
    return None


def level_index(level: str) -> int:
    """Position of a level in cranio-caudal order (C1=0); transitional levels in their place."""
    return ALL_LEVELS.index(level)


def label_table(ids: Iterable[int]) -> dict[int, str]:
    """``{id: name}`` for the given ids (the content of a ``NAME.labels.json``)."""
    return {int(i): BY_ID[int(i)].name for i in sorted(set(int(i) for i in ids)) if int(i) != 0}


def muscle_name(group: str, side: str) -> str:
    if group not in MUSCLE_GROUPS or side not in ("left", "right"):
        raise KeyError(f"unknown muscle {group}_{side}")
    return f"{group}_{side}"


# --- converters -----------------------------------------------------------------------------
#: TotalSegmentator ``total`` task ids -> spinemets ids.
TOTALSEG_TOTAL_TO_SPINEMETS: dict[int, int] = {25: SACRUM_ID}
# TS: L5=27, L4=28 ... L1=31, T12=32 ... T1=43, C7=44 ... C1=50
for _i, _lv in enumerate(reversed(CERVICAL + THORACIC + LUMBAR)):
    TOTALSEG_TOTAL_TO_SPINEMETS[27 + _i] = VERSE_ID[_lv]
#: TS muscles with a spinemets counterpart (autochthon = erector spinae + transversospinalis;
#: iliopsoas ~ psoas major above the iliac crest). Mapped to the nearest group; see docs.
TOTALSEG_TOTAL_MUSCLES: dict[int, str] = {86: "autochthon_left", 87: "autochthon_right",
                                          88: "iliopsoas_left", 89: "iliopsoas_right"}
#: TS S1 (26) is part of the sacrum for spinemets.
TOTALSEG_TOTAL_TO_SPINEMETS[26] = SACRUM_ID

#: Spine-Mets-CT-SEG NIfTI remap (T1=1 ... L5=17) -> spinemets ids.
SPINEMETS_CT_SEG_TO_SPINEMETS: dict[int, int] = {i + 1: VERSE_ID[lv] for i, lv in enumerate(TARGET_LEVELS)}


def convert_labels(array: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """Relabel an integer array with ``mapping`` (ids not in it become 0). Returns uint16."""
    lut = np.zeros(int(max(int(array.max(initial=0)), max(mapping, default=0))) + 1, dtype=np.uint16)
    for src, dst in mapping.items():
        if src < lut.size:
            lut[src] = dst
    arr = np.asarray(array)
    if arr.min(initial=0) < 0:
        raise ValueError("label arrays must be non-negative")
    return lut[arr.astype(np.int64)]


def from_totalseg_total(array: np.ndarray) -> np.ndarray:
    """TotalSegmentator ``total`` label array -> spinemets vertebra ids (other classes -> 0)."""
    return convert_labels(array, TOTALSEG_TOTAL_TO_SPINEMETS)


def from_spinemets_ct_seg(array: np.ndarray) -> np.ndarray:
    """Spine-Mets-CT-SEG NIfTI label array (T1=1 ... L5=17) -> spinemets ids."""
    return convert_labels(array, SPINEMETS_CT_SEG_TO_SPINEMETS)

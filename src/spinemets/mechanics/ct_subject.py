"""Build a :class:`SubjectModel` from the CT stage outputs (vertebrae.json, muscles.json).

Method
------
1. Usable levels (a finite ``body_centroid_lps_mm``/``centroid_lps_mm`` and a status that is not a
   failure) give the measured spine curve (supine CT, LPS mm).
2. The default anatomy, scaled to the subject, is the standing reference. The measured curve is
   placed in it by a least-squares rigid fit (Kabsch) over the common levels: the CT supplies the
   *shape* (curvature, spacing), the default supplies the global sagittal alignment in standing
   (a supine CT has no gravity-referenced posture).
3. Levels the CT lacks are filled from the default anatomy: chained from the nearest measured level
   (one side) or interpolated between two measured levels, and recorded as ``default_filled``.
4. Local frames: ``axis_si_lps`` (and ``axis_ap_lps`` for the lateral direction) when given, else the
   central difference of neighbouring centroids; slab, head and shoulder positions keep their
   default offsets in the local frames. Cut point (disc centre below the vertebra): on the
   vertebra's axis, half the measured spacing to the next measured vertebra below it (for the last
   measured level, to the one above); default offset for levels without a measured neighbour.
5. Muscles: measured CSA and offsets (``offset_mm`` in the vertebra frame, else the centroid
   projected on the vertebra frame) replace the default; supine-to-standing moment-arm corrections
   (abdominals x1.30, erector spinae x1.03 men / x1.12 women; science.md §3.2) are applied. Default
   groups/levels are scaled by the median measured/default CSA ratio and marked
   ``default_scaled_to_ct``.
6. Without height: stature = measured arc length between adjacent measured levels / the default
   anatomy's arc-per-stature for the same levels. Without body mass: nominal BMI 25 kg/m2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinemets.anatomy import MUSCLE_GROUPS
from spinemets.errors import InputError

from . import default_anatomy as da
from .subject import (ABDOMINAL, LEVELS, SUPINE_TO_STANDING, Muscle, _check_stress,
                      _check_subject, _default_geometry, _finite3, estimate_mass_from_height,
                      frame_from_axis, is_usable)

NOMINAL_HEIGHT_CM = {"male": 175.0, "female": 162.0}


def _measured_levels(vsum: dict) -> dict[str, dict[str, Any]]:
    if not isinstance(vsum, dict) or not isinstance(vsum.get("levels"), dict):
        raise InputError("vertebrae summary must be the content of vertebrae.json with a 'levels' "
                         "object.")
    out: dict[str, dict[str, Any]] = {}
    for lv in LEVELS:
        e = vsum["levels"].get(lv)
        if not isinstance(e, dict) or not is_usable(e.get("status")):
            continue
        c = _finite3(e.get("body_centroid_lps_mm"))
        if c is None:
            c = _finite3(e.get("centroid_lps_mm"))
        if c is None:
            continue
        out[lv] = {"centroid": c, "axis_si": _finite3(e.get("axis_si_lps")),
                   "axis_ap": _finite3(e.get("axis_ap_lps"))}
    if not out:
        raise InputError("vertebrae.json has no usable T1-L5 level (no finite centroid).")
    return out


def _estimate_height(meas: dict[str, dict[str, Any]], sex: str) -> tuple[float, str]:
    ref = _default_geometry(da.REFERENCE_HEIGHT_CM)["centroids"]
    m_len = d_len = 0.0
    for i in range(len(LEVELS) - 1):
        a, b = LEVELS[i], LEVELS[i + 1]
        if a in meas and b in meas:
            m_len += float(np.linalg.norm(meas[a]["centroid"] - meas[b]["centroid"]))
            d_len += float(np.linalg.norm(ref[i] - ref[i + 1]))
    if d_len <= 0:
        return NOMINAL_HEIGHT_CM[sex], (f"nominal {sex} stature (no two adjacent vertebrae on the "
                                        "CT to estimate it from)")
    h = float(np.clip(da.REFERENCE_HEIGHT_CM * m_len / d_len, 130.0, 215.0))
    return h, ("estimated from the CT: centroid arc length of adjacent segmented vertebrae "
               f"({m_len:.0f} mm) scaled by the default anatomy's arc per stature")


def _rigid_fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t with dst ~ R @ src + t (Kabsch; degenerate cases handled)."""
    n = len(src)
    cs, cd = src.mean(0), dst.mean(0)
    if n == 1:
        return np.eye(3), cd - cs
    a, b = src - cs, dst - cd
    sv = np.linalg.svd(a, compute_uv=False)
    if n == 2 or sv[1] < 1e-3 * max(sv[0], 1e-9):
        u, v = a[-1] - a[0], b[-1] - b[0]
        u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
        k = np.cross(u, v)
        s, c = np.linalg.norm(k), float(u @ v)
        if s < 1e-9:
            r = np.eye(3) if c > 0 else -np.eye(3)
        else:
            k = k / s
            kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
            r = np.eye(3) + s * kx + (1 - c) * kx @ kx
        return r, cd - r @ cs
    h = a.T @ b
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, cd - r @ cs


def _fill_positions(default_c: np.ndarray, meas_c: dict[int, np.ndarray]) -> np.ndarray:
    out = default_c.copy()
    idx = sorted(meas_c)
    for i in range(len(LEVELS)):
        if i in meas_c:
            out[i] = meas_c[i]
            continue
        above = [j for j in idx if j < i]
        below = [j for j in idx if j > i]
        if above and below:
            a, b = above[-1], below[0]
            w = (i - b) / (a - b)
            corr = (meas_c[a] - default_c[a]) * w + (meas_c[b] - default_c[b]) * (1 - w)
            out[i] = default_c[i] + corr
        else:
            j = above[-1] if above else below[0]
            out[i] = meas_c[j] + default_c[i] - default_c[j]
    return out


def _muscle_entries(msum: dict | None) -> dict[str, dict[str, dict]]:
    if msum is None:
        return {}
    if not isinstance(msum, dict) or not isinstance(msum.get("levels"), dict):
        raise InputError("muscles summary must be the content of muscles.json with a 'levels' "
                         "object.")
    return {lv: v for lv, v in msum["levels"].items() if lv in LEVELS and isinstance(v, dict)}


def _measured_muscle(name: str, e: Any, sex: str, raw: dict[str, Any] | None) -> Muscle | None:
    if not isinstance(e, dict) or not is_usable(e.get("status")):
        return None
    csa = e.get("csa_mm2")
    if csa is None or not np.isfinite(float(csa)) or float(csa) <= 0:
        return None
    off = e.get("offset_mm") or {}
    ant, lat = off.get("anterior"), off.get("lateral")
    if ant is None or lat is None:
        cen = _finite3(e.get("centroid_lps_mm"))
        if cen is None or raw is None:
            return None
        e_z = raw["axis_si"] if raw["axis_si"] is not None else np.array([0.0, 0.0, 1.0])
        fr = frame_from_axis(e_z if e_z[2] >= 0 else -e_z)
        d = cen - raw["centroid"]
        ant, lat = -float(d @ fr[:, 1]), float(d @ fr[:, 0])
    ant, lat = float(ant), float(lat)
    group = name.rsplit("_", 1)[0]
    if group in ABDOMINAL and ant > 0:
        ant *= SUPINE_TO_STANDING["abdominal"]
    elif group == "erector_spinae":
        ant *= SUPINE_TO_STANDING["erector_spinae"][sex]
    return Muscle(name, float(csa), ant, lat, "ct")


def build_from_ct(cls, vsum: dict, msum: dict | None, sex: str, weight_kg: float | None,
                  height_cm: float | None, age: float | None, stress: float):
    sex, weight_kg, height_cm = _check_subject(sex, weight_kg, height_cm)
    _check_stress(stress)
    meas = _measured_levels(vsum)
    mentries = _muscle_entries(msum)
    h_method = w_method = "given"
    if height_cm is None:
        height_cm, h_method = _estimate_height(meas, sex)
    if weight_kg is None:
        weight_kg = estimate_mass_from_height(height_cm)
        w_method = (f"estimated: nominal BMI 25 kg/m2 at the {'estimated' if h_method != 'given' else 'given'} "
                    "height (the CT outputs carry no body-composition measure)")
    base = cls.default(sex, weight_kg, height_cm, age, stress)

    idx = {lv: LEVELS.index(lv) for lv in meas}
    src = np.stack([meas[lv]["centroid"] for lv in meas])
    dst = np.stack([base.centroids_mm[idx[lv]] for lv in meas])
    rot, t = _rigid_fit(src, dst)
    meas_c = {idx[lv]: rot @ meas[lv]["centroid"] + t for lv in meas}
    cents = _fill_positions(base.centroids_mm, meas_c)

    frames = base.frames.copy()
    for i, lv in enumerate(LEVELS):
        d0 = base.frames[i]
        if lv in meas and meas[lv]["axis_si"] is not None:
            e_z = rot @ meas[lv]["axis_si"]
        elif i in meas_c:
            up = cents[i - 1] if i > 0 else cents[i]
            dn = cents[i + 1] if i < len(LEVELS) - 1 else cents[i]
            e_z = up - dn
        else:
            continue
        if e_z @ d0[:, 2] < 0:
            e_z = -e_z
        hint = None
        if lv in meas and meas[lv]["axis_ap"] is not None:
            post = rot @ meas[lv]["axis_ap"]
            post = post if post @ d0[:, 1] > 0 else -post
            hint = np.cross(post, e_z)
        frames[i] = frame_from_axis(e_z, hint if hint is not None else d0[:, 0])

    def moved(p0: np.ndarray, i: int) -> np.ndarray:
        return cents[i] + frames[i] @ (base.frames[i].T @ (p0 - base.centroids_mm[i]))

    slab = np.stack([moved(base.slab_com_mm[i], i) for i in range(len(LEVELS))])
    cuts = np.stack([moved(base.cut_mm[i], i) for i in range(len(LEVELS))])
    for i in meas_c:  # disc centre below a measured vertebra: half the measured spacing down its axis
        j = i + 1 if i + 1 in meas_c else (i - 1 if i - 1 in meas_c else None)
        if j is not None:
            e_z = frames[i][:, 2]
            cuts[i] = cents[i] - 0.5 * abs(float((cents[j] - cents[i]) @ e_z)) * e_z
    head = moved(base.head_com_mm, 0)
    k_sh = LEVELS.index(base.shoulder_level)
    shoulders = np.stack([moved(s, k_sh) for s in base.shoulder_mm])
    hip = moved(base.hip_mm, len(LEVELS) - 1)

    muscles: dict[str, list[Muscle]] = {}
    ratios: list[float] = []
    raw_frames = {lv: meas[lv] for lv in meas}
    for lv in LEVELS:
        got: dict[str, Muscle] = {}
        for name, e in (mentries.get(lv) or {}).items():
            group, _, side = name.rpartition("_")
            if group not in MUSCLE_GROUPS or side not in ("left", "right"):
                continue  # level-level keys (status, vertebra_frame, ...)
            m = _measured_muscle(name, e, sex, raw_frames.get(lv))
            if m is not None:
                got[name] = m
                dflt = next((d for d in base.muscles[lv] if d.name == name), None)
                if dflt is not None and dflt.csa_mm2 > 0:
                    ratios.append(m.csa_mm2 / dflt.csa_mm2)
        muscles[lv] = list(got.values())
    factor = float(np.clip(np.median(ratios), 0.3, 3.0)) if ratios else 1.0
    fill_src = "default_scaled_to_ct" if ratios else "default"
    for lv in LEVELS:
        have = {m.name for m in muscles[lv]}
        for d in base.muscles[lv]:
            if d.name not in have:
                muscles[lv].append(Muscle(d.name, d.csa_mm2 * factor, d.anterior_mm, d.left_mm,
                                          fill_src))

    model = cls(sex=sex, weight_kg=weight_kg, height_cm=height_cm, age_years=base.age_years,
                centroids_mm=cents, frames=frames, cut_mm=cuts, slab_mass_kg=base.slab_mass_kg,
                slab_com_mm=slab, head_mass_kg=base.head_mass_kg, head_com_mm=head,
                shoulder_mm=shoulders, arm_mass_kg=base.arm_mass_kg,
                arm_geometry_mm=base.arm_geometry_mm, hip_mm=hip, muscles=muscles,
                muscle_stress_N_cm2=float(stress),
                muscle_path_half_length_mm=base.muscle_path_half_length_mm)
    model.provenance = {
        "geometry": "CT vertebral centroids and axes, rigidly fitted onto the default standing "
                    "alignment (Kabsch over the segmented levels); missing levels from the default "
                    "anatomy scaled by height",
        "muscles": ("CT CSA and offsets (supine-to-standing corrected); missing groups/levels from "
                    f"the default anatomy x {factor:.3f} (median CT/default CSA ratio)")
                   if ratios else "no usable CT muscle measure: default anatomy scaled by sex, mass, "
                                  "age",
        "csa_fill_factor": factor,
        "weight_kg_method": w_method, "height_cm_method": h_method,
        "levels": {lv: {"geometry": "ct" if lv in meas else "default_filled",
                        "muscles": sorted({m.source for m in muscles[lv]})} for lv in LEVELS},
    }
    return model

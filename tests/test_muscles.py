"""Muscle stage: geometry, measures, model-backend mapping, CLI, and the classic backend on phantoms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spinemets import anatomy
from spinemets.errors import InputError
from spinemets.image import CTImage, Geometry, LabelMap
from spinemets.muscles import segment_muscles, write_muscle_outputs
from spinemets.muscles.backends import relabel_model_output
from spinemets.muscles.frames import vertebra_frames
from spinemets.muscles.measure import measure_group
from spinemets.muscles.plane import Plane

ALL_NAMES = [anatomy.muscle_name(g, s) for g in anatomy.MUSCLE_GROUPS for s in ("left", "right")]


# --- geometry and measures ------------------------------------------------------------------
def _tilted_spine(tilt_deg: float = 12.0):
    """Three synthetic vertebrae (L1-L3): a disc body + a posterior block, stacked along an axis
    tilted by ``tilt_deg`` in the sagittal plane; 1.5 mm voxels, identity direction."""
    geo = Geometry((80, 90, 70), (1.5, 1.5, 1.5), (-52.5, -60.0, -60.0))
    zz, yy, xx = np.indices(geo.shape_zyx)
    lps = geo.index_zyx_to_lps(np.stack([zz, yy, xx], -1).astype(float))
    t = np.radians(tilt_deg)
    axis = np.array([0.0, np.sin(t), np.cos(t)])  # cranial, leaning posteriorly
    ant = np.array([0.0, -np.cos(t), np.sin(t)])
    arr = np.zeros(geo.shape_zyx, np.uint16)
    for k, lv in enumerate(["L1", "L2", "L3"]):
        c = (1 - k) * 32.0 * axis
        d = lps - c
        h = d @ axis
        a = d @ ant
        lat = d[..., 0]
        body = (np.abs(h) <= 12.0) & (a ** 2 + lat ** 2 <= 18.0 ** 2)
        post = (np.abs(h) <= 8.0) & (a < -20.0) & (a > -45.0) & (np.abs(lat) < 4.0)
        arch = (np.abs(h) <= 8.0) & (a < -14.0) & (a > -24.0) & (np.abs(lat) < 16.0)
        arr[body | post | arch] = anatomy.vertebra_id(lv)
    return LabelMap(arr, geo, {}), axis, ant


def test_frames_recover_axis_and_orientation():
    lm, axis, ant = _tilted_spine(12.0)
    frames = vertebra_frames(lm)
    assert list(frames) == ["L1", "L2", "L3"]
    f = frames["L2"]
    assert np.degrees(np.arccos(np.clip(f.superior @ axis, -1, 1))) < 3.0
    assert np.degrees(np.arccos(np.clip(f.anterior @ ant, -1, 1))) < 5.0
    assert f.left[0] > 0.99  # patient's left = +x (LPS)
    assert np.linalg.norm(f.origin_lps_mm) < 2.0  # body centre of L2 at the origin
    # a no-neighbour vertebra still gets an axis (smallest principal axis of its body)
    only = LabelMap(np.where(lm.array == anatomy.vertebra_id("L2"), lm.array, 0), lm.geometry, {})
    f1 = vertebra_frames(only)["L2"]
    assert abs(f1.superior @ axis) > 0.97


def test_plane_sampling_is_geometric():
    geo = Geometry((40, 60, 60), (1.0, 1.0, 2.0), (-30.0, -30.0, -40.0))
    zz, yy, xx = np.indices(geo.shape_zyx)
    lps = geo.index_zyx_to_lps(np.stack([zz, yy, xx], -1).astype(float))
    vol = (lps[..., 0] * 2.0 + lps[..., 1] + 0.5 * lps[..., 2]).astype(np.float32)  # linear field
    lm, axis, ant = _tilted_spine(0.0)
    fr = vertebra_frames(lm)["L2"]
    pl = Plane.for_frame(fr, geo, pixel_mm=1.0, half_width_mm=10.0)
    img, inside = pl.sample(vol, geo)
    pts = pl.points_lps()
    expected = pts[..., 0] * 2.0 + pts[..., 1] + 0.5 * pts[..., 2]
    assert inside.all()
    assert np.allclose(img, expected, atol=1e-3)
    assert np.allclose(pl.project_lps(pts[3, 7]), [(7 - pl.shape[1] // 2) * 1.0, (3 - pl.shape[0] // 2) * 1.0])


def test_measure_group_disc_with_fat():
    lm, _, _ = _tilted_spine(0.0)
    fr = vertebra_frames(lm)["L2"]
    pl = Plane.for_frame(fr, lm.geometry, pixel_mm=0.5, half_width_mm=60.0)
    x, y = pl.grid_mm()
    r2 = (x - 30.0) ** 2 + (y - 40.0) ** 2
    hu = np.full(pl.shape, -100.0, np.float32)
    hu[r2 <= 20.0 ** 2] = 45.0
    fat_spots = (r2 <= 20.0 ** 2) & ((x - 30.0) ** 2 + (y - 40.0) ** 2 <= 5.0 ** 2)
    hu[fat_spots] = -90.0
    mask = (r2 <= 20.0 ** 2) & ~fat_spots  # muscle-window pixels only, fat hole inside
    m = measure_group(mask, hu, pl)
    assert m["csa_mm2"] == pytest.approx(np.pi * 400.0, rel=0.02)  # outline incl. enclosed fat
    assert m["fat_fraction"] == pytest.approx(25.0 / 400.0, abs=0.01)
    assert m["hu_mean"] == pytest.approx(45.0, abs=0.1) and m["hu_sd"] == pytest.approx(0.0, abs=0.1)
    assert m["offset_mm"]["lateral"] == pytest.approx(30.0, abs=0.3)  # left
    assert m["offset_mm"]["anterior"] == pytest.approx(-40.0, abs=0.3)  # posterior of the body
    c = np.asarray(m["centroid_lps_mm"])
    assert np.allclose(c, fr.origin_lps_mm + 30.0 * fr.left - 40.0 * fr.anterior, atol=0.3)


def test_partial_volume_area_of_a_thin_sheet():
    """A 2.5 mm sheet on a 1 mm grid whose borders cut pixels at 40 % and 10 % muscle: the HU
    threshold keeps 2 rows (-20 %); weighting the border pixels by their muscle fraction between
    pure fat and the (pooled, the sheet has no interior) muscle reference recovers 2.5 rows."""
    from spinemets.muscles.partial_volume import partial_volume_areas

    fat_hu, mus_hu = -100.0, 50.0
    hu = np.full((80, 100), fat_hu, np.float32)
    frac = np.zeros(80)
    frac[10], frac[11], frac[12], frac[13] = 0.4, 1.0, 1.0, 0.1  # sheet from y = 10.6 to 13.1 mm
    hu[:, 20:80] = (fat_hu + frac * (mus_hu - fat_hu))[:, None][:, [0] * 60]
    hu[40:65, 30:55] = mus_hu  # a thick muscle elsewhere in the plane
    sheet = np.zeros(hu.shape, bool)
    sheet[:20, 20:80] = hu[:20, 20:80] >= -29.0
    block = np.zeros(hu.shape, bool)
    block[40:65, 30:55] = True
    assert sheet.sum() == 2 * 60  # what a threshold counts
    areas = partial_volume_areas({1: sheet, 2: block}, hu, px=1.0)
    assert areas[1] == pytest.approx(2.5 * 60, rel=0.03)
    assert areas[2] == pytest.approx(25 * 25, rel=0.01)  # hard edges: nothing added or lost


def test_partial_volume_area_against_a_rib():
    """A muscle block lying on a rib (1000 HU) with one row of half muscle / half bone between:
    that row counts half for a group weighed against bone, nothing for one that is not; the
    rib itself counts nothing."""
    from spinemets.muscles.partial_volume import partial_volume_areas

    hu = np.full((80, 100), -100.0, np.float32)
    hu[20:40, 30:50] = 50.0  # muscle block
    hu[40, 30:50] = 50.0 + 0.5 * (1000.0 - 50.0)  # muscle/bone mixture row
    hu[41:46, 25:55] = 1000.0  # rib
    block = np.zeros(hu.shape, bool)
    block[20:40, 30:50] = True
    rib = hu > 200.0
    weighed = partial_volume_areas({1: block}, hu, px=1.0, bone=rib, bone_groups={1})
    plain = partial_volume_areas({1: block}, hu, px=1.0, bone=rib, bone_groups=set())
    assert plain[1] == pytest.approx(400.0, rel=0.01)
    assert weighed[1] == pytest.approx(400.0 + 0.5 * 20, rel=0.01)


def test_trim_wings_drops_organ_protrusion_only():
    """A compact erector-spinae-like disc (radius 18 mm) with a 10 mm-wide wing: the wing is
    dropped when it reaches other muscle-window tissue (an iso-dense organ), kept when it ends in
    fat; the disc itself loses nothing either way."""
    from spinemets.muscles.paraspinal import trim_wings

    yy, xx = np.mgrid[0:120, 0:140].astype(float)
    disc = (xx - 50) ** 2 + (yy - 60) ** 2 <= 18 ** 2
    wing = (xx >= 60) & (xx < 95) & (yy >= 35) & (yy < 45)
    m = disc | wing
    organ = (xx >= 95) & (xx < 125) & (yy >= 25) & (yy < 55)
    cut = trim_wings(m, 1.0, organ)
    assert (cut & disc).sum() == disc.sum()
    assert (cut & wing & (xx > 75)).sum() == 0  # the far part of the wing is gone
    kept = trim_wings(m, 1.0, np.zeros_like(m))
    assert (kept == m).all()


def test_landmark_body_radius_is_grid_independent():
    """The body radius of the landmarks comes from the body's volume and height, not from the
    projected shadow of coarse voxel centres (which leaves holes on a 1 mm plane): the same
    vertebrae on a 1.5 mm and a 3 mm grid give the same radius within 10 %."""
    from spinemets.muscles.landmarks import vertebra_landmarks

    lm, _, _ = _tilted_spine(0.0)
    sub = lm.array[::2, ::2, ::2].copy()
    coarse = LabelMap(sub, Geometry(sub.shape, (3.0, 3.0, 3.0), lm.geometry.origin_lps_mm), {})
    radii = []
    for m in (lm, coarse):
        fr = vertebra_frames(m)["L2"]
        pl = Plane.for_frame(fr, m.geometry, half_width_mm=60.0)
        radii.append(vertebra_landmarks(fr, pl, m, anatomy.vertebra_id("L2"), fr.body_points_lps).body_radius_mm)
    assert radii[0] == pytest.approx(18.0, rel=0.15)  # the synthetic body is an 18 mm disc
    assert radii[1] == pytest.approx(radii[0], rel=0.10)


# --- model backends: mapping logic with fake model outputs ----------------------------------
#: class names of a hypothetical trunk-muscle model (abbreviations as in published lab models)
_FAKE_NAMES = {0: "background", 1: "ES_L", 2: "ES_R", 3: "MF_L", 4: "MF_R", 5: "PS_L", 6: "PS_R",
               7: "QL_L", 8: "QL_R", 9: "spinal_cord"}
_FAKE_MAP = {"ES_L": "erector_spinae_left", "ES_R": "erector_spinae_right",
             "MF_L": "transversospinalis_left", "MF_R": "transversospinalis_right",
             "PS_L": "psoas_major_left", "PS_R": "psoas_major_right",
             "QL_L": "quadratus_lumborum_left", "QL_R": "quadratus_lumborum_right", "spinal_cord": None}


def test_relabel_model_output():
    from spinemets.dl.labels import map_model_labels

    mapping = map_model_labels(_FAKE_NAMES, _FAKE_MAP)
    arr = np.arange(10, dtype=np.uint16).reshape(1, 2, 5)
    out = relabel_model_output(arr, {**mapping, 9: anatomy.vertebra_id("L1")})  # non-muscle dropped
    assert out.ravel().tolist() == [0, 101, 102, 103, 104, 105, 106, 107, 108, 0]
    with pytest.raises(InputError):
        relabel_model_output(arr, {9: anatomy.vertebra_id("L1")})


@pytest.fixture(scope="module")
def lumbar_phantom(phantom_factory):
    return phantom_factory(3, lesions=[], fov_levels=("T11", "L5"))


def test_nnunet_backend_with_truth_as_model_output(lumbar_phantom, monkeypatch, tmp_path):
    """Feed the phantom's true muscle labels through the nnunet path as if a model predicted them
    (renamed to the fake model's ids): mapping, plane sampling and measures must reproduce the
    phantom's truth.json numbers (measured by the phantom in its own design planes)."""
    ph = lumbar_phantom
    inv = {anatomy.BY_NAME[v].id: k for k, v in _FAKE_NAMES.items() if v in _FAKE_MAP and _FAKE_MAP[v]
           for v in [_FAKE_MAP[v]]}
    lut = np.zeros(256, np.uint16)
    for aid, mid in inv.items():
        lut[aid] = mid
    fake = lut[ph.muscles.array]
    import spinemets.dl.predict as pred

    calls = {}

    def fake_predict(ct, model_dir, device="cpu", **kw):
        calls["device"] = device
        return fake, dict(_FAKE_NAMES)

    monkeypatch.setattr(pred, "predict_with_nnunet", fake_predict)
    mp = tmp_path / "mapping.json"
    mp.write_text(json.dumps(_FAKE_MAP))
    res = segment_muscles(ph.ct, ph.vertebrae, backend="nnunet", model_dir=tmp_path, mapping_file=mp,
                          device="cpu")
    assert calls["device"] == "cpu" and res.summary["backend"] == "nnunet"
    assert set(res.labels.present_ids()) == {101, 102, 103, 104, 105, 106, 107, 108}
    errs, dists = [], []
    for lv in ["T12", "L1", "L2", "L3", "L4", "L5"]:
        truth = ph.truth["muscles"][lv]
        for name in _FAKE_MAP.values():
            if not name:
                continue
            got = res.summary["levels"][lv][name]
            tv = truth.get(name)
            if tv is None or tv["csa_mm2"] < 100:
                assert got["status"] in ("not_present", "ok")
                continue
            assert got["status"] == "ok", (lv, name, got)
            errs.append(abs(got["csa_mm2"] - tv["csa_mm2"]) / tv["csa_mm2"])
            dists.append(np.linalg.norm(np.subtract(got["centroid_lps_mm"], tv["centroid_lps_mm"])))
    print(f"truth-as-model: CSA error median {np.median(errs):.3f} max {np.max(errs):.3f}; "
          f"centroid max {np.max(dists):.2f} mm")
    # residual differences come from the plane definition only: ours uses neighbouring body
    # centroids for the axis (one-sided at L5), the phantom its design axis - a 3-4 deg tilt moves
    # a centroid 55 mm behind the body by ~4 mm along z and changes oblique cuts by a few %
    assert np.median(errs) <= 0.03 and np.max(errs) <= 0.15
    assert np.median(dists) <= 1.5 and np.max(dists) <= 5.0
    # groups the model does not have are reported as not present (never a silent 0)
    assert res.summary["levels"]["L3"]["rectus_abdominis_left"]["status"] == "not_present"
    assert res.summary["levels"]["L3"]["rectus_abdominis_left"]["csa_mm2"] is None


def test_totalseg_backend_uses_run_totalseg_muscles(lumbar_phantom, monkeypatch):
    import spinemets.segment.backends.totalseg as ts

    ph = lumbar_phantom
    keep = np.where(np.isin(ph.muscles.array, [101, 102, 105, 106]), ph.muscles.array, 0).astype(np.uint16)
    keep[ph.vertebrae.array > 0] = anatomy.vertebra_id("L1")  # a non-muscle class must be dropped
    monkeypatch.setattr(ts, "run_totalseg_muscles",
                        lambda ct, device="cpu": LabelMap(keep, ct.geometry, {}))
    res = segment_muscles(ph.ct, ph.vertebrae, backend="totalseg")
    assert set(res.labels.present_ids()) == {101, 102, 105, 106}
    assert res.summary["levels"]["L3"]["psoas_major_left"]["status"] == "ok"


def test_bad_input(lumbar_phantom):
    ph = lumbar_phantom
    with pytest.raises(InputError):
        segment_muscles(ph.ct, ph.vertebrae, backend="magic")
    with pytest.raises(InputError):
        segment_muscles(ph.ct, LabelMap(np.zeros(ph.ct.array.shape, np.uint16), ph.ct.geometry, {}))
    other = Geometry(ph.ct.geometry.shape_zyx, (9.0, 9.0, 9.0))
    with pytest.raises(InputError):
        segment_muscles(ph.ct, LabelMap(ph.vertebrae.array, other, {}))
    with pytest.raises(InputError):
        segment_muscles(ph.ct, ph.vertebrae, backend="nnunet")  # no model folder


# --- classic backend on phantoms --------------------------------------------------------------
def _errors(res, truth, levels, groups):
    out = {}
    for lv in levels:
        for g in groups:
            for side in ("left", "right"):
                name = f"{g}_{side}"
                tv = truth["muscles"].get(lv, {}).get(name)
                if not tv or tv["csa_mm2"] < 50:
                    continue
                got = res.summary["levels"][lv][name]
                if got["status"] == "outside_fov":
                    # the plane leaves the image there (the truth is clipped too): not measurable,
                    # allowed only at a vertebra flagged as touching the field-of-view edge
                    assert "warning" in res.summary["levels"][lv], (lv, name)
                    continue
                if got["csa_mm2"] is None:
                    out.setdefault(g, []).append((np.inf, np.inf))
                    continue
                out.setdefault(g, []).append((abs(got["csa_mm2"] - tv["csa_mm2"]) / tv["csa_mm2"],
                                              float(np.linalg.norm(np.subtract(got["centroid_lps_mm"],
                                                                               tv["centroid_lps_mm"])))))
    return out


@pytest.fixture(scope="module")
def classic_on_phantoms(lumbar_phantom, phantom_small):
    return [(ph, segment_muscles(ph.ct, ph.vertebrae)) for ph in (lumbar_phantom, phantom_small)]


def test_classic_lumbar_deep_muscles_on_phantoms(classic_on_phantoms):
    """Paraspinal (erector spinae, transversospinalis) and psoas at L2-L5 on two phantoms (seeds 3
    and 11, different sex/size): median CSA error <= 10 % and median centroid error <= 5 mm per
    group, as in the issue's target; the worst case and the other groups: see the xfail test below."""
    for ph, res in classic_on_phantoms:
        errs = _errors(res, ph.truth, ["L2", "L3", "L4", "L5"],
                       ["erector_spinae", "transversospinalis", "psoas_major"])
        for g, v in errs.items():
            a = np.array(v)
            print(f"seed {ph.config.seed} {g}: CSA err median {np.median(a[:, 0]):.3f} "
                  f"max {a[:, 0].max():.3f}; centroid median {np.median(a[:, 1]):.1f} mm")
            assert np.median(a[:, 0]) <= 0.10, g
            assert np.median(a[:, 1]) <= 5.0, g


def _assert_full_target(ph, errs, min_samples: int) -> None:
    """The issue's full phantom target per group: |CSA error| median <= 10 % and worst <= 20 %,
    centroid error <= 5 mm, over at least ``min_samples`` (level, side) samples."""
    for g, v in errs.items():
        a = np.array(v)
        print(f"seed {ph.config.seed} {g}: CSA err median {np.median(a[:, 0]):.3f} "
              f"max {a[:, 0].max():.3f}; centroid max {a[:, 1].max():.1f} mm (n={len(a)})")
        assert len(a) >= min_samples, g
        assert np.median(a[:, 0]) <= 0.10 and a[:, 0].max() <= 0.20 and a[:, 1].max() <= 5.0, g


def test_classic_paraspinal_below_lung_bases_meet_issue_target(classic_on_phantoms):
    """Erector spinae and transversospinalis at T11-L5 (below the lung bases, where the kidney,
    liver and diaphragm touch the paraspinal mass) on seeds 3 and 11 meet the issue's full phantom
    target: CSA error median <= 10 % and worst <= 20 %, centroid error <= 5 mm per group.
    Measured: seed 3 ES median 4.6 %, worst +18 % (T12 right), TS worst +11 % (T11 right); seed 11
    ES median 2.4 %, worst +19 % (T11 right, where the phantom's ES now lies dorsal to the 11th
    rib), TS worst +8 %; centroids <= 3.5 mm (seeds 7 and 23, not in this test: ES worst +13 % at
    T11 right / +22 % at L1 right, TS +9 % / +9 %). The levels above, T1-T10, are in the strict
    xfail below."""
    levels = ["T11", "T12", "L1", "L2", "L3", "L4", "L5"]
    for ph, res in classic_on_phantoms:
        errs = _errors(res, ph.truth, [lv for lv in levels if lv in ph.truth["muscles"]],
                       ["erector_spinae", "transversospinalis"])
        assert set(errs) == {"erector_spinae", "transversospinalis"}
        _assert_full_target(ph, errs, min_samples=12)


def test_classic_paraspinal_all_levels_meet_issue_target_on_seed_11(classic_on_phantoms):
    """Erector spinae and transversospinalis at every level T1-L5 of seed 11 meet the issue's full
    phantom target (CSA error median <= 10 %, worst <= 20 %, centroid <= 5 mm). Measured: ES median
    3.6 %, worst +13 % (T7 right), centroid <= 2.7 mm; TS median 3.6 %, worst -10 % (T6 left),
    centroid <= 3.2 mm. Before (main 42a2c71) the mid-thoracic ES missed its lateral part (T5 left
    -26 %, T7 left -20 %): the iliocostalis spread over the ribs beyond the paraspinal zone's
    4-half-width limit was left to the wall sheets or cut off as an organ contact."""
    ph, res = classic_on_phantoms[1]
    assert ph.config.seed == 11 and "T1" in ph.truth["muscles"]
    errs = _errors(res, ph.truth, list(ph.truth["muscles"]), ["erector_spinae", "transversospinalis"])
    assert set(errs) == {"erector_spinae", "transversospinalis"}
    _assert_full_target(ph, errs, min_samples=30)


def test_classic_trapezius_meets_issue_target_on_seed_11(classic_on_phantoms):
    """Trapezius at T1-T10 of seed 11 meets the full phantom target. Measured: median 3.4 %, worst
    +16 % (T10 right), centroid <= 2.4 mm. Before: T10 -45 / +44 % (the 1-2 mm lower trapezius,
    drawn as steps of 1-2 pixel rows, was dropped as a deep muscle's surface because its own steps
    touched each other, and the erector spinae's lateral edge, wrapped by fat, was taken as a
    sheet piece)."""
    ph, res = classic_on_phantoms[1]
    assert ph.config.seed == 11
    errs = _errors(res, ph.truth, list(ph.truth["muscles"]), ["trapezius"])
    assert set(errs) == {"trapezius"}
    _assert_full_target(ph, errs, min_samples=16)


def test_classic_psoas_and_quadratus_lumborum_on_test_phantoms(classic_on_phantoms):
    """Psoas major and quadratus lumborum at every level where the truth has them (>= 50 mm2) on
    seeds 3 and 11 meet the issue's full phantom target: CSA error median <= 10 % and worst <= 20 %,
    centroid error <= 5 mm. Measured 2026-11-24 (thin fat planes found as HU valleys,
    muscles/valley.py): seed 3 psoas median 3.1 %, worst +7 %, QL 5.4 % / -19 %; seed 11 psoas
    1.9 % / -9.5 %, QL 1.1 % / -7 %; centroids <= 1.6 mm. Seeds 7, 23, 31 are in
    tests/test_muscles_deep.py (seed 7 QL -38 % at L5 left is its strict xfail)."""
    for ph, res in classic_on_phantoms:
        errs = _errors(res, ph.truth, list(ph.truth["muscles"]), ["psoas_major", "quadratus_lumborum"])
        assert set(errs) == {"psoas_major", "quadratus_lumborum"}
        _assert_full_target(ph, errs, min_samples=6)


def test_classic_summary_complete_and_honest(classic_on_phantoms):
    for ph, res in classic_on_phantoms:
        for lv, e in res.summary["levels"].items():
            if e.get("status") != "ok":
                assert e.get("reason")
                continue
            for n in ALL_NAMES:
                g = e[n]
                assert g["status"] in ("ok", "not_present", "not_found", "outside_fov", "partly_outside_fov")
                assert (g["csa_mm2"] is None) == (g["status"] in ("not_present", "not_found", "outside_fov"))
        # anatomical prior: no psoas at T5, no trapezius at L3
        if "T5" in res.summary["levels"]:
            assert res.summary["levels"]["T5"]["psoas_major_left"]["status"] == "not_present"
        assert res.summary["levels"]["L3"]["trapezius_right"]["status"] == "not_present"
        assert res.labels.geometry.is_same_grid(ph.ct.geometry)


#: groups that do not yet meet the issue-4 target on the phantoms (all levels present), first measured 2026-11-24
#: on the corrected phantom wall (sheets lying on the ribs that cross each slice, stacked layers, a continuous
#: wall, organs behind a fascial fat plane: phantom/rib_cage.py) with the single-layer oblique split, small
#: preset, seeds 3 (T11-L5) / 11 / 7 / 23 (T1-L5): CSA error median %, worst % (where), worst centroid mm
_NOT_YET = ("classic backend misses the issue-4 phantom target (CSA median<=10 %, worst<=20 %, centroid<=5 mm) on "
            "seeds 3 / 11 / 7 / 23 (re-measured 2026-11-25, ninth session) for: external oblique (median "
            "5 / 11 / 9 / 9 %, worst +31 % L5 / -87 % T7 / -38 % T7 / +45 % L5, centroid 28 / 57 / 31 / 38 mm; at "
            "L5 no two-layer arc is seen and the fused layer's 40 % default split spreads the EO over the whole "
            "front wall (predicted median trunk angle 44-69 deg, truth 71-88 deg); at T7-T8 its upper slips under "
            "the pectoralis are sub-pixel beads, 4-33 of 84-120 true pixels found), internal oblique (12 / 13 / 7 "
            "/ 11 %, worst +160 % T12 / -39 % L5 / -31 % L5 / +24 % T12, centroid 26 / 34 / 22 / 15 mm; at T12 the "
            "IO is a sub-pixel sheet and an inner line of the EO is called IO; liver strips brighter than the EO "
            "are now dropped, which moved seed 14's T12 centroid 30 -> 7 mm), rectus abdominis (7 / 5 / 4 / 7 %, "
            "worst +14 % L5 / -18 % T9 / -54 % T6 / +101 % T9, centroid 8 / 7 / 10 / 10 mm: at T9 the truth's "
            "area changes 2x within 1 mm of the plane, at T6 the rectus' upper end is beads thinner than a voxel, "
            "at L5 the error lies along the plane normal, our L5 plane being tilted 2-5 deg from the design "
            "plane; without T6/T9/L5 the centroids are 3.2-5.1 mm on 3/11/7/23/14/31), latissimus dorsi (5 / 5 / "
            "3 / 3 %, worst -8 % / +19 % T12 / +11 % / -15 % T6, centroid 4.6 / 6.2 / 5.6 / 5.6 mm: met on seed 3 "
            "only), pectoralis major (5 / 6 / 6 % on 11 / 7 / 23, worst +27 % T7 / -24 % T7 / +14 % T6, centroid "
            "11 / - / 7 mm; T1-T2 within -24 %, were -40 / -35 / -37 % at T2, since a deep layer on the pleura "
            "thicker than the chest wall is the pectoralis minor; seed 7 T8 not found: the level prior ends at T7 "
            "and the 3 mm plane shows the sheet only as beads 8-14 mm apart), serratus anterior (13 / 5 / 7 % on "
            "11 / 7 / 23, worst +27 % T7 / +26 % T10 / -24 % T7, centroid 10 / 8 / 8 mm: chest-wall lumps on the "
            "pleura and intercostal tissue between rib sections taken by the inner rays). Met on all four: erector "
            "spinae (worst +19 / +12 / +12 / +19 %), transversospinalis (+11 / -10 / +15 / +9 %), psoas (+7 / -9 "
            "/ +10 / -6 %), trapezius on 11 / 7 / 23 (+16 / -13 / +18 %); quadratus lumborum met on 3 / 11 / 23, "
            "seed 7 L5 left -38 % (tests/test_muscles_deep.py: the image holds 38-41 mm2 of muscle in that plane "
            "against 64 mm2 truth)")


@pytest.mark.xfail(reason=_NOT_YET, strict=True)
def test_classic_all_groups_meet_issue_target(classic_on_phantoms):
    for ph, res in classic_on_phantoms:
        errs = _errors(res, ph.truth, list(ph.truth["muscles"]), anatomy.MUSCLE_GROUPS)
        for g, v in errs.items():
            a = np.array(v)
            assert np.median(a[:, 0]) <= 0.10 and a[:, 0].max() <= 0.20 and a[:, 1].max() <= 5.0, g


# --- command line --------------------------------------------------------------------------
def test_cli_muscles(lumbar_phantom, tmp_path):
    from spinemets.cli import main
    from spinemets.io import write_image, write_label_map

    ph = lumbar_phantom
    ct_path = write_image(ph.ct, tmp_path / "ct.nii.gz")
    vpath = write_label_map(ph.vertebrae, tmp_path / "vertebrae.nii.gz")
    out = tmp_path / "out"
    assert main(["muscles", str(ct_path), "--vertebrae", str(vpath), "-o", str(out)]) == 0
    js = json.loads((out / "muscles.json").read_text())
    assert js["backend"] == "classic" and js["levels"]["L3"]["erector_spinae_left"]["status"] == "ok"
    assert (out / "muscles.nii.gz").is_file() and (out / "muscles.labels.json").is_file()
    assert main(["muscles", str(ct_path), "--vertebrae", str(tmp_path / "nope.nii.gz"), "-o", str(out)]) == 2
    assert main(["muscles", str(ct_path), "--vertebrae", str(vpath), "-o", str(out), "--backend", "nnunet"]) == 2


def test_dicom_input_writes_seg(lumbar_phantom, tmp_path):
    """For DICOM input the label map is also written as a DICOM SEG referencing the CT series."""
    from spinemets.io import read_ct, write_ct_series

    files = write_ct_series(lumbar_phantom.ct, tmp_path / "dicom")
    ct = read_ct(tmp_path / "dicom")
    assert ct.metadata["input_format"] == "dicom"
    vert = LabelMap(lumbar_phantom.vertebrae.array, ct.geometry, {})
    res = segment_muscles(ct, vert)
    paths = write_muscle_outputs(res, ct, tmp_path / "out")
    assert paths["seg"].is_file() and len(files) == ct.array.shape[0]
    import pydicom

    ds = pydicom.dcmread(paths["seg"], stop_before_pixels=True)
    assert ds.Modality == "SEG"
    assert {s.SegmentLabel for s in ds.SegmentSequence} >= {"Left erector spinae", "Right psoas major"}


def test_outline_completion_across_an_isodense_organ():
    """A round muscle (r = 12 mm) in fat, its lateral third touching an iso-dense 'kidney' without a
    fat plane: the region left to the muscle is its medial two thirds; the ellipse through the
    outline seen against fat gives back the hidden third (within the 1 mm pixel rim) and nothing of
    the organ beyond it; a region bordered by fat all round is returned unchanged."""
    from spinemets.muscles.shape import complete_outline

    yy, xx = np.indices((120, 120)).astype(float)
    muscle = (xx - 50) ** 2 + (yy - 60) ** 2 <= 12.0 ** 2
    organ = ((xx - 80) / 24.0) ** 2 + ((yy - 60) / 18.0) ** 2 <= 1.0
    tissue = muscle | organ
    fat = ~tissue
    region = muscle & (xx <= 54)  # what the watershed left: the organ's region took the rest
    seed = muscle & (np.abs(xx - 46) <= 3) & (np.abs(yy - 60) <= 3)
    free = tissue & ~region
    out = complete_outline(region, free, fat, 1.0, seed)
    assert region.sum() < 0.8 * muscle.sum()
    assert abs(int(out.sum()) - int(muscle.sum())) <= 0.06 * muscle.sum()
    assert not (out & organ & ~muscle).sum() > 0.03 * muscle.sum()
    assert (out & region).sum() == region.sum()  # never removes
    alone = complete_outline(muscle, np.zeros_like(muscle), ~muscle, 1.0, seed)
    assert (alone == muscle).all()

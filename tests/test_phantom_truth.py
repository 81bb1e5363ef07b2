"""The phantom's truth.json agrees with its own image and label maps (several seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spinemets import anatomy

SEEDS = [11, 4, 27]


@pytest.fixture(scope="module", params=SEEDS)
def ph(request, phantom_factory, phantom_small):
    if request.param == 11:
        return phantom_small
    return phantom_factory(request.param)


def test_label_maps_are_consistent(ph):
    geo = ph.ct.geometry
    for lm in (ph.labels, ph.vertebrae, ph.vertebral_bodies, ph.muscles, ph.lesions):
        assert lm.geometry.is_same_grid(geo)
    vert = ph.vertebrae.array
    # bodies are part of their vertebra; vertebra ids are the labels' vertebra ids
    b = ph.vertebral_bodies.array
    assert np.all(vert[b > 0] == b[b > 0])
    assert set(np.unique(vert)) - {0} <= set(anatomy.VERSE_ID.values())
    assert np.array_equal(vert > 0, np.isin(ph.labels.array, list(anatomy.VERSE_ID.values())))
    mus = ph.muscles.array
    assert set(np.unique(mus)) - {0} <= set(range(101, 123))
    # all 11 groups, both sides, exist somewhere in a T1-L5 phantom
    assert len(set(np.unique(mus)) - {0}) == 22
    # sacrum, discs, canal, ribs, fat, lungs, aorta, table present
    ids = set(ph.labels.present_ids())
    for name in ("sacrum", "intervertebral_disc", "spinal_canal", "subcutaneous_fat", "visceral_fat", "lung",
                 "aorta", "patient_table", "rib_left_12", "rib_right_1"):
        assert anatomy.BY_NAME[name].id in ids, name


def test_vertebra_volumes_and_centroids_are_measured(ph):
    geo = ph.ct.geometry
    vv = geo.voxel_volume_mm3
    vert = ph.vertebrae.array
    bod = ph.vertebral_bodies.array
    for lv, t in ph.truth["vertebrae"].items():
        vid = anatomy.vertebra_id(lv)
        assert t["label"] == vid
        m = vert == vid
        assert t["volume_mm3"] == pytest.approx(m.sum() * vv, rel=1e-6)
        assert t["body_volume_mm3"] == pytest.approx((bod == vid).sum() * vv, rel=1e-6)
        c = geo.index_zyx_to_lps(np.array(ndimage.center_of_mass(m)))
        assert np.allclose(c, t["centroid_lps_mm"], atol=0.01)
        assert abs(np.linalg.norm(t["axis_si_lps"]) - 1) < 1e-6 and t["axis_si_lps"][2] > 0.7
        if t["in_fov"] and not t["touches_border"]:
            assert 0.3 < t["body_volume_mm3"] / t["volume_mm3"] < 0.85, lv


def test_levels_are_ordered_and_in_fov(ph):
    v = ph.truth["vertebrae"]
    levels = [lv for lv in anatomy.TARGET_LEVELS if lv in v]
    assert levels == anatomy.TARGET_LEVELS  # default FOV T1-L5
    z = [v[lv]["body_centroid_lps_mm"][2] for lv in levels]
    assert all(a > b for a, b in zip(z[:-1], z[1:])), "T1 must be superior to L5"
    assert all(v[lv]["in_fov"] for lv in levels)


def test_trabecular_hu_follows_the_recorded_law(ph):
    """Mean HU in the eroded body (lesions excluded) reproduces law(BMD) within a few HU."""
    law = ph.truth["hu_bmd_law"]
    geo = ph.ct.geometry
    sx, sy, sz = geo.spacing_mm
    r_ip = max(int(np.ceil(4.0 / sx)), 1)
    st = np.zeros((3, 2 * r_ip + 1, 2 * r_ip + 1), bool)
    st[1] = True
    st[:, r_ip, r_ip] = True
    les = ph.lesions.array > 0
    les_d = ndimage.binary_dilation(les, iterations=2)
    errs = []
    for lv, t in ph.truth["vertebrae"].items():
        vid = t["label"]
        core = ndimage.binary_erosion(ph.vertebral_bodies.array == vid, structure=st) & ~les_d
        if core.sum() < 30:
            continue
        vals = ph.ct.array[core].astype(float)
        hu = float(vals.mean())
        se = float(vals.std()) / np.sqrt(vals.size)  # texture + noise are zero-mean
        bmd_est = (hu - law["intercept_hu"]) / law["slope_hu_per_mg_cm3"]
        errs.append(bmd_est - t["trabecular_bmd_mg_cm3"])
        design_hu = law["intercept_hu"] + law["slope_hu_per_mg_cm3"] * t["trabecular_bmd_mg_cm3"]
        assert abs(hu - design_hu) < 4 * se + 3.0, (lv, hu, design_hu, se)
    assert len(errs) >= 12
    assert abs(np.mean(errs)) < 4.0
    assert 1.15 <= law["slope_hu_per_mg_cm3"] <= 1.45 and law["material"] == "K2HPO4"


def test_bmd_is_plausible_and_thoracic_higher(ph):
    v = ph.truth["vertebrae"]
    bmd = {lv: v[lv]["trabecular_bmd_mg_cm3"] for lv in v}
    assert all(30 <= b <= 300 for b in bmd.values())
    th = np.mean([bmd[f"T{i}"] for i in range(4, 10)])
    lu = np.mean([bmd[f"L{i}"] for i in range(1, 4)])
    assert th > lu


def test_bmd_decreases_with_age():
    from spinemets.phantom.model import draw_bmd, draw_subject
    from spinemets.phantom.config import PhantomConfig

    for sex in ("F", "M"):
        res = []
        for age in (35, 55, 80):
            vals = []
            for seed in range(20):
                rng = np.random.default_rng(seed)
                s = draw_subject(PhantomConfig(seed=seed, sex=sex, age=age).resolved(), rng)
                vals.append(np.mean([draw_bmd(s, rng)[f"L{i}"] for i in (1, 2, 3)]))
            res.append(np.mean(vals))
        assert res[0] > res[1] > res[2], (sex, res)
        assert 130 < res[0] < 220 and 40 < res[2] < 120, (sex, res)


def test_tissue_hu_in_the_image(ph):
    """Fat, muscle, aorta, lung and air in the image are near their design values."""
    lab = ph.labels.array
    ct = ph.ct.array
    th = ph.truth["tissue_hu"]

    def core_mean(lid: int) -> float:
        m = ndimage.binary_erosion(lab == lid, iterations=2)
        return float(ct[m].mean())
    assert abs(core_mean(anatomy.BY_NAME["subcutaneous_fat"].id) - th["fat"]) < 15
    assert abs(core_mean(anatomy.BY_NAME["aorta"].id) - th["blood"]) < 10
    assert abs(core_mean(anatomy.BY_NAME["lung"].id) - th["lung"]) < 30
    ls = ph.truth["muscles"]["L3"]["erector_spinae_left"]["hu_mean"]
    assert 15 < ls < 55  # skeletal muscle with a little fat infiltration (science.md 6)
    air = ct[:, :3, :3]
    assert abs(float(air.mean()) - th["air"]) < 25


def test_muscle_csa_against_axial_slices(ph):
    """Truth CSA (perpendicular plane) ~ axial-slice area / cos(tilt) for the big muscles."""
    geo = ph.ct.geometry
    sx, sy, _ = geo.spacing_mm
    for lv in ("L1", "L3", "L4", "T8"):
        plane = ph.truth["muscles"][lv]
        n = np.asarray(plane["plane_normal_lps"])
        k = int(round(geo.lps_to_index_zyx(np.asarray(plane["plane_origin_lps_mm"]))[0]))
        for name in ("erector_spinae_left", "erector_spinae_right", "psoas_major_left", "transversospinalis_right"):
            if name not in plane or plane[name]["csa_mm2"] < 300:
                continue
            mid = anatomy.BY_NAME[name].id
            axial = float((ph.muscles.array[k] == mid).sum()) * sx * sy
            expected = axial / abs(n[2])
            assert plane[name]["csa_mm2"] == pytest.approx(expected, rel=0.15), (lv, name)
            # mean HU of the muscle's voxels within half a slice of the plane
            zz, yy, xx = np.nonzero(ph.muscles.array == mid)
            pts = geo.index_zyx_to_lps(np.stack([zz, yy, xx], 1).astype(float))
            dist = (pts - np.asarray(plane["plane_origin_lps_mm"])) @ n
            sel = np.abs(dist) <= geo.spacing_mm[2] / 2
            vals = ph.ct.array[zz[sel], yy[sel], xx[sel]].astype(float)
            se = vals.std() / np.sqrt(vals.size)
            assert abs(plane[name]["hu_mean"] - vals.mean()) < 4 * se + 3.0, (lv, name)
    # level dependence (science.md 6): psoas grows caudally, erector spinae biggest in the lumbar spine
    mus = ph.truth["muscles"]
    assert mus["L4"]["psoas_major_left"]["csa_mm2"] > mus["L2"]["psoas_major_left"]["csa_mm2"]
    assert "psoas_major_left" not in mus["T8"]
    assert mus["L3"]["erector_spinae_left"]["csa_mm2"] > mus["T6"]["erector_spinae_left"]["csa_mm2"]
    total_l3 = sum(v["csa_mm2"] for k, v in mus["L3"].items() if isinstance(v, dict)) / 100.0
    assert 70 < total_l3 < 220, total_l3  # FHS L3 totals ~100-120 cm2 (women), men larger


def test_muscle_positions_are_anatomical(ph):
    mus = ph.truth["muscles"]["L3"]
    body = np.asarray(ph.truth["vertebrae"]["L3"]["body_centroid_lps_mm"])
    es_l = np.asarray(mus["erector_spinae_left"]["centroid_lps_mm"])
    es_r = np.asarray(mus["erector_spinae_right"]["centroid_lps_mm"])
    ps_l = np.asarray(mus["psoas_major_left"]["centroid_lps_mm"])
    ra_l = np.asarray(mus["rectus_abdominis_left"]["centroid_lps_mm"])
    assert es_l[0] > body[0] > es_r[0]  # LPS: +x = patient left
    assert es_l[1] > body[1] + 25  # erector spinae posterior
    assert abs(ps_l[1] - body[1]) < 25 and ps_l[0] > body[0] + 15  # psoas beside the body
    assert ra_l[1] < body[1] - 60  # rectus abdominis anterior


def test_lesions_truth_matches_labels(ph):
    geo = ph.ct.geometry
    vv = geo.voxel_volume_mm3
    les = ph.lesions.array
    for cls_id in (1, 2, 3):
        truth_vol = sum(e["volume_mm3"] for e in ph.truth["lesions"] if e["class_id"] == cls_id)
        assert truth_vol == pytest.approx((les == cls_id).sum() * vv, rel=1e-6, abs=1e-6)
    for e in ph.truth["lesions"]:
        if not e["volume_mm3"]:
            continue
        vid = anatomy.vertebra_id(e["level"])
        m = ph.lesion_instances == e["id"]
        assert np.all(ph.vertebrae.array[m] == vid), "lesions lie inside their vertebra"
        assert e["hu_mean"] == pytest.approx(float(ph.ct.array[m].mean()), abs=0.06)
        design = 4.0 / 3.0 * np.pi * np.prod(e["radii_mm_design"])
        assert e["volume_mm3"] <= 1.35 * design
        if e["location"] == "body":
            assert e["volume_mm3"] >= 0.45 * design
        if e["class"] == "lytic":
            assert e["hu_mean"] < 200
        elif e["class"] == "blastic":
            assert e["hu_mean"] > 400
        assert e["id"] in ph.truth["vertebrae"][e["level"]]["lesion_ids"]


def test_small_phantom_fixture_has_lytic_and_blastic(phantom_small):
    classes = {e["class"]: e for e in phantom_small.truth["lesions"]}
    assert set(classes) == {"lytic", "blastic"}
    assert classes["lytic"]["level"] == "L1" and classes["blastic"]["level"] == "T12"
    lyt = phantom_small.lesions.array == 1
    bla = phantom_small.lesions.array == 2
    assert lyt.sum() > 20 and bla.sum() > 10
    assert phantom_small.ct.array[lyt].mean() < phantom_small.ct.array[bla].mean() - 300


def test_same_seed_same_phantom(phantom_factory):
    from spinemets.phantom import PhantomConfig, generate_phantom

    a = phantom_factory(4)
    b = generate_phantom(PhantomConfig(seed=4, size="small"))
    assert np.array_equal(a.labels.array, b.labels.array)
    assert np.array_equal(a.ct.array, b.ct.array)
    c = phantom_factory(27)
    assert c.truth["subject"] != a.truth["subject"] or not np.array_equal(a.labels.array.shape, c.labels.array.shape)


def test_noise_level(ph):
    """Noise SD measured in a flat region (table-free air above the patient is -1000 clipped; use fat core)."""
    lab = ph.labels.array
    m = ndimage.binary_erosion(lab == anatomy.BY_NAME["subcutaneous_fat"].id, iterations=3)
    sd = float(ph.ct.array[m].std())
    assert 8 < sd < 30


@pytest.mark.parametrize("ns", [1, 3, 5])
def test_truth_labels_are_majority_occupancy(ns):
    """Each output voxel takes the label filling most of its sub-slices (background included);
    ties go to the central sub-slice's label when it is tied, else to the lowest tied sub-slice."""
    from spinemets.phantom.canvas import majority_subslices

    rng = np.random.default_rng(ns)
    fine = rng.integers(0, 4, (ns * 6, 5, 7)).astype(np.uint8)
    out = majority_subslices(fine, ns, chunk=4)
    sub = fine.reshape(6, ns, 5, 7)
    for k, j, i in np.ndindex(6, 5, 7):
        v = sub[k, :, j, i]
        cnt = np.bincount(v, minlength=4)
        want = v[ns // 2] if cnt[v[ns // 2]] == cnt.max() else next(x for x in v if cnt[x] == cnt.max())
        assert out[k, j, i] == want
    # a slab one third bone is not bone; two thirds is
    fine = np.zeros((3, 2, 2), np.uint8)
    fine[0] = 20
    assert not majority_subslices(fine, 3).any()
    fine[1] = 20
    assert np.all(majority_subslices(fine, 3) == 20)

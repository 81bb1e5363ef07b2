"""Default (generic) trunk anatomy: spine geometry, segment masses and trunk-muscle table.

Everything here describes a *reference adult male of 170 cm*; :mod:`spinemets.mechanics.subject`
scales it to a subject (sex, mass, height, age) and overrides it with CT measurements.

Sources and what was taken from them
------------------------------------
* **Spine geometry in relaxed standing and trunk-slab centres of mass**: the Allaire et al. (2020)
  articulated thoracolumbar torso as distributed in the public OpenSim model
  ``ross-wilkinson/opensim-model-fullBodyMuscleActuated`` (MIT; copy in
  ``shared/data/opensim_thoracolumbar_wilkinson``), read with ``opensim`` 4.6 in its default pose.
  Its generic subject follows Rajagopal et al. (2016): 170 cm. The positions below are that model's
  intervertebral-joint centres and body centres of mass, converted from OpenSim ground axes
  (X anterior, Y superior, Z right; metres) to LPS millimetres relative to the L5/S1 joint centre.
* **Segment masses** (% body weight): science.md §3.3 (Bruno 2015 male model; head and limb fractions
  equal de Leva 1996); female fractions from de Leva 1996 (head 6.68 %, trunk 42.57 %, upper arm
  2.55 %, forearm 1.38 %, hand 0.56 %).
* **Muscle CSA and centroid offsets** (per level, per side): approximate literature values for young
  adult men compiled from MRI/CT studies of trunk-muscle morphology (lumbar: McGill et al. 1988,
  Jorgensen et al. 2001, Marras et al. 2001; thoracic and group coverage: Anderson et al. 2012 J
  Biomech 45:66 and the Bruno 2015 muscle set). They are rounded, *generic* values: with a CT the
  measured values replace them. Offsets are from the vertebral-body centroid in the vertebra's frame
  (``anterior`` > 0 towards the front, ``lateral`` > 0 away from the midline) for upright standing
  (supine-to-standing correction is applied only to CT values, see subject.py). A group crosses a
  level's cut only if its attachments lie on both sides of it; the shoulder girdle (and so the arm
  ends of pectoralis, serratus, latissimus and trapezius) belongs to SHOULDER_LEVEL.
"""

from __future__ import annotations

from spinemets.anatomy import TARGET_LEVELS

REFERENCE_HEIGHT_CM = 170.0
REFERENCE_MASS_KG = 75.0
REFERENCE_AGE_Y = 40.0

#: Intervertebral joint centres in relaxed standing, OpenSim ground (X anterior, Y up) in metres:
#: the joint *below* each vertebra ("L5" = L5/S1), plus the T1/head-neck joint ("C7").
JOINT_BELOW_XY_M: dict[str, tuple[float, float]] = {
    "L5": (-0.1180, 1.0010), "L4": (-0.1038, 1.0380), "L3": (-0.1019, 1.0747),
    "L2": (-0.1076, 1.1110), "L1": (-0.1170, 1.1437), "T12": (-0.1303, 1.1767),
    "T11": (-0.1419, 1.2085), "T10": (-0.1500, 1.2369), "T9": (-0.1556, 1.2653),
    "T8": (-0.1586, 1.2903), "T7": (-0.1595, 1.3149), "T6": (-0.1577, 1.3407),
    "T5": (-0.1532, 1.3660), "T4": (-0.1460, 1.3913), "T3": (-0.1368, 1.4140),
    "T2": (-0.1271, 1.4339), "T1": (-0.1173, 1.4517), "C7": (-0.1130, 1.4726),
}
#: Centre of mass of each vertebra's trunk slab (vertebra + surrounding trunk), same axes.
SLAB_COM_XY_M: dict[str, tuple[float, float]] = {
    "L5": (-0.0962, 1.0195), "L4": (-0.0856, 1.0563), "L3": (-0.0772, 1.0929),
    "L2": (-0.0764, 1.1274), "L1": (-0.0793, 1.1602), "T12": (-0.0806, 1.1926),
    "T11": (-0.0872, 1.2227), "T10": (-0.0913, 1.2511), "T9": (-0.0923, 1.2778),
    "T8": (-0.0991, 1.3026), "T7": (-0.1028, 1.3278), "T6": (-0.1035, 1.3534),
    "T5": (-0.1035, 1.3787), "T4": (-0.1022, 1.4026), "T3": (-0.1048, 1.4239),
    "T2": (-0.1007, 1.4428), "T1": (-0.1061, 1.4621),
}
HEAD_NECK_COM_XY_M = (-0.1130, 1.5947)
#: Glenohumeral centre (humerus origin), X/Y and |Z| (lateral) in metres. The shoulder girdle is
#: carried by the level in SHOULDER_LEVEL (scapulothoracic gliding plane centred at about T4; the
#: arm loads reach the spine through the rib cage), so cuts above it do not carry the arms.
SHOULDER_LEVEL = "T4"
SHOULDER_XYZ_M = (-0.0997, 1.4015, 0.1706)
#: Arm segment lengths and centre-of-mass distances from the proximal joint (metres), same model.
UPPER_ARM_LENGTH_M = 0.2862
UPPER_ARM_COM_M = 0.1645
FOREARM_LENGTH_M = 0.2489   # elbow to wrist (hand origin)
FOREARM_COM_M = 0.1206
HAND_COM_M = 0.0681          # wrist to hand centre of mass
GRIP_M = 0.075               # wrist to grip point (load in the hand)

#: Segment masses, fraction of body mass, per sex (science.md §3.3; de Leva 1996).
TRUNK_SLAB_FRACTION: dict[str, float] = {
    "T1": 0.0115, "T2": 0.0122, "T3": 0.0145, "T4": 0.0134, "T5": 0.0150, "T6": 0.0146,
    "T7": 0.0162, "T8": 0.0157, "T9": 0.0167, "T10": 0.0199, "T11": 0.0206, "T12": 0.0255,
    "L1": 0.0258, "L2": 0.0253, "L3": 0.0260, "L4": 0.0267, "L5": 0.0282,
}
SEGMENT_FRACTION = {
    "male": {"head_neck": 0.0694, "upper_arm": 0.0271, "forearm": 0.0156, "hand": 0.0059,
             "trunk_total": 0.4346},
    "female": {"head_neck": 0.0668, "upper_arm": 0.0255, "forearm": 0.0138, "hand": 0.0056,
               "trunk_total": 0.4257},
}

#: Typical intervertebral range of motion (degrees, both directions together), used only to share
#: a trunk rotation between the joints (White & Panjabi 1990 representative values). Key = the
#: vertebra above the joint ("L5" = L5/S1).
ROM_FLEXION_DEG: dict[str, float] = {
    "T1": 4, "T2": 4, "T3": 4, "T4": 4, "T5": 4, "T6": 5, "T7": 6, "T8": 6, "T9": 6, "T10": 9,
    "T11": 12, "T12": 12, "L1": 12, "L2": 14, "L3": 15, "L4": 16, "L5": 17,
}
ROM_LATERAL_DEG: dict[str, float] = {
    "T1": 6, "T2": 6, "T3": 6, "T4": 6, "T5": 6, "T6": 6, "T7": 6, "T8": 6, "T9": 6, "T10": 7,
    "T11": 9, "T12": 8, "L1": 6, "L2": 6, "L3": 8, "L4": 6, "L5": 3,
}

_L = TARGET_LEVELS


def _row(values: list[float | None]) -> dict[str, float]:
    assert len(values) == len(_L), "a muscle row needs one entry per level T1-L5"
    return {lv: float(v) for lv, v in zip(_L, values) if v is not None}


#: Muscle groups (spinemets.anatomy.MUSCLE_GROUPS) per level for one side:
#: {group: {"csa_cm2": {level: ...}, "anterior_cm": {level: ...}, "lateral_cm": {level: ...}}}.
#: Level order in the rows: T1 ... T12, L1 ... L5 (17 entries; None = group does not cross the cut).
MUSCLES: dict[str, dict[str, dict[str, float]]] = {
    "erector_spinae": {
        "csa_cm2": _row([4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 19, 21, 22, 20, 14]),
        "anterior_cm": _row([-4.5, -4.7, -5.0, -5.2, -5.4, -5.5, -5.5, -5.5, -5.5, -5.5, -5.5, -5.5,
                             -5.6, -5.8, -6.0, -6.0, -5.5]),
        "lateral_cm": _row([3.2, 3.4, 3.6, 3.8, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.1,
                            4.2, 4.5, 4.7, 4.8, 4.5]),
    },
    "transversospinalis": {
        "csa_cm2": _row([2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.8,
                         3.0, 4.0, 5.5, 7.5, 9.0]),
        "anterior_cm": _row([-4.2, -4.2, -4.3, -4.3, -4.3, -4.3, -4.3, -4.4, -4.4, -4.5, -4.6, -4.7,
                             -4.9, -5.1, -5.3, -5.4, -5.3]),
        "lateral_cm": _row([1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.8, 1.9, 1.9, 2.0,
                            2.1, 2.2, 2.3, 2.5, 2.6]),
    },
    "psoas_major": {
        "csa_cm2": _row([None] * 11 + [2, 4, 8, 13, 18, 20]),
        "anterior_cm": _row([None] * 11 + [1.0, 1.0, 0.5, 0.0, -0.5, -0.5]),
        "lateral_cm": _row([None] * 11 + [2.5, 3.0, 3.8, 4.6, 5.4, 6.0]),
    },
    "quadratus_lumborum": {
        "csa_cm2": _row([None] * 11 + [2, 4, 6, 7, 7, None]),
        "anterior_cm": _row([None] * 11 + [-3.0, -3.0, -3.3, -3.5, -4.0, None]),
        "lateral_cm": _row([None] * 11 + [4.5, 5.0, 6.5, 7.5, 8.0, None]),
    },
    "rectus_abdominis": {
        "csa_cm2": _row([None] * 9 + [7, 7, 8, 8, 8, 8, 8, 7]),
        "anterior_cm": _row([None] * 9 + [13.0, 12.0, 11.0, 10.0, 10.0, 10.0, 9.5, 9.0]),
        "lateral_cm": _row([None] * 9 + [4.0, 4.0, 4.0, 4.0, 3.8, 3.6, 3.4, 3.2]),
    },
    "external_oblique": {
        "csa_cm2": _row([None] * 8 + [4, 6, 8, 10, 11, 12, 12, 10, 6]),
        "anterior_cm": _row([None] * 8 + [6.0, 6.0, 5.5, 5.0, 4.0, 3.0, 2.0, 1.5, 2.0]),
        "lateral_cm": _row([None] * 8 + [11.0, 11.0, 11.5, 11.5, 12.0, 13.0, 13.5, 13.0, 11.0]),
    },
    "internal_oblique": {
        "csa_cm2": _row([None] * 10 + [4, 6, 8, 10, 12, 13, 8]),
        "anterior_cm": _row([None] * 10 + [4.0, 3.5, 3.0, 2.5, 2.5, 2.0, 2.0]),
        "lateral_cm": _row([None] * 10 + [11.0, 11.5, 12.0, 12.0, 12.0, 11.5, 10.5]),
    },
    "latissimus_dorsi": {
        "csa_cm2": _row([None] * 3 + [6, 8, 10, 11, 11, 10, 9, 7, 5, 3, 2, 1.5, None, None]),
        "anterior_cm": _row([None] * 3 + [-2.0, -2.0, -2.0, -2.5, -3.0, -3.5, -4.0, -4.5, -5.0,
                                          -5.0, -5.0, -5.0, None, None]),
        "lateral_cm": _row([None] * 3 + [13.0, 13.0, 13.0, 12.5, 12.5, 12.0, 12.0, 11.0, 10.5,
                                         10.0, 9.5, 9.0, None, None]),
    },
    "trapezius": {
        "csa_cm2": _row([8, 7, 6, 5, 4, 3.5, 3, 2.5, 2, 1.5, 1, None, None, None, None, None, None]),
        "anterior_cm": _row([-6.5, -6.5, -6.5, -6.5, -6.5, -6.5, -6.5, -6.5, -6.5, -6.5, -6.5,
                             None, None, None, None, None, None]),
        "lateral_cm": _row([6.0, 5.0, 5.0, 5.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0,
                            None, None, None, None, None, None]),
    },
    "pectoralis_major": {
        "csa_cm2": _row([None, None, None, 7, 6, 4] + [None] * 11),
        "anterior_cm": _row([None, None, None, 12.0, 12.0, 12.0] + [None] * 11),
        "lateral_cm": _row([None, None, None, 8.0, 8.0, 8.0] + [None] * 11),
    },
    # not one of the CT muscle groups: neck flexors crossing the upper thoracic cuts, lumped
    # (sternocleidomastoid to the manubrium at about T2, longus colli to T3); default only.
    "neck_flexors": {
        "csa_cm2": _row([4, 3, 1.5] + [None] * 14),
        "anterior_cm": _row([4.0, 4.0, 1.5] + [None] * 14),
        "lateral_cm": _row([2.5, 2.5, 1.2] + [None] * 14),
    },
    "serratus_anterior": {
        "csa_cm2": _row([None, None, None, 5, 6, 6, 5, 4, 2] + [None] * 8),
        "anterior_cm": _row([None, None, None, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0] + [None] * 8),
        "lateral_cm": _row([None, None, None, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0] + [None] * 8),
    },
}

#: Sex factors applied to the male reference (women's trunk muscles are smaller: Johannesdottir 2018
#: reports men 20-67 % larger; 0.70 is a mid value; moment arms scale with body size via height).
FEMALE_CSA_FACTOR = 0.70
#: Tonic co-activation of the axial trunk muscles (lower bound on activation), a modelling
#: assumption: surface EMG of the paraspinal and abdominal muscles in relaxed upright standing is a
#: few per cent of maximum voluntary contraction. Applied to every axial muscle in every activity
#: (not to the shoulder-girdle muscles); dropped (and reported) at a cut where the muscles that
#: cross it have no antagonist able to balance it. Value: the least-squares fit of
#: :func:`spinemets.mechanics.loads.calibration.fit_tonic_activation` to the two documented absolute
#: standing loads of a 70 kg man (Wilke 1999 L4/L5 0.50 MPa -> 545 N; Nachemson L3 about 700 N;
#: science.md 3.5) for the default 70 kg, 175 cm man (fit 0.0182 with the disc cut), rounded to
#: 0.1 %. Wilke's flexion/lift ratios are *not* used, so they remain a check of the model.
TONIC_ACTIVATION = 0.018
FEMALE_OFFSET_FACTOR = 0.95
#: Anderson et al. 2023 (J Biomech 157:111710): CSA +0.8 %/kg, centroid distance +0.3 %/kg,
#: CSA -0.8 %/year of age.
CSA_PER_KG = 0.008
OFFSET_PER_KG = 0.003
CSA_PER_YEAR = -0.008

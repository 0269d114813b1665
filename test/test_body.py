"""Body model: names, de Leva anthropometrics against the published table, sign mapping."""

import numpy as np
import pytest

from imu_torque_estimator import body


def test_contract_names():
    assert body.SEGMENTS == ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r")
    assert body.JOINTS[:2] == ("hip_flexion_l", "hip_flexion_r")
    assert body.sensor_set("3imu") == ("pelvis", "shank_l", "shank_r")
    assert body.sensor_set("7imu") == body.SEGMENTS


@pytest.mark.parametrize("sex", ["male", "female"])
@pytest.mark.parametrize("mass", [45.0, 72.6, 110.0])
def test_de_leva_masses_sum_to_body_mass(sex, mass):
    total = sum(s.mass_kg for s in body.whole_body_segments(mass, 1.75, sex))
    assert total == pytest.approx(mass, rel=2e-4)  # de Leva's female table sums to 99.99 %


def test_de_leva_thigh_matches_published_table_at_reference_stature():
    # de Leva 1996 Table 4, male thigh: 14.16 % mass, length 422.2 mm, CoM 40.95 %, r_sag 32.9 %.
    thigh = body.de_leva_segment("thigh", 73.0, 1.741, "male")
    assert thigh.mass_kg == pytest.approx(0.1416 * 73.0)
    assert thigh.length_m == pytest.approx(0.4222)
    assert thigh.com_from_proximal_m == pytest.approx(0.4095 * 0.4222)
    # sagittal-plane rotation is about the medio-lateral (y) axis
    assert thigh.inertia_kg_m2[1] == pytest.approx(0.1416 * 73.0 * (0.329 * 0.4222) ** 2)
    # the same segment of a 1.2x taller person is 1.2x longer, 1.44x the inertia at equal mass
    tall = body.de_leva_segment("thigh", 73.0, 1.2 * 1.741, "male")
    assert tall.inertia_kg_m2[1] == pytest.approx(1.44 * thigh.inertia_kg_m2[1])


def test_lower_body_model_mass_balance():
    m = body.lower_body_model(80.0, 1.80, "female")
    total = m.segment_masses_kg.sum() + m.upper_body.mass_kg
    assert total == pytest.approx(80.0, rel=2e-4)
    assert m.segments["foot_l"].inertia_kg_m2[2] > 0


@pytest.mark.parametrize("mass,height,sex", [(0.0, 1.7, "male"), (-3, 1.7, "male"), (70, 170, "male"),
                                             (70, 1.7, "other"), (float("nan"), 1.7, "male")])
def test_bad_body_parameters_are_rejected(mass, height, sex):
    with pytest.raises(ValueError):
        body.lower_body_model(mass, height, sex)


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="tibia"):
        body.check_segments(["pelvis", "tibia"])
    with pytest.raises(ValueError, match="knee_angle_r"):
        body.check_joints(["knee_angle_r"])
    with pytest.raises(ValueError, match="5imu"):
        body.sensor_set("5imu")


def test_opensim_knee_sign_depends_on_model_family():
    # Rajagopal: knee_angle in [0, 140 deg] -> flexion positive; gait2354: [-120, 10 deg] -> flipped
    assert body.knee_flexion_positive_from_range(0.0, 2.44)
    assert not body.knee_flexion_positive_from_range(-2.09, 0.17)
    assert body.opensim_joint_map(False)["knee_angle_r"] == ("knee_flexion_r", -1.0)
    assert body.opensim_joint_map(True)["hip_flexion_l"] == ("hip_flexion_l", 1.0)


def test_osim_to_ros_rotation_is_proper():
    r = body.R_OSIM_TO_ROS
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    assert np.allclose(r @ [0, 1, 0], [0, 0, 1])  # OpenSim up (Y) -> ROS up (z)
    assert np.allclose(r @ [0, 0, 1], [0, -1, 0])  # OpenSim right (Z) -> ROS -y

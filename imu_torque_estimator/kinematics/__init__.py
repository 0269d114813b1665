"""Segment kinematics from body-worn IMUs: orientation (VQF), sensor-to-segment calibration, lever-arm
CoM kinematics and the estimator's feature vector. Shared by training, bag replay and the nodes, so
what is trained is what runs. ROS-free.
"""

from .calibration import (
    Calibration,
    CalibrationError,
    calibrate,
    calibrations_from_dict,
    calibrations_to_dict,
    find_still_window,
    flexion_axis,
    is_still,
    load_calibrations,
    pelvis_forward_axis,
    save_calibrations,
    static_calibrator,
    vertical_axis,
)
from .features import (
    ALPHA_FILTER,
    DEFAULT_FEATURE_FRAME,
    FEATURE_FRAMES,
    FEATURE_SPEC_ID,
    FEATURE_SPEC_IDS,
    EstimatedKinematics,
    KinematicsEstimator,
    alpha_filter_coefficients,
    estimate_features,
    estimate_kinematics,
    feature_names,
    features_from_truth,
)
from .orientation import initial_sensor_rotation, make_vqf, matrix_to_wxyz, orientation_batch, wxyz_to_matrix

__all__ = [
    "ALPHA_FILTER", "DEFAULT_FEATURE_FRAME", "FEATURE_FRAMES", "FEATURE_SPEC_ID", "FEATURE_SPEC_IDS",
    "Calibration", "CalibrationError", "EstimatedKinematics", "KinematicsEstimator",
    "alpha_filter_coefficients", "calibrate", "calibrations_from_dict", "calibrations_to_dict",
    "estimate_features", "estimate_kinematics", "feature_names", "features_from_truth",
    "find_still_window", "flexion_axis", "initial_sensor_rotation", "is_still", "load_calibrations",
    "make_vqf", "matrix_to_wxyz", "orientation_batch", "pelvis_forward_axis", "save_calibrations",
    "static_calibrator", "vertical_axis",
    "wxyz_to_matrix",
]

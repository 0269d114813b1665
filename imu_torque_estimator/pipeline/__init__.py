"""The run-time pipeline of the README diagram, ROS-free, one module per stage:

    sources/ (sim | replay | bag | xsens, registry)        what the imu_driver nodes publish
      -> alignment.py          validity checks, alignment of the sensors onto one time grid
      -> calibration.py        still-standing calibration state machine
      -> segment_kinematics.py the kinematics stage (alignment + calibration + kinematics estimator)
      -> torque_estimator.py   the torque stage (exact-stamp join, gaps, warm-up, limits, RNN engine)
    offline.py                 the same stages over a recorded bag, deterministic

The nodes (nodes/) are thin rclpy adapters over these modules, so what is evaluated offline is what
runs live. Nothing here imports rclpy, torch or the launch side, and the simulator only when the `sim`
source is created (test/test_layering.py checks it). Layers and contracts: docs/ARCHITECTURE.md.
"""

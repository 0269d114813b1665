"""Launch the torque estimation pipeline for any sensor set of body.SENSOR_SETS.

  ros2 launch imu_torque_estimator imu_pipeline.launch.py sensor_set:=3imu|7imu|...
      [source:=sim|replay|bag|xsens] [namespace:=exo] [body_mass_kg:=72.5] [rate_hz:=100|200]
      [model:=DIR] [params_file:=my.yaml] [use_sim_time:=true] [file:=recording]
      [port_<segment>:=/dev/ttyUSBx]

Arguments and their defaults: `ros2 launch imu_torque_estimator imu_pipeline.launch.py --show-args`.
Parameter defaults with units and frames: config/<set>.yaml (config/three_imu.yaml, seven_imu.yaml).
"""

from imu_torque_estimator.launch_builder import generate


def generate_launch_description():
    return generate()

"""Launch the 7-IMU torque estimation pipeline: pelvis, thighs, shanks, feet.

  ros2 launch imu_torque_estimator seven_imu.launch.py [source:=sim|replay|bag|xsens] [namespace:=exo]
      [body_mass_kg:=72.5] [rate_hz:=100|200] [model:=DIR] [params_file:=my.yaml]
      [use_sim_time:=true] [file:=recording] [port_<segment>:=/dev/ttyUSBx]

Arguments and their defaults: `ros2 launch imu_torque_estimator seven_imu.launch.py --show-args`.
Same as imu_pipeline.launch.py sensor_set:=7imu.
Parameter defaults with units and frames: config/seven_imu.yaml.
"""

from imu_torque_estimator.launch_builder import generate


def generate_launch_description():
    return generate("7imu")

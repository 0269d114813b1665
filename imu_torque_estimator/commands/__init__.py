"""Sub-commands of `imu-torque` (see cli.py for the module protocol)."""

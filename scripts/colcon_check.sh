#!/usr/bin/env bash
# What a ROS engineer does: put the package in a colcon workspace, `colcon build --symlink-install`,
# source the install, find the nodes and the CLI with `ros2`, `colcon test`. The ROS underlay is the
# venv of `make setup` (AMENT_PREFIX_PATH); colcon-core and colcon-ros come from PyPI.
# Usage: colcon_check.sh VENV [TEST_PATH...]   (no test path: the whole suite)
set -euo pipefail
venv=$(cd "$1" && pwd); shift
repo=$(pwd)
ws=$repo/build/colcon_ws
step() { printf '\033[1m[colcon]\033[0m %s\n' "$*"; }
start=$(date +%s)
if ! "$venv/bin/python" -c 'import colcon_core, colcon_ros, colcon_output' 2>/dev/null; then
  step "installing colcon-core and colcon-ros from PyPI into $venv (the 'colcon' extra)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[colcon]" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
fi
rm -rf "$ws"
mkdir -p "$ws/src"
ln -s "$repo" "$ws/src/imu_torque_estimator"
cd "$ws"
export PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv" COLCON_HOME="$ws/.colcon"
colcon build --symlink-install 2>&1 | grep -v "doesn't contain any 'local_setup" \
  || { cat log/latest_build/*/stdout_stderr.log; exit 1; }
set +u; . install/setup.sh; set -u
prefix=$(ros2 pkg prefix imu_torque_estimator)
if [ "$prefix" != "$ws/install/imu_torque_estimator" ]; then
  echo "colcon: error: ros2 finds imu_torque_estimator in $prefix, not in the colcon install" >&2
  exit 1
fi
step "ros2 pkg executables imu_torque_estimator:"
ros2 pkg executables imu_torque_estimator
ros2 run imu_torque_estimator imu-torque --help | head -1
step "colcon build + checks took $(( $(date +%s) - start )) s; colcon test ${*:-(whole suite)}"
colcon test --pytest-args -q -p no:cacheprovider "$@" 2>&1 \
  | grep -v "doesn't contain any 'local_setup" || true
colcon test-result --verbose
step "finished in $(( $(date +%s) - start )) s"

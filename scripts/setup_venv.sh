#!/usr/bin/env bash
# Create the project venv and install the package (editable) with the given extras.
# Usage: setup_venv.sh PYTHON VENV WHEELS_DIR EXTRAS ROS_PIP_PACKAGES...
#   EXTRAS: comma-separated setup.cfg extras; `make setup` (developers) passes test,lint,plot,train,data,
#   `make setup EXTRAS=` is a runtime install (the nodes and the CLI; no torch, matplotlib, opensim).
# With a sourced ROS 2 distribution ($ROS_DISTRO) the venv sees its rclpy and its numpy, and pip is
# constrained to keep that numpy (message modules are built against it); VENV_NUMPY=1 instead puts
# numpy>=<bound>,<2 into the venv when the distribution's numpy is below the tested bound.
set -euo pipefail
py=$1; venv=$2; wheels=$3; extras=$4; shift 4
here=$(cd "$(dirname "$0")" && pwd)
step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
if ! command -v "$py" >/dev/null; then py=python3; fi
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
has_extra() { [[ ",$extras," == *",$1,"* ]]; }

if [ -n "${ROS_DISTRO:-}" ]; then
  ros_numpy=$("$py" -c 'import numpy; print(numpy.__version__)' 2>/dev/null || true)
  if [ -z "$ros_numpy" ]; then
    echo "setup: error: ROS 2 $ROS_DISTRO is sourced but $py cannot import numpy; install python3-numpy" >&2
    exit 1
  fi
  if [ "${VENV_NUMPY:-0}" = 1 ]; then
    echo "numpy>=$("$py" "$here/deps.py" min numpy),<2" >"$constraints"
  else
    "$py" "$here/deps.py" check-ros-numpy "$ros_numpy" "$ROS_DISTRO" || exit 1
    echo "numpy==$ros_numpy" >"$constraints"
  fi
  if has_extra data && ! "$py" -c 'import sys, numpy; sys.exit(int(numpy.__version__.split(".")[0]) < 2)'; then
    step "note: skipping extra 'data' (opensim needs numpy>=2.1; ROS 2 $ROS_DISTRO has numpy $ros_numpy)"
    extras=$(echo ",$extras," | sed 's/,data,/,/; s/^,//; s/,$//')
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  step "creating $venv with $($py --version)"
  if [ -n "${ROS_DISTRO:-}" ]; then
    # A sourced ROS 2 distribution provides rclpy & friends: let the venv see them.
    "$py" -m venv --system-site-packages "$venv"
  else
    "$py" -m venv "$venv"
  fi
fi
pip_install() {
  # The machine's pip config lists local index folders that may not exist; hide those warnings only.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$constraints" "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
if [ -z "${ROS_DISTRO:-}" ]; then
  if [ ! -d "$wheels" ]; then
    echo "setup: error: no ROS 2 distribution sourced and no wheel folder at $wheels (launch, launch_ros)" >&2
    exit 1
  fi
  step "installing ROS 2 (kilted) from PyPI wheels + launch wheels from $wheels"
  pip_install --find-links "$wheels" "$@"
fi
if has_extra train; then
  # the CPU build, installed first so that the 'train' extra's torch>=... is already satisfied
  step "installing ${TORCH:-torch==2.13.0} (CPU)"
  pip_install "${TORCH:-torch==2.13.0}"
fi
step "installing imu_torque_estimator (editable) with extras [${extras}]"
pip_install --find-links "$wheels" -e ".${extras:+[$extras]}"
"$venv/bin/python" "$here/install_ament_files.py" "$venv"
step "done: $("$venv/bin/python" -c 'import numpy; print("numpy", numpy.__version__)')"

#!/usr/bin/env bash
# Create the project venv and install everything the project needs.
# Usage: setup_venv.sh PYTHON VENV WHEELS_DIR ROS_PIP_PACKAGES...
set -euo pipefail
py=$1; venv=$2; wheels=$3; shift 3
step() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
if ! command -v "$py" >/dev/null; then py=python3; fi
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
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
if [ -z "${ROS_DISTRO:-}" ]; then
  if [ ! -d "$wheels" ]; then
    echo "error: no ROS 2 distribution sourced and no wheel folder at $wheels (launch, launch_ros)." >&2
    exit 1
  fi
  step "installing ROS 2 (kilted) from PyPI wheels + launch wheels from $wheels"
  pip_install --find-links "$wheels" "$@"
fi
step "installing torch 2.13.0 (CPU)"
pip_install "torch==2.13.0"
step "installing imu_torque_estimator (editable) with test and biomech extras"
pip_install --find-links "$wheels" -e ".[test,biomech]"
"$venv/bin/python" scripts/install_ament_files.py "$venv"
step "done: $("$venv/bin/python" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)')"

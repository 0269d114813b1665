# imu_torque_estimator — developer entry points.
# `make setup` builds .venv (idempotent) for developers: the package (editable) with the extras the
# test suite needs (test, lint, plot, train = torch CPU, data = ezc3d/opensim). `make setup EXTRAS=`
# is a runtime install (what the nodes and the CLI need, no torch). With a ROS 2 distribution
# sourced ($ROS_DISTRO set) the venv sees the system rclpy and numpy instead of installing the PyPI
# ROS 2 wheels (see scripts/setup_venv.sh; VENV_NUMPY=1 when the distribution's numpy is too old).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
SHARED ?= ../shared
WHEELS := $(SHARED)/wheels
comma := ,
EXTRAS ?= test,lint,plot,train,data
STAMP := $(VENV)/.setup-done-$(subst $(comma),-,$(EXTRAS))
export AMENT_PREFIX_PATH := $(abspath $(VENV))$(if $(AMENT_PREFIX_PATH),:$(AMENT_PREFIX_PATH),)
export PYTHONDONTWRITEBYTECODE := 1

ROS_PIP := "ros-kilted-rclpy[fastrtps]" ros-kilted-sensor-msgs ros-kilted-std-msgs \
  ros-kilted-geometry-msgs ros-kilted-diagnostic-msgs ros-kilted-std-srvs ros-kilted-rosgraph-msgs \
  ros-ros2launch ros-launch-testing-ros ros-launch-pytest ros-ros2run ros-ros2node

# The low-bound environment: every runtime dependency and the plot/train extras at their declared
# lower bounds (scripts/deps.py lowest), no ROS; runs the fast tests.
LOW_VENV := .venv-lowest
LOW_EXTRAS := plot,train
# Tests that `make colcon` runs through `colcon test` (the ones exercising the installed package);
# `make colcon COLCON_TESTS=` runs the whole suite there.
COLCON_TESTS ?= test/test_cli.py test/test_node_smoke.py test/test_launch_config.py

LOW_STAMP := $(LOW_VENV)/.setup-done

.PHONY: setup demo test test-fast test-ros lowest-venv test-lowest colcon bench lint train clean

setup: $(STAMP)

$(STAMP): setup.py setup.cfg pyproject.toml scripts/setup_venv.sh scripts/install_ament_files.py \
    scripts/node_wrapper.sh.in $(wildcard launch/*.py config/*.yaml)
	@bash scripts/setup_venv.sh "$(PY)" "$(VENV)" "$(WHEELS)" "$(EXTRAS)" $(ROS_PIP)
	@rm -f $(VENV)/.setup-done*
	@touch $(STAMP)

demo: setup
	@$(VPY) -m imu_torque_estimator.cli demo

test: setup
	@$(VPY) -m pytest -q test

test-fast: setup
	@$(VPY) -m pytest -q -m "not ros and not slow" test

test-ros: setup
	@$(VPY) -m pytest -q -m ros test

lowest-venv: $(LOW_STAMP)

$(LOW_STAMP): setup.py setup.cfg scripts/deps.py scripts/test_lowest.sh
	@bash scripts/test_lowest.sh "$(PY)" "$(LOW_VENV)" "$(LOW_EXTRAS)" setup
	@touch $(LOW_STAMP)

test-lowest: $(LOW_STAMP)
	@bash scripts/test_lowest.sh "$(PY)" "$(LOW_VENV)" "$(LOW_EXTRAS)" test

colcon: setup
	@bash scripts/colcon_check.sh "$(VENV)" $(COLCON_TESTS)

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

train: setup
	@$(VPY) -m imu_torque_estimator.cli train-defaults

lint: setup
	@$(VENV)/bin/ruff check imu_torque_estimator test benchmarks launch examples scripts setup.py
	@$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(LOW_VENV) build install log *.egg-info

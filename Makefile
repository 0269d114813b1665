# imu_torque_estimator — developer entry points.
# `make setup` builds .venv (idempotent); with a ROS 2 distribution sourced ($ROS_DISTRO set)
# the venv sees the system rclpy instead of installing the PyPI ROS 2 wheels.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
SHARED ?= ../shared
WHEELS := $(SHARED)/wheels
STAMP := $(VENV)/.setup-done
export AMENT_PREFIX_PATH := $(abspath $(VENV))$(if $(AMENT_PREFIX_PATH),:$(AMENT_PREFIX_PATH),)
export PYTHONDONTWRITEBYTECODE := 1

ROS_PIP := "ros-kilted-rclpy[fastrtps]" ros-kilted-sensor-msgs ros-kilted-std-msgs \
  ros-kilted-geometry-msgs ros-kilted-diagnostic-msgs ros-kilted-std-srvs ros-kilted-rosgraph-msgs \
  ros-ros2launch ros-launch-testing-ros ros-launch-pytest ros-ros2run ros-ros2node

.PHONY: setup demo test test-fast test-ros bench lint train clean

setup: $(STAMP)

$(STAMP): setup.py setup.cfg pyproject.toml scripts/setup_venv.sh $(wildcard launch/*.py config/*.yaml)
	@bash scripts/setup_venv.sh "$(PY)" "$(VENV)" "$(WHEELS)" $(ROS_PIP)
	@touch $(STAMP)

demo: setup
	@$(VPY) -m imu_torque_estimator.cli demo

test: setup
	@$(VPY) -m pytest -q test

test-fast: setup
	@$(VPY) -m pytest -q -m "not ros and not slow" test

test-ros: setup
	@$(VPY) -m pytest -q -m ros test

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(VPY) $$b || exit 1; done

train: setup
	@$(VPY) -m imu_torque_estimator.cli train-defaults

lint: setup
	@$(VENV)/bin/ruff check imu_torque_estimator test benchmarks launch examples scripts

clean:
	rm -rf $(VENV) build *.egg-info

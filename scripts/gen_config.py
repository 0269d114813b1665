"""Write config/<set>.yaml (three_imu.yaml, seven_imu.yaml, ...) for every sensor set of
body.SENSOR_SETS from the nodes' ParamSpec tables (pipeline/params.py).

Every parameter of every node with its default and its description (units, frames) as a comment.
test/test_launch_config.py checks the files stay in step with the tables. Run after changing a
node's parameters or adding a sensor set:  .venv/bin/python scripts/gen_config.py
"""

from pathlib import Path

import yaml

from imu_torque_estimator.body import SENSOR_SETS
from imu_torque_estimator.pipeline import params
from imu_torque_estimator.pipeline.config import GENERIC_LAUNCH, driver_node_name, file_stem

ROOT = Path(__file__).resolve().parents[1]
PER_DRIVER = ("segment", "port", "frame_id")  # differ per sensor: written per driver node
SET_BY_LAUNCH = {"segment": "set by the launch file from the node name"}


def _value(v) -> str:
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def _block(node: str, specs, overrides: dict, skip=(), only=None, note: str = "") -> list[str]:
    out = [f"{node}:", "  ros__parameters:"] if not note else [f"# {note}", f"{node}:", "  ros__parameters:"]
    for spec in specs:
        if spec.name in skip or (only is not None and spec.name not in only):
            continue
        value = overrides.get(spec.name, spec.default)
        desc = SET_BY_LAUNCH.get(spec.name, spec.description)
        choices = spec.allowed()
        if choices:
            desc += f" [{' | '.join(str(c) for c in choices)}]"
        elif spec.range:
            desc += f" [{spec.range[0]:g} .. {spec.range[1]:g}]"
        out.append(f"    # {desc}")
        out.append(f"    {spec.name}: {_value(value)}")
    return out


def render(sensor_set: str) -> str:
    wrapper = f"launch/{file_stem(sensor_set)}.launch.py"
    if not (ROOT / wrapper).is_file():
        wrapper = f"launch/{GENERIC_LAUNCH} sensor_set:={sensor_set}"
    lines = [
        f"# Parameters of the {sensor_set} pipeline ({wrapper}), keyed by node name.",
        "# Generated from the nodes' declarations by scripts/gen_config.py; every key is declared by its",
        "# node (an unknown key stops the launch). Copy the entries you change into your own file and",
        "# pass it as params_file:=my.yaml; launch arguments (source, rate_hz, body_mass_kg, model, ...)",
        "# override both.",
        "# Frames: IMU data in the sensor frame; kinematics in the segment frame (x anterior, y left, z up",
        "# in neutral standing); torques in N m, positive = internal flexion / dorsiflexion moment.",
        "",
    ]
    lines += _block("/**/*_imu_driver", params.IMU_DRIVER, {}, skip=PER_DRIVER,
                    note="All IMU drivers (one node per sensor).")
    for seg in SENSOR_SETS[sensor_set]:
        lines.append("")
        lines += _block(driver_node_name(seg), params.IMU_DRIVER, {"segment": seg}, only=PER_DRIVER)
    lines.append("")
    lines += _block("segment_kinematics", params.SEGMENT_KINEMATICS, {"sensor_set": sensor_set})
    lines.append("")
    lines += _block("torque_estimator", params.TORQUE_ESTIMATOR, {"sensor_set": sensor_set})
    return "\n".join(lines) + "\n"


def main() -> None:
    for sensor_set in SENSOR_SETS:
        name = f"{file_stem(sensor_set)}.yaml"
        (ROOT / "config" / name).write_text(render(sensor_set))
        print(f"wrote config/{name}")


if __name__ == "__main__":
    main()

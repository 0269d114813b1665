"""Model bundle: one directory, framework-free, checked on load (DESIGN.md contract).

Layout:
  DIR/config.json   format version, model_id, network (cell/sizes), sensor_set, rate_hz,
                    feature_spec_id + feature_names, output_joints, normalisation statistics,
                    training (config + data card), metrics, weights_sha256
  DIR/weights.npz   float32 arrays keyed by PyTorch parameter names (rnn.*, head.*), readable
                    with NumPy alone so the streaming engine never imports torch.
`model_id` is a hash of the weights, architecture, normalisation and input/output contract (not of
metrics or training notes, which may be updated later with `update_bundle_metrics`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import body
from ..atomic import write_bytes_atomic
from .architectures import UnknownArchitectureError, architecture
from .config import NetworkConfig

FORMAT = "imu_torque_estimator.bundle/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.npz"
NORM_KEYS = ("in_mean", "in_std", "out_mean", "out_std")


class BundleError(ValueError):
    """A model bundle is missing, corrupt or does not match the running configuration."""


@dataclass
class Bundle:
    """A loaded (validated) model bundle. Arrays are float32 (weights) / float64 (normalisation)."""

    network: NetworkConfig
    weights: dict[str, np.ndarray]
    normalisation: dict[str, np.ndarray]
    sensor_set: str
    rate_hz: float
    feature_spec_id: str
    feature_names: list[str]
    output_joints: list[str]
    model_id: str
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def n_in(self) -> int:
        return self.network.n_in

    @property
    def n_out(self) -> int:
        return self.network.n_out

    def to_torch(self):
        """Rebuild the PyTorch `TorqueRNN` (imports torch; training/benchmarks/tests only)."""
        from .network import TorqueRNN, load_numpy_weights

        model = TorqueRNN(self.network)
        load_numpy_weights(model, {**self.weights, **{k: v.astype(np.float32)
                                                       for k, v in self.normalisation.items()}})
        return model.eval()


def _weights_bytes(weights: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(weights.items())}
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds like allow_pickle
    return buf.getvalue()


def _model_id(weights_blob: bytes, contract: dict) -> str:
    h = hashlib.sha256(weights_blob)
    h.update(json.dumps(contract, sort_keys=True).encode())
    return h.hexdigest()[:16]


def save_bundle(path: str | Path, model, *, sensor_set: str, rate_hz: float, feature_spec_id: str,
                feature_names: list[str], output_joints: list[str] | None = None,
                training: dict | None = None, metrics: dict | None = None) -> Bundle:
    """Write `model` (a TorqueRNN) as a bundle directory at `path`; returns the loaded Bundle."""
    from .network import numpy_weights

    body.sensor_set(sensor_set)
    output_joints = list(output_joints or body.JOINTS)
    if len(feature_names) != model.cfg.n_in:
        raise ValueError(f"{len(feature_names)} feature names for a network with {model.cfg.n_in} inputs")
    if len(output_joints) != model.cfg.n_out:
        raise ValueError(f"{len(output_joints)} output joints for a network with {model.cfg.n_out} outputs")
    arrays = numpy_weights(model)
    norm = {k: arrays.pop(k).astype(np.float64) for k in NORM_KEYS}
    blob = _weights_bytes(arrays)
    contract = _contract(model.cfg, norm, sensor_set, float(rate_hz), feature_spec_id,
                         list(feature_names), output_joints)
    cfg = {"format": FORMAT, "model_id": _model_id(blob, contract), **contract,
           "weights_file": WEIGHTS_FILE, "weights_sha256": hashlib.sha256(blob).hexdigest(),
           "training": training or {}, "metrics": metrics or {}}
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(p / WEIGHTS_FILE, blob)
    write_bytes_atomic(p / CONFIG_FILE, (json.dumps(cfg, indent=1) + "\n").encode())
    return load_bundle(p)


def _contract(net: NetworkConfig, norm: dict, sensor_set: str, rate_hz: float, feature_spec_id: str,
              feature_names: list[str], output_joints: list[str]) -> dict:
    return {"network": net.to_dict(), "sensor_set": sensor_set, "rate_hz": rate_hz,
            "feature_spec_id": feature_spec_id, "feature_names": feature_names,
            "output_joints": output_joints,
            "normalisation": {k: [float(x) for x in np.asarray(norm[k]).ravel()] for k in NORM_KEYS}}


def update_bundle_metrics(path: str | Path, metrics: dict, training: dict | None = None) -> Bundle:
    """Replace the metrics (and optionally training notes) of an existing bundle; model_id is kept."""
    load_bundle(path)  # validates the bundle before it is edited
    cfg = json.loads((Path(path) / CONFIG_FILE).read_text())
    cfg["metrics"] = metrics
    if training is not None:
        cfg["training"] = training
    write_bytes_atomic(Path(path) / CONFIG_FILE, (json.dumps(cfg, indent=1) + "\n").encode())
    return load_bundle(path)


def load_bundle(path: str | Path, expect_sensor_set: str | None = None, expect_rate_hz: float | None = None,
                expect_feature_spec: str | None = None) -> Bundle:
    """Load and validate a bundle directory; raise BundleError with one clear message on any problem."""
    p = Path(path)
    if not p.is_dir():
        raise BundleError(f"model bundle {p}: directory does not exist")
    cfg_path = p / CONFIG_FILE
    try:
        cfg = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise BundleError(f"model bundle {p}: missing {CONFIG_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"model bundle {p}: {CONFIG_FILE} is not valid JSON ({exc})") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        got = cfg.get("format") if isinstance(cfg, dict) else type(cfg).__name__
        raise BundleError(f"model bundle {p}: unsupported format {got!r} (expected {FORMAT!r})")
    try:
        net = NetworkConfig(**cfg["network"])
    except UnknownArchitectureError as exc:
        raise BundleError(f"model bundle {p}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"model bundle {p}: {CONFIG_FILE} is missing or has an invalid field "
                          f"({exc!r})") from None
    try:
        sensor_set = str(cfg["sensor_set"])
        rate_hz = float(cfg["rate_hz"])
        spec = str(cfg["feature_spec_id"])
        names = [str(n) for n in cfg["feature_names"]]
        joints = [str(j) for j in cfg["output_joints"]]
        norm = {k: np.asarray(cfg["normalisation"][k], dtype=np.float64) for k in NORM_KEYS}
        wfile, wsha, model_id = cfg["weights_file"], cfg["weights_sha256"], str(cfg["model_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"model bundle {p}: {CONFIG_FILE} is missing or has an invalid field "
                          f"({exc!r})") from None

    # --- internal consistency
    if sensor_set not in body.SENSOR_SETS:
        raise BundleError(f"model bundle {p}: unknown sensor_set {sensor_set!r}")
    if len(names) != net.n_in:
        raise BundleError(f"model bundle {p}: {len(names)} feature_names but the network has "
                          f"{net.n_in} inputs")
    if len(joints) != net.n_out or tuple(joints[:len(body.JOINTS)]) != body.JOINTS[:len(joints)]:
        raise BundleError(f"model bundle {p}: output_joints {joints} must start with {list(body.JOINTS)} "
                          f"and match the network's {net.n_out} outputs")
    for k in NORM_KEYS:
        n = net.n_in if k.startswith("in") else net.n_out
        bad_std = k.endswith("std") and bool((norm[k] <= 0).any())
        if norm[k].shape != (n,) or not np.isfinite(norm[k]).all() or bad_std:
            raise BundleError(f"model bundle {p}: normalisation {k} must be {n} finite values (std > 0)")

    # --- weights: present, intact, right shapes
    wpath = p / wfile
    try:
        blob = wpath.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"model bundle {p}: missing weights file {wfile}") from None
    if hashlib.sha256(blob).hexdigest() != wsha:
        raise BundleError(f"model bundle {p}: weights file {wfile} is corrupt (checksum mismatch)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            weights = {k: z[k].astype(np.float32) for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"model bundle {p}: cannot read weights file {wfile} ({exc})") from None
    expected = architecture(net.cell).weight_shapes(net)
    bad = {k: (weights[k].shape if k in weights else None) for k, s in expected.items()
           if k not in weights or weights[k].shape != s}
    if bad or set(weights) != set(expected):
        raise BundleError(f"model bundle {p}: weights do not match the network {net.to_dict()}: "
                          f"wrong/missing {sorted(bad)}, unexpected {sorted(set(weights) - set(expected))}")
    if not all(np.isfinite(w).all() for w in weights.values()):
        raise BundleError(f"model bundle {p}: weights contain NaN/inf")
    contract = _contract(net, norm, sensor_set, rate_hz, spec, names, joints)
    if _model_id(blob, contract) != model_id:
        raise BundleError(f"model bundle {p}: model_id {model_id} does not match its contents (edited?)")

    # --- against the running configuration
    if expect_sensor_set is not None and expect_sensor_set != sensor_set:
        raise BundleError(f"model bundle {p} is for sensor set {sensor_set!r}, "
                          f"but the configuration uses {expect_sensor_set!r}")
    if expect_rate_hz is not None and abs(float(expect_rate_hz) - rate_hz) > 1e-6:
        raise BundleError(f"model bundle {p} was trained at {rate_hz:g} Hz, "
                          f"but the configuration runs at {float(expect_rate_hz):g} Hz")
    if expect_feature_spec is not None and expect_feature_spec != spec:
        raise BundleError(f"model bundle {p} expects feature spec {spec!r}, "
                          f"but the running kinematics produce {expect_feature_spec!r}")
    return Bundle(network=net, weights=weights, normalisation=norm, sensor_set=sensor_set, rate_hz=rate_hz,
                  feature_spec_id=spec, feature_names=names, output_joints=joints, model_id=model_id,
                  training=cfg.get("training", {}), metrics=cfg.get("metrics", {}), path=p)

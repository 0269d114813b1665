"""OpenSim scaling and inverse kinematics for marker-only trials (offline; needs the `opensim` extra).

Used for `hamner_run_subject04` (markers + GRF, generic unscaled model). Scaling is done with OpenSim's
ScaleTool (manual scale factors + MarkerPlacer) with the factors measured from the data:
- pelvis: inter-marker distances RASI-LASI, RPSI-LPSI, RASI-RPSI, LASI-LPSI (median over frames of the
  trial, these markers are fixed on one rigid body) relative to the same distances on the model;
- feet (talus, calcn, toes): CAL-TOE (foot length) per side;
- torso: RACR-LACR and C7-CLAV; arms follow the torso factor;
- thighs and shanks (femur, tibia): the hamner trials have no knee or ankle landmarks, so the leg
  factor is the one that minimises the IK marker RMS over a subset of frames (bounded scalar search),
  since the pelvis-to-foot geometry over a gait cycle with changing knee angles fixes the leg lengths.
  The C3D walks have the lab's joint-centre markers: femur from HJC-KJC, tibia from KJC-AJC (an
  IK-RMS search of the femur factor, `fit_subject(search="femur")`, agreed within 0.01).
Masses are scaled to the subject mass with the generic mass distribution preserved.
Inverse kinematics: OpenSim InverseKinematicsTool with per-marker weights (`marker_weights`):
bony pelvis, knee, ankle and foot landmarks 10, thigh/shank cluster markers 1, trunk 1, arm markers
0.1, lab-computed joint-centre markers (xHJC, xKJC, xAJC) 0 (they scale the legs, see
`measured_scale_factors`, but are regression estimates that need not agree with the model's joints).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..extras import require
from .opensim_io import read_storage
from .trc import MarkerData, read_trc, write_trc

LANDMARK_WEIGHT = 10.0
CLUSTER_WEIGHT = 1.0
ARM_WEIGHT = 0.1
_PELVIS_PAIRS = (("RASI", "LASI"), ("RPSI", "LPSI"), ("RASI", "RPSI"), ("LASI", "LPSI"))
_TORSO_PAIRS = (("RACR", "LACR"), ("C7", "CLAV"))
# Foot length only: the model's MT5 marker sits far more medially/proximally than on this subject.
_FOOT_PAIRS = {"r": (("RCAL", "RTOE"),), "l": (("LCAL", "LTOE"),)}
_ARM_BODIES = ("humerus", "ulna", "radius", "hand")
_LANDMARKS = {"CAL", "TOE", "MT5", "MT1", "MT2", "LFC", "MFC", "LMAL", "MMAL"}


def _opensim():
    require("opensim")
    import opensim
    opensim.Logger.setLevelString("error")
    return opensim


@contextlib.contextmanager
def _quiet_cwd(path: Path):
    """Run an OpenSim tool inside `path` (tools resolve relative files against the cwd) with the C++
    stdout (model summaries printed by the tools) sent to /dev/null."""
    old = os.getcwd()
    os.chdir(path)
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
        os.chdir(old)


def strip_forces(model_path: str | Path, out_path: str | Path,
                 unfix_markers: tuple[str, ...] = ("RMT5", "LMT5"),
                 add_markers: dict[str, tuple[str, tuple[float, float, float]]] | None = None) -> Path:
    """Copy of an OpenSim model without its force set (muscles; kinematics and rigid-body dynamics are
    unchanged) and with `unfix_markers` made movable for the MarkerPlacer. The generic model's fifth
    metatarsal markers sit 3-6 cm from where this subject's are (CAL-MT5 distance 0.176 m on the model,
    0.231 m measured), which costs about 27 mm marker error when they stay fixed; heel and toe
    markers stay fixed and define the foot. `add_markers`: name -> (body, location in the body frame)
    for trial markers the model lacks (added movable)."""
    osim = _opensim()
    model = osim.Model(str(model_path))
    model.updForceSet().clearAndDestroy()
    mset = model.updMarkerSet()
    for name in unfix_markers:
        if mset.contains(name):
            mset.get(name).set_fixed(False)
    for name, (body_name, loc) in (add_markers or {}).items():  # movable: the MarkerPlacer places them
        marker = osim.Marker(name, model.getBodySet().get(body_name), osim.Vec3(*loc))
        marker.set_fixed(False)
        model.addMarker(marker)
    model.finalizeConnections()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model.printToXML(str(out_path))
    return out_path


LOWER_BODY_PREFIXES = ("ASI", "PSI", "TH", "TB", "CAL", "TOE", "MT")


def is_lower_body_marker(name: str) -> bool:
    """Pelvis, thigh, shank and foot markers of the Hamner/Stanford marker set (RASI, LTH1, RMT5...)."""
    return name[:1] in "RL" and name[1:].startswith(LOWER_BODY_PREFIXES)


def marker_weights(names: list[str]) -> dict[str, float]:
    """IK weight per marker name (see module docstring)."""
    out = {}
    for n in names:
        u = n.upper()
        if u[1:] in {"HJC", "KJC", "AJC", "EJC", "SJC"}:
            out[n] = 0.0  # lab-computed virtual joint centres: used for scaling only, not for IK
        elif u in {"RASI", "LASI", "RPSI", "LPSI"} or u[1:] in _LANDMARKS:
            out[n] = LANDMARK_WEIGHT
        elif u[1:3] in {"TH", "TB"}:
            out[n] = CLUSTER_WEIGHT
        elif u[1:3] in {"UA", "FA"} or u[1:] in {"LEL", "MEL"} or "FA" in u[1:4]:
            out[n] = ARM_WEIGHT
        else:
            out[n] = CLUSTER_WEIGHT
    return out


def _model_marker_distances(model_path: Path, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    osim = _opensim()
    model = osim.Model(str(model_path))
    state = model.initSystem()
    ms = model.getMarkerSet()
    out = {}
    for a, b in pairs:
        pa = ms.get(a).getLocationInGround(state).to_numpy()
        pb = ms.get(b).getLocationInGround(state).to_numpy()
        out[(a, b)] = float(np.linalg.norm(pa - pb))
    return out


def _data_distance(markers: MarkerData, a: str, b: str) -> float:
    d = np.linalg.norm(markers.markers[a] - markers.markers[b], axis=1)
    return float(np.nanmedian(d))


def measured_scale_factors(model_path: Path, markers: MarkerData,
                           skip: tuple[str, ...] = ()) -> dict[str, float]:
    """Scale factors for pelvis, torso, arms, feet (and femur/tibia from joint-centre markers) from
    marker distances (see module docstring). Groups in `skip` are not measured (a foot then follows
    its tibia). Without torso markers the torso takes the mean of the other factors."""
    groups: dict[str, list[tuple[str, str]]] = {"pelvis": list(_PELVIS_PAIRS), "torso": list(_TORSO_PAIRS),
                                                "foot_r": list(_FOOT_PAIRS["r"]),
                                                "foot_l": list(_FOOT_PAIRS["l"])}
    present = set(markers.markers)
    for s in ("r", "l"):  # joint-centre markers (lab-computed, Stanford FULLBODY set) give leg lengths
        S = s.upper()
        groups[f"femur_{s}"] = [(f"{S}HJC", f"{S}KJC")]
        groups[f"tibia_{s}"] = [(f"{S}KJC", f"{S}AJC")]
    groups = {g: [p for p in ps if p[0] in present and p[1] in present] for g, ps in groups.items()
              if g not in skip}
    model_d = _model_marker_distances(model_path, [p for ps in groups.values() for p in ps])
    out = {}
    for g, ps in groups.items():
        if ps:
            out[g] = float(np.mean([_data_distance(markers, a, b) / model_d[(a, b)] for a, b in ps]))
    for s in ("r", "l"):  # no foot-length markers: the foot follows the shank
        if f"foot_{s}" not in out and f"tibia_{s}" in out:
            out[f"foot_{s}"] = out[f"tibia_{s}"]
    if "torso" not in out and out:
        out["torso"] = float(np.mean(list(out.values())))
    missing = [g for g in ("pelvis", "torso", "foot_r", "foot_l") if g not in out]
    if missing:
        raise ValueError(f"cannot scale {missing}: none of their marker pairs are in the trial")
    return out


def _scale_xml(generic: Path, trc: Path, mass_kg: float, height_m: float, factors: dict[str, float],
               placer_time: float, placer_end: float, out_model: Path, weights: dict[str, float],
               body_names: list[str]) -> str:
    scales = []
    for b in body_names:
        if b == "pelvis":
            f = factors["pelvis"]
        elif b == "torso" or b.startswith(_ARM_BODIES):
            f = factors["torso"]
        elif b.startswith(("femur", "patella")):
            f = factors.get(f"femur_{b[-1]}", factors.get("leg", 1.0))
        elif b.startswith("tibia"):
            f = factors.get(f"tibia_{b[-1]}", factors.get("leg", 1.0))
        elif b.startswith(("talus", "calcn", "toes")):
            f = factors[f"foot_{b[-1]}"]
        else:
            f = factors.get("leg", 1.0)
        scales.append(f"<Scale><scales> {f:.6f} {f:.6f} {f:.6f}</scales><segment>{b}</segment>"
                      "<apply>true</apply></Scale>")
    tasks = "".join(f'<IKMarkerTask name="{n}"><apply>{"true" if w > 0 else "false"}</apply>'
                    f"<weight>{w}</weight></IKMarkerTask>" for n, w in weights.items())
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000">
<ScaleTool name="subject">
  <mass>{mass_kg}</mass><height>{height_m * 1000.0}</height><age>-1</age>
  <GenericModelMaker><model_file>{generic}</model_file><marker_set_file>Unassigned</marker_set_file>
  </GenericModelMaker>
  <ModelScaler>
    <apply>true</apply>
    <scaling_order> manualScale</scaling_order>
    <MeasurementSet><objects/></MeasurementSet>
    <ScaleSet><objects>{"".join(scales)}</objects></ScaleSet>
    <marker_file>{trc}</marker_file>
    <time_range> {placer_time} {placer_end}</time_range>
    <preserve_mass_distribution>true</preserve_mass_distribution>
    <output_model_file>Unassigned</output_model_file>
    <output_scale_file>Unassigned</output_scale_file>
  </ModelScaler>
  <MarkerPlacer>
    <apply>true</apply>
    <IKTaskSet><objects>{tasks}</objects></IKTaskSet>
    <marker_file>{trc}</marker_file>
    <coordinate_file>Unassigned</coordinate_file>
    <time_range> {placer_time} {placer_end}</time_range>
    <output_motion_file>Unassigned</output_motion_file>
    <output_model_file>{out_model}</output_model_file>
    <output_marker_file>Unassigned</output_marker_file>
    <max_marker_movement>-1</max_marker_movement>
  </MarkerPlacer>
</ScaleTool>
</OpenSimDocument>
"""


def scale_model(generic_model: str | Path, trc_path: str | Path, mass_kg: float, height_m: float,
                out_model: str | Path, leg_factor: float | None, placer_time: float | None = None,
                factors: dict[str, float] | None = None) -> Path:
    """Run OpenSim's ScaleTool (manual factors, mass preserved distribution, MarkerPlacer at
    `placer_time`, default the first frame) and write the scaled, marker-placed model."""
    osim = _opensim()
    if not np.isfinite(mass_kg) or mass_kg <= 0:
        raise ValueError(f"mass_kg must be > 0, got {mass_kg!r}")
    generic_model, trc_path, out_model = Path(generic_model), Path(trc_path), Path(out_model)
    markers = read_trc(trc_path)
    factors = dict(factors or measured_scale_factors(generic_model, markers))
    if leg_factor is not None:
        factors["leg"] = float(leg_factor)
    model = osim.Model(str(generic_model))
    bodies = [model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())]
    model_markers = {model.getMarkerSet().get(i).getName() for i in range(model.getMarkerSet().getSize())}
    weights = {n: w for n, w in marker_weights(markers.names).items() if n in model_markers}
    t0 = float(markers.time_s[0] if placer_time is None else placer_time)
    out_model.parent.mkdir(parents=True, exist_ok=True)
    # ScaleTool resolves every file relative to the setup file's folder (even absolute ones), so the
    # inputs are linked into a scratch folder and named relatively.
    # The placer averages markers over [t0, t0 + one frame] (OpenSim needs a non-empty range).
    xml = _scale_xml(Path("generic.osim"), Path("markers.trc"), mass_kg, height_m, factors, t0,
                     t0 + 1.0 / markers.rate_hz, Path("scaled.osim"), weights, bodies)
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        (tmpd / "generic.osim").symlink_to(generic_model.resolve())
        (tmpd / "markers.trc").symlink_to(trc_path.resolve())
        setup = tmpd / "scale_setup.xml"
        setup.write_text(xml)
        with _quiet_cwd(tmpd):
            ok = osim.ScaleTool(str(setup)).run()
        if ok and (tmpd / "scaled.osim").exists():
            os.replace(tmpd / "scaled.osim", out_model)
    if not ok or not out_model.exists():
        raise RuntimeError(f"OpenSim ScaleTool failed for {trc_path} (leg factor {leg_factor})")
    return out_model


@dataclass
class IKResult:
    """Inverse kinematics output: coordinates file (.mot, degrees) and per-frame marker errors (m)."""

    coordinates_path: Path
    time_s: np.ndarray
    marker_rms_m: np.ndarray
    marker_max_m: np.ndarray
    seconds: float

    @property
    def rms_m(self) -> float:
        """RMS over frames of the per-frame marker RMS error."""
        return float(np.sqrt(np.mean(self.marker_rms_m**2)))


def run_ik(model_path: str | Path, trc_path: str | Path, out_mot: str | Path,
           time_range: tuple[float, float] | None = None, frame_step: int = 1) -> IKResult:
    """OpenSim InverseKinematicsTool on a `.trc` (weights from `marker_weights`); `frame_step` > 1
    runs IK on every k-th frame only (through a decimated temporary TRC), used by the scale search."""
    osim = _opensim()
    model_path, trc_path, out_mot = Path(model_path), Path(trc_path), Path(out_mot)
    markers = read_trc(trc_path)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        src = trc_path.resolve()
        if frame_step > 1:
            keep = slice(None, None, frame_step)
            dec = MarkerData(markers.time_s[keep], {k: v[keep] for k, v in markers.markers.items()},
                             markers.rate_hz / frame_step)
            src = write_trc(tmpd / "decimated.trc", dec)
        model = osim.Model(str(model_path))
        model_markers = {model.getMarkerSet().get(i).getName() for i in range(model.getMarkerSet().getSize())}
        tool = osim.InverseKinematicsTool()
        tool.setModel(model)
        tool.set_marker_file(str(src))
        tasks = tool.getIKTaskSet()
        for name, w in marker_weights(markers.names).items():
            if name not in model_markers:
                continue
            task = osim.IKMarkerTask()
            task.setName(name)
            task.setWeight(w)
            task.setApply(w > 0)
            tasks.cloneAndAppend(task)
        t0, t1 = time_range if time_range else (markers.time_s[0], markers.time_s[-1])
        tool.setStartTime(float(t0))
        tool.setEndTime(float(t1))
        tool.set_report_errors(True)
        tool.setResultsDir(str(tmpd))
        out_mot.parent.mkdir(parents=True, exist_ok=True)
        tool.setOutputMotionFileName(str(out_mot.resolve()))
        with _quiet_cwd(tmpd):
            ok = tool.run()
        errs = list(tmpd.glob("*_ik_marker_errors.sto"))
        if not ok or not errs or not out_mot.exists():
            raise RuntimeError(f"OpenSim InverseKinematicsTool failed on {trc_path}")
        err = read_storage(errs[0])
    return IKResult(coordinates_path=out_mot, time_s=err.time_s, marker_rms_m=err.column("marker_error_RMS"),
                    marker_max_m=err.column("marker_error_max"), seconds=time.perf_counter() - t_start)


@dataclass
class SubjectFit:
    """Result of `fit_subject`: the scaled model, the scale factors and the search trace."""

    model_path: Path
    factors: dict[str, float]
    search: list[tuple[float, float]]
    seconds: float


def fit_subject(generic_model: str | Path, trc_path: str | Path, mass_kg: float, height_m: float,
                out_dir: str | Path, leg_bounds: tuple[float, float] = (0.85, 1.15),
                frame_step: int = 6, tol: float = 0.005, search: str = "leg",
                placer_time: float | None = None, skip: tuple[str, ...] = ()) -> SubjectFit:
    """Scale the generic model to a subject from one marker trial: measured factors (pelvis, torso,
    feet, and tibias when joint-centre markers exist), then a bounded search (scipy
    `minimize_scalar`) of one factor minimising the IK marker RMS on every `frame_step`-th frame:
    `search="leg"` scales femurs and tibias together (no knee/ankle markers, hamner), `"femur"` the
    femurs only (the tibias measured from KJC-AJC). Writes `<out_dir>/scaled.osim`."""
    from scipy.optimize import minimize_scalar

    if search not in ("leg", "femur"):
        raise ValueError(f"search must be 'leg' or 'femur', got {search!r}")
    t_start = time.perf_counter()
    generic_model, trc_path, out_dir = Path(generic_model), Path(trc_path), Path(out_dir)
    markers = read_trc(trc_path)
    factors = measured_scale_factors(generic_model, markers, skip=skip)
    if search == "leg":
        for key in ("femur_r", "femur_l", "tibia_r", "tibia_l"):
            factors.pop(key, None)

    def with_k(k: float) -> dict[str, float]:
        out = dict(factors)
        if search == "leg":
            out["leg"] = float(k)
        else:
            out["femur_r"] = out["femur_l"] = float(k)
        return out

    trace: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        def cost(k: float) -> float:
            m = scale_model(generic_model, trc_path, mass_kg, height_m, Path(tmp) / "m.osim", None,
                            placer_time=placer_time, factors=with_k(k))
            r = run_ik(m, trc_path, Path(tmp) / "ik.mot", frame_step=frame_step).rms_m
            trace.append((float(k), r))
            return r

        best = minimize_scalar(cost, bounds=leg_bounds, method="bounded", options={"xatol": tol})
    factors = with_k(float(best.x))
    model = scale_model(generic_model, trc_path, mass_kg, height_m, out_dir / "scaled.osim", None,
                        placer_time=placer_time, factors=factors)
    return SubjectFit(model, factors, trace, time.perf_counter() - t_start)


def marker_errors(model_path: str | Path, coordinates_path: str | Path,
                  trc_path: str | Path) -> dict[str, float]:
    """Per-marker RMS distance (m) between the model's markers posed by an IK result and the recorded
    markers, over the IK frames (markers missing in a frame are skipped)."""
    osim = _opensim()
    from .opensim_io import coordinates_rad

    model = osim.Model(str(model_path))
    state = model.initSystem()
    coords = coordinates_rad(read_storage(coordinates_path))
    markers = read_trc(trc_path)
    cset = model.getCoordinateSet()
    names = [cset.get(i).getName() for i in range(cset.getSize()) if coords.has(cset.get(i).getName())]
    mset = model.getMarkerSet()
    shared = [mset.get(i).getName() for i in range(mset.getSize())
              if mset.get(i).getName() in markers.markers]
    sq: dict[str, list[float]] = {m: [] for m in shared}
    for k, t in enumerate(coords.time_s):
        for c in names:
            cset.get(c).setValue(state, float(coords.column(c)[k]), False)
        model.realizePosition(state)
        j = int(np.argmin(np.abs(markers.time_s - t)))
        for m in shared:
            exp = markers.markers[m][j]
            if np.all(np.isfinite(exp)):
                sq[m].append(float(np.sum((mset.get(m).getLocationInGround(state).to_numpy() - exp) ** 2)))
    return {m: float(np.sqrt(np.mean(v))) for m, v in sq.items() if v}


def unlocked_copy(model_path: str | Path, out_path: str | Path) -> Path:
    """Copy of a model with every coordinate unlocked (default values kept). IK needs the locks
    (subtalar, mtp, wrists of the Hamner model have no markers to fix them); the kinematics stage
    only replays the IK coordinates, where the locked ones are constant, and its coordinate probing
    (opensim_model.trial_kinematics) cannot move a locked coordinate."""
    osim = _opensim()
    model = osim.Model(str(model_path))
    for c in model.getCoordinateSet():
        c.setDefaultLocked(False)
    out_path = Path(out_path)
    model.printToXML(str(out_path))
    return out_path

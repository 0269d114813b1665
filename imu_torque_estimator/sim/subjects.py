"""Virtual subjects, gait conditions and named presets for gait synthesis.

A `Subject` is a body (sex, mass, height -> body.lower_body_model) plus its personal gait style
(seeded deviations from the population patterns). A `Condition` is a mode (walk, run, or the switching
"walk_run"), a belt speed (m/s) and a treadmill slope (percent grade, + = uphill). Presets name a set of
conditions and a subject population; `paper12` is the 12 treadmill conditions of Lee & Lee (2026) as far
as they are given in the paper's design: five level walking speeds, walking 1.2 m/s down and up 10 %,
four level running speeds and running 3.0 m/s up 5 % (our reading; documented, not copied numbers).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from ..body import LowerBodyModel, lower_body_model

MASS_RANGE_KG = (45.0, 110.0)
HEIGHT_RANGE_M = (1.50, 1.95)
WALK_SPEED_RANGE_M_S = (0.5, 2.0)
RUN_SPEED_RANGE_M_S = (2.0, 5.0)
SLOPE_RANGE_PCT = (-10.0, 10.0)
MODES = ("walk", "run", "walk_run")


@dataclass(frozen=True)
class Subject:
    """One virtual subject. `style_seed` seeds the personal deviations from the population patterns."""

    subject_id: str
    sex: str
    mass_kg: float
    height_m: float
    style_seed: int = 0

    def __post_init__(self) -> None:
        if self.sex not in ("male", "female"):
            raise ValueError(f"subject {self.subject_id}: sex must be 'male' or 'female', got {self.sex!r}")
        lo, hi = MASS_RANGE_KG
        if not (np.isfinite(self.mass_kg) and lo <= self.mass_kg <= hi):
            raise ValueError(
                f"subject {self.subject_id}: mass_kg must be in {lo}..{hi} kg, got {self.mass_kg!r}"
            )
        lo, hi = HEIGHT_RANGE_M
        if not (np.isfinite(self.height_m) and lo <= self.height_m <= hi):
            raise ValueError(
                f"subject {self.subject_id}: height_m must be in {lo}..{hi} m, got {self.height_m!r}"
            )

    def model(self) -> LowerBodyModel:
        return lower_body_model(self.mass_kg, self.height_m, self.sex)  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Condition:
    """Gait condition: mode ('walk', 'run', 'walk_run'), speed (m/s; for walk_run the running speed,
    walking at `walk_speed_m_s`), slope in percent grade (+ uphill)."""

    mode: str
    speed_m_s: float
    slope_pct: float = 0.0
    walk_speed_m_s: float = 1.2

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"condition mode must be one of {MODES}, got {self.mode!r}")
        ranges = {"walk": WALK_SPEED_RANGE_M_S, "run": RUN_SPEED_RANGE_M_S, "walk_run": RUN_SPEED_RANGE_M_S}
        lo, hi = ranges[self.mode]
        if not (np.isfinite(self.speed_m_s) and lo <= self.speed_m_s <= hi):
            raise ValueError(
                f"condition {self.mode}: speed_m_s must be in {lo}..{hi} m/s, got {self.speed_m_s!r}"
            )
        lo, hi = SLOPE_RANGE_PCT
        if not (np.isfinite(self.slope_pct) and lo <= self.slope_pct <= hi):
            raise ValueError(f"condition slope_pct must be in {lo}..{hi} %, got {self.slope_pct!r}")
        lo, hi = WALK_SPEED_RANGE_M_S
        if not (np.isfinite(self.walk_speed_m_s) and lo <= self.walk_speed_m_s <= hi):
            raise ValueError(
                f"condition walk_speed_m_s must be in {lo}..{hi} m/s, got {self.walk_speed_m_s!r}"
            )

    @property
    def name(self) -> str:
        base = f"{self.mode}_{self.speed_m_s:g}"
        if self.slope_pct:
            base += f"_{'up' if self.slope_pct > 0 else 'down'}{abs(self.slope_pct):g}"
        return base

    @property
    def slope_rad(self) -> float:
        return float(np.arctan(self.slope_pct / 100.0))

    @classmethod
    def parse(cls, text: str | Condition) -> Condition:
        """'walk_1.2', 'run_3.0', 'walk_1.2_up10', 'run_3_down5', 'walk_run' (walk 1.2 then run 3.0)."""
        if isinstance(text, Condition):
            return text
        t = str(text).strip().lower()
        if t == "walk_run":
            return cls("walk_run", 3.0, 0.0, 1.2)
        m = re.fullmatch(r"(walk|run|walk_run)_(-?[0-9.]+)(?:_(up|down)([0-9.]+))?", t)
        if not m:
            raise ValueError(
                f"cannot parse condition {text!r}; expected e.g. 'walk_1.2', 'run_3.0', "
                "'walk_1.2_up10', 'walk_run'"
            )
        slope = float(m.group(4) or 0.0) * (-1.0 if m.group(3) == "down" else 1.0)
        return cls(m.group(1), float(m.group(2)), slope)


PAPER12: tuple[Condition, ...] = (
    *(Condition("walk", v) for v in (0.8, 1.0, 1.2, 1.4, 1.6)),
    Condition("walk", 1.2, -10.0),
    Condition("walk", 1.2, 10.0),
    *(Condition("run", v) for v in (2.0, 2.5, 3.0, 3.5)),
    Condition("run", 3.0, 5.0),
)


@dataclass(frozen=True)
class Preset:
    """A dataset recipe: fixed conditions, or `random_conditions` per subject drawn from the ranges."""

    name: str
    conditions: tuple[Condition, ...]
    n_subjects: int
    n_strides: int
    random_conditions: int = 0
    description: str = ""


PRESETS: dict[str, Preset] = {
    "paper12": Preset(
        "paper12",
        PAPER12,
        100,
        20,
        0,
        "The 12 treadmill conditions (walk 0.8-1.6 m/s level, 1.2 m/s +-10 %, run 2.0-3.5 "
        "m/s level, 3.0 m/s +5 %); default training set.",
    ),
    "wide": Preset(
        "wide",
        (),
        100,
        20,
        12,
        "Per subject 12 random conditions: walk 0.5-2.0 m/s or run 2.0-5.0 m/s, slope -10..10 %.",
    ),
    "tiny": Preset(
        "tiny",
        (Condition("walk", 1.2), Condition("run", 3.0)),
        2,
        3,
        0,
        "Test preset: 2 subjects x 2 conditions x 3 strides (seconds).",
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None


def sample_subjects(n: int, rng: np.random.Generator, prefix: str = "S") -> list[Subject]:
    """`n` subjects, half female: height ~ N(1.76, 0.07) m (male) / N(1.63, 0.065) m (female), BMI ~
    N(24, 3.5) kg/m^2, both clipped to the supported ranges (mass 45-110 kg, height 1.50-1.95 m)."""
    if n < 1:
        raise ValueError(f"number of subjects must be >= 1, got {n}")
    out = []
    for i in range(n):
        sex = "female" if i % 2 else "male"
        mu, sd = (1.76, 0.07) if sex == "male" else (1.63, 0.065)
        h = float(np.clip(rng.normal(mu, sd), *HEIGHT_RANGE_M))
        bmi = float(np.clip(rng.normal(24.0, 3.5), 18.0, 35.0))
        m = float(np.clip(bmi * h * h, *MASS_RANGE_KG))
        out.append(Subject(f"{prefix}{i:03d}", sex, round(m, 2), round(h, 3), int(rng.integers(2**31))))
    return out


def sample_conditions(k: int, rng: np.random.Generator) -> list[Condition]:
    """`k` random conditions: half walking (0.5-2.0 m/s), half running (2.0-5.0 m/s), slopes -10..10 %
    (running slopes limited to -5..5 %)."""
    out = []
    for i in range(k):
        if i % 2 == 0:
            out.append(
                Condition(
                    "walk",
                    round(float(rng.uniform(*WALK_SPEED_RANGE_M_S)), 2),
                    round(float(rng.uniform(*SLOPE_RANGE_PCT)), 1),
                )
            )
        else:
            out.append(
                Condition(
                    "run",
                    round(float(rng.uniform(*RUN_SPEED_RANGE_M_S)), 2),
                    round(float(rng.uniform(-5.0, 5.0)), 1),
                )
            )
    return out

"""Domain parameters: what the real robot will differ in, their nominal values and ranges.

Training samples a ``DomainParams`` per episode from ``RandomizationRanges``; evaluation
sets any field explicitly (``--set friction_scale=0.5``), including values outside the
training ranges, to test transfer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from pidog_gaits.robot import specs


@dataclass(frozen=True)
class DomainParams:
    """One setting of the world and robot. Scales are relative to the nominal model."""

    friction_scale: float = 1.0
    """Floor and foot sliding friction (x nominal: foot 0.4, which sets its contact; floor 1.0)."""
    mass_scale: float = 1.0
    """All link masses and inertias."""
    servo_torque_scale: float = 1.0
    """Servo stall torque and stiffness (x 0.258 N*m)."""
    servo_speed_scale: float = 1.0
    """Servo slew limit (x 428 deg/s)."""
    latency_s: float = specs.DEFAULT_LATENCY_S
    """Command latency (s)."""
    sensor_noise_scale: float = 1.0
    """Multiplies every sensor noise sigma."""
    com_offset_m: float = 0.0
    """Body centre of mass moved forward (m, + = towards the head): a payload, a battery."""
    imu_bias_scale: float = 0.0
    """Size of the IMU's constant bias this episode, x ``specs.IMU_BIAS_SIGMA`` per axis."""
    push_force_n: float = 0.0
    """Largest horizontal push on the body (N), given now and then (``PiDogEnv``)."""

    def replace(self, **changes: float) -> DomainParams:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


ALIASES = {
    "friction": "friction_scale",
    "mass": "mass_scale",
    "servo_torque": "servo_torque_scale",
    "servo_speed": "servo_speed_scale",
    "noise": "sensor_noise_scale",
}


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, float]:
    """Turn ``["friction=0.5", "latency_ms=30"]`` into ``DomainParams`` fields.

    ``latency_ms`` is accepted and converted to ``latency_s``; ``friction_coef`` (the
    foot's friction coefficient, nominal ``specs.FOOT_FRICTION`` = 0.4) to
    ``friction_scale``. Raises ``ValueError`` with the list of valid keys on anything unknown.
    """
    valid = {f.name for f in dataclasses.fields(DomainParams)}
    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep:
            raise ValueError(f"expected KEY=VALUE, got {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{key}: {value!r} is not a number") from None
        if key == "latency_ms":
            key, number = "latency_s", number / 1000.0
        elif key == "friction_coef":
            key, number = "friction_scale", number / specs.FOOT_FRICTION
        key = ALIASES.get(key, key)
        if key not in valid:
            names = sorted(valid | set(ALIASES) | {"latency_ms", "friction_coef"})
            raise ValueError(f"unknown setting {key!r}; valid: {', '.join(names)}")
        out[key] = number
    return out


@dataclass(frozen=True)
class RandomizationRanges:
    """Uniform ranges (low, high) sampled per training episode.

    Wide enough that the robot on the desk is inside them (issue 14): weaker servos
    (x0.6, a sagging battery), slower ones, a payload (x1.35 mass, the centre of mass
    +-10 mm), a slippery floor (friction x0.6: 0.24 at the feet), 50 ms latency,
    twice the sensor noise, an IMU bias, and pushes.
    """

    friction_scale: tuple[float, float] = (0.6, 1.3)
    mass_scale: tuple[float, float] = (0.85, 1.35)
    servo_torque_scale: tuple[float, float] = (0.6, 1.15)
    servo_speed_scale: tuple[float, float] = (0.7, 1.1)
    latency_s: tuple[float, float] = (0.0, 0.05)
    sensor_noise_scale: tuple[float, float] = (0.5, 2.0)
    com_offset_m: tuple[float, float] = (-0.01, 0.01)
    imu_bias_scale: tuple[float, float] = (0.0, 1.0)
    push_force_n: tuple[float, float] = (0.0, 1.5)
    enabled: bool = True
    overrides: dict[str, float] = field(default_factory=dict)
    """Fields fixed to a value instead of sampled."""

    def sample(self, rng: np.random.Generator) -> DomainParams:
        """Draw one ``DomainParams``; nominal everywhere when disabled (overrides still apply)."""
        values: dict[str, float] = {}
        if self.enabled:
            for f in dataclasses.fields(DomainParams):
                low, high = getattr(self, f.name)
                values[f.name] = float(rng.uniform(low, high))
        values.update(self.overrides)
        return DomainParams(**values)

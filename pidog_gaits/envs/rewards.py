"""Stage 3's reward: small pure functions of one control step, weighted by a named profile.

Each term returns an *unscaled* value in SI units (or a documented dimensionless one);
the weights live in ``reward_profiles.yaml`` (or a user's YAML) under the same names.
Costs return a positive magnitude and get a negative weight. Zero weights are skipped,
and ``check_weights`` refuses any configured name without a function, so a typo in a
profile fails at start-up instead of silently training on a different reward.

The env fills a ``StepState`` from the simulator's true state once per control step
(rewards are for training only, so they may use what the robot cannot sense).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

PROFILES_YAML = Path(__file__).resolve().parent / "reward_profiles.yaml"
DEFAULT_PROFILE = "balanced"

NOMINAL_BODY_HEIGHT_M = 0.0828
"""Body origin height in the stand keyframe (m), measured in ``PiDogSim``."""
HEIGHT_SIGMA_M = 0.015
"""Height error at which ``body_height`` falls to 1/e (m)."""
VELOCITY_SIGMA_MPS = 0.10
"""Forward speed error at which ``velocity_tracking`` falls to 1/e (m/s)."""
YAW_RATE_SIGMA_RADPS = 0.15
"""Yaw rate error at which ``yaw_rate_tracking`` falls to 1/e (rad/s)."""
YAW_RATE_WINDOW_S = 0.24
"""``yaw_rate_tracking`` compares the yaw rate averaged over this long (one trot cycle)
with the command. Per step, a turning trot's yaw rate swings by 0.22 rad/s (std; 0.01
walking straight, production physics): the per-step term paid a turn at 0.2,0.15 only
0.51 against 0.37 for not turning at all, while the cycle's mean pays 0.82, and PPO had
learned residuals that cancel the prior's turns (seed 0: yaw-rate error 0.087-0.114
after PPO, 0.010-0.017 with its residuals zeroed)."""
SONAR_SAFE_M = 0.40
"""Ultrasonic range below which ``sonar_proximity`` starts to cost (m): about 1.2 s ahead
at trot speed. On an open floor the beam meets the floor at 0.65 m or more while trotting
(1.6 m standing), so only obstacles come this close."""
PATH_LOOKAHEAD_M = 1.0
"""``path_obstacle`` starts to cost when a box in the robot's path is this close (m):
about 3 s at trot speed, the time a full steer (~0.16 rad/s) needs to clear a box."""
PATH_HALF_WIDTH_M = 0.07
"""Half-width of the path corridor (m): the hips are 49 mm either side of the centre
line and the feet land a little outside them."""
FORWARD_VELOCITY_CAP_MPS = 1.0
"""``forward_velocity`` is clipped to +-this, so a physics glitch cannot pay off."""


@dataclass(frozen=True)
class StepState:
    """What the reward sees after one control step (true simulator state, SI units)."""

    upright_cos: float
    """Cosine of the body tilt: 1 upright, 0 on its side."""
    body_height_m: float
    ang_vel_body_radps: np.ndarray
    """Body angular velocity in the body frame (roll, pitch, yaw rates)."""
    forward_velocity_mps: float
    """Velocity along the body's current forward axis."""
    lateral_velocity_mps: float
    """Velocity along the body's current left axis."""
    command: np.ndarray
    """``[forward speed (m/s), yaw rate (rad/s)]`` asked for."""
    sonar_m: float
    """Ultrasonic range (m), 0.02..4."""
    obstacle_contacts: int
    """Contacts between obstacles and any robot geom other than a foot."""
    foot_obstacle_contacts: int
    """Contacts between obstacles and the feet (pushing into a box with a leg)."""
    power_w: float
    """Mechanical power of the servos, sum of |torque * joint speed| (W)."""
    action: np.ndarray
    """The policy's action this step, in [-1, 1]."""
    last_action: np.ndarray = field(default_factory=lambda: np.zeros(12))
    """The policy's action the step before."""
    fell: bool = False
    new_boxes_hit: int = 0
    """Boxes the body or head touched for the first time this episode, this step."""
    path_obstacle_m: float = math.inf
    """Free distance (m) ahead of the body's front to the nearest box in its path corridor
    (``PATH_HALF_WIDTH_M`` either side of the centre line); inf when the path is clear."""
    cycle_yaw_rate_radps: float | None = None
    """Body yaw rate (rad/s) averaged over the last ``YAW_RATE_WINDOW_S``; ``None``: use
    this step's (``ang_vel_body_radps[2]``)."""
    box_in_view: bool = False
    """A box is near in the head camera's view (within ``reflex.REACT_RANGE_M``): the
    teacher's steer is going round it, and the yaw rate is the detour's, not the command's."""


# --------------------------------------------------------------------------- terms
def alive(s: StepState) -> float:
    """1 for every step the robot is still up."""
    return 0.0 if s.fell else 1.0


def upright(s: StepState) -> float:
    """Cosine of the body tilt (stability): 1 level, lower when tilted."""
    return s.upright_cos


def body_height(s: StepState) -> float:
    """1 at the stand's body height, falling off with the error (stability)."""
    return math.exp(-(((s.body_height_m - NOMINAL_BODY_HEIGHT_M) / HEIGHT_SIGMA_M) ** 2))


def angular_rate(s: StepState) -> float:
    """Cost: roll and pitch rates squared ((rad/s)^2) (stability)."""
    return float(s.ang_vel_body_radps[0] ** 2 + s.ang_vel_body_radps[1] ** 2)


def velocity_tracking(s: StepState) -> float:
    """1 when the forward speed equals the command, falling off with the error (speed)."""
    err = s.forward_velocity_mps - float(s.command[0])
    return math.exp(-((err / VELOCITY_SIGMA_MPS) ** 2))


def forward_velocity(s: StepState) -> float:
    """Forward speed (m/s), clipped: the 'faster is better' term of the speed profile."""
    cap = FORWARD_VELOCITY_CAP_MPS
    return min(cap, max(-cap, s.forward_velocity_mps))


def yaw_rate_tracking(s: StepState) -> float:
    """1 when the yaw rate over the last gait cycle equals the command, falling off with
    the error (speed; ``YAW_RATE_WINDOW_S``). With a box near in view it pays nothing:
    the turn then is the detour's. Tracking the command's yaw rate and the heading hold
    there taught the residuals to turn back against the steer (seed 0: 8 boxes hit, the
    steer at +1 for 4 s while the robot walked straight into a box on its right); paying
    in full there made a box in view worth keeping in view (seed 0: 10 hit, 0.24 m/s)."""
    if s.box_in_view:
        return 0.0
    yaw = s.ang_vel_body_radps[2] if s.cycle_yaw_rate_radps is None else s.cycle_yaw_rate_radps
    err = float(yaw) - float(s.command[1])
    return math.exp(-((err / YAW_RATE_SIGMA_RADPS) ** 2))


def lateral_velocity(s: StepState) -> float:
    """Cost: sideways speed squared ((m/s)^2)."""
    return s.lateral_velocity_mps**2


def sonar_proximity(s: StepState) -> float:
    """Cost in [0, 1]: how far the ultrasonic range is inside ``SONAR_SAFE_M`` (obstacles)."""
    return max(0.0, (SONAR_SAFE_M - s.sonar_m) / SONAR_SAFE_M)


def path_obstacle(s: StepState) -> float:
    """Cost in [0, 1]: how close the nearest box in the robot's path is, within
    ``PATH_LOOKAHEAD_M`` (obstacles). It uses the true box positions (training only) and
    starts seconds before the sonar or a contact would, when a steer can still miss it."""
    return max(0.0, 1.0 - s.path_obstacle_m / PATH_LOOKAHEAD_M)


def collision(s: StepState) -> float:
    """Cost: 1 while anything but a foot touches an obstacle (obstacles)."""
    return 1.0 if s.obstacle_contacts > 0 else 0.0


def box_hit(s: StepState) -> float:
    """Cost: boxes hit for the first time this step (obstacles). Paid once per box and
    never floored (``TERMINAL_TERMS``): the per-step ``collision`` cost is capped by the
    reward floor at what a step earns, so on its own it cost less than the speed a
    detour gives up, and PPO learned to plough through boxes it had been shown to avoid."""
    return float(s.new_boxes_hit)


def foot_collision(s: StepState) -> float:
    """Cost: 1 while a foot pushes against an obstacle (obstacles)."""
    return 1.0 if s.foot_obstacle_contacts > 0 else 0.0


def mechanical_power(s: StepState) -> float:
    """Cost: servo mechanical power (W) (efficiency)."""
    return s.power_w


def action_rate(s: StepState) -> float:
    """Cost: squared change of the action since the last step (efficiency, smoothness)."""
    diff = np.asarray(s.action) - np.asarray(s.last_action)
    return float(np.dot(diff, diff))


def action_magnitude(s: StepState) -> float:
    """Cost: squared size of the action (a residual policy's distance from its prior)."""
    a = np.asarray(s.action)
    return float(np.dot(a, a))


def fall(s: StepState) -> float:
    """Cost: 1 on the step the robot falls (the episode ends there)."""
    return 1.0 if s.fell else 0.0


REWARD_FUNCTIONS: dict[str, Callable[[StepState], float]] = {
    f.__name__: f
    for f in (
        alive,
        upright,
        body_height,
        angular_rate,
        velocity_tracking,
        forward_velocity,
        yaw_rate_tracking,
        lateral_velocity,
        sonar_proximity,
        path_obstacle,
        collision,
        box_hit,
        foot_collision,
        mechanical_power,
        action_rate,
        action_magnitude,
        fall,
    )
}
"""Every reward term by name: the names a profile may weight."""


# --------------------------------------------------------------------------- weights
def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """The weights as floats; ``ValueError`` naming any term without a function."""
    unknown = sorted(set(weights) - set(REWARD_FUNCTIONS))
    if unknown:
        raise ValueError(
            f"reward weights name unknown terms {unknown}; known: {', '.join(REWARD_FUNCTIONS)}"
        )
    out = {}
    for name, value in weights.items():
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"reward weight {name}: {value!r} is not a number") from None
    return out


def profile_names() -> list[str]:
    with open(PROFILES_YAML) as fh:
        return list(yaml.safe_load(fh))


def load_profile(name_or_path: str) -> dict[str, float]:
    """Weights of a named profile in ``reward_profiles.yaml``, or of a YAML file.

    A YAML file holds ``{term: weight}``; it may also hold several profiles
    (``{profile: {term: weight}}``), then its single or ``default`` entry is used.
    Raises ``ValueError`` (unknown profile or term) or ``FileNotFoundError``.
    """
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"reward profile file not found: {path}")
        with open(path) as fh:
            data = yaml.safe_load(fh)
        if not isinstance(data, dict) or not data:
            raise ValueError(f"{path}: expected a mapping of reward term to weight")
        if all(isinstance(v, dict) for v in data.values()):
            if len(data) == 1:
                data = next(iter(data.values()))
            elif "default" in data:
                data = data["default"]
            else:
                raise ValueError(f"{path}: several profiles and none called 'default'")
        return check_weights(data)
    with open(PROFILES_YAML) as fh:
        profiles = yaml.safe_load(fh)
    if name_or_path not in profiles:
        raise ValueError(
            f"unknown reward profile {name_or_path!r}; choose one of "
            f"{', '.join(profiles)} or give a YAML file of weights"
        )
    return check_weights(profiles[name_or_path])


TERMINAL_TERMS = frozenset({"fall", "box_hit"})
"""Terms paid once per event (a fall ends the episode; each box is hit once); never floored."""


class Reward:
    """The weighted sum of the non-zero terms of ``weights``.

    The per-step sum of the other terms is floored at ``floor`` (legged_gym's "only
    positive rewards"): otherwise a robot pinned against a box, paying collision and
    proximity costs every step, earns more by falling over and ending the episode.

    :param weights: ``{term name: weight}``; checked against ``REWARD_FUNCTIONS``.
    :param floor: lowest per-step reward before the terminal terms; ``None`` for none.
    """

    def __init__(self, weights: Mapping[str, float], floor: float | None = 0.0) -> None:
        self.weights = check_weights(weights)
        self.floor = floor
        self._active = [
            (name, REWARD_FUNCTIONS[name], w) for name, w in self.weights.items() if w != 0.0
        ]
        self.names = [name for name, _, _ in self._active]

    def __call__(self, state: StepState) -> tuple[float, dict[str, float]]:
        """(total reward, weighted value of each active term, unfloored)."""
        terms = {name: w * fn(state) for name, fn, w in self._active}
        step = sum(v for k, v in terms.items() if k not in TERMINAL_TERMS)
        if self.floor is not None:
            step = max(self.floor, step)
        return float(step + sum(terms.get(k, 0.0) for k in TERMINAL_TERMS)), terms

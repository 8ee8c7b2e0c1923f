"""The action prior: joint targets the PPO policy adds its bounded residual to.

The prior is the gait the command asks for, played by a gait-input controller: the
imitation model of stage 2 (``PolicyController``), the scripted expert, or nothing (the
stand pose, for from-scratch training). A ``GaitController`` sees only the gait input
``[gait_type, direction, turn, phase]``, never the robot's state, so within an episode
its targets are a fixed sequence of the step index. ``PriorSequence`` runs the controller
once over a whole episode (from ``reset()``, stateful models included) and serves that
sequence; the env's inner loop then costs an array lookup instead of a network call per
step, with exactly the numbers the live controller gives (tested).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import numpy as np

from pidog_gaits.gaits import steering as steering_mod
from pidog_gaits.gaits.library import GaitSpec
from pidog_gaits.robot import specs
from pidog_gaits.sim.rollout import ExpertController, GaitController, ramp_weight, stand_targets


def load_imitation_controller(path: str) -> GaitController:
    """Stage 2's model as a ``GaitController``; ``FileNotFoundError``/``ValueError`` if bad."""
    from pidog_gaits.neural_network import PolicyController

    return PolicyController.from_file(path)


def make_controller_factory(prior: str, pretrained: str | None) -> Callable[[GaitSpec], object]:
    """``gait -> controller`` for a prior kind (one imitation model serves every gait)."""
    if prior == "imitation":
        model = load_imitation_controller(str(pretrained))
        return lambda gait: model
    if prior == "expert":
        return ExpertController
    if prior == "none":
        return lambda gait: None
    raise ValueError(f"unknown prior {prior!r}")


@contextlib.contextmanager
def _one_torch_thread():
    """Batch-1 network calls run fastest on one thread (10x on a busy 2-core machine)."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class PriorSequence:
    """The prior's targets and gait phase for each control step of an episode.

    Starts in the stand and blends into the gait over ``RAMP_S`` like ``run_gait``, so the
    prior alone reproduces the stage 1-2 rollouts. With ``steering`` it also holds the
    gait at the three knot turns (``gaits.steering``), so ``steered(k, steer)`` serves the
    targets for any steer as a blend of three precomputed rows.

    :param gait: the gait the command picked.
    :param controller_for: ``gait -> GaitController`` (``None`` for the stand pose).
    :param steps: episode length in control steps.
    :param steering: also precompute the knot turns.
    """

    def __init__(
        self,
        gait: GaitSpec,
        controller_for: Callable[[GaitSpec], GaitController | None],
        steps: int,
        steering: bool = False,
    ) -> None:
        self.gait = gait
        dphase = specs.CONTROL_DT_S / gait.period_s
        self.phases = np.mod(np.arange(steps + 1) * dphase, 1.0)
        self.targets = self._run(gait, controller_for(gait), steps)
        self.knots: np.ndarray | None = None
        """(steps + 1, 3, 12): the targets at ``steering.TURN_KNOTS``."""
        if steering:
            self.knots = np.stack(
                [self._run(g, controller_for(g), steps) for g in steering_mod.knot_gaits(gait)],
                axis=1,
            )

    def _run(self, gait: GaitSpec, controller: GaitController | None, steps: int) -> np.ndarray:
        stand = stand_targets()
        targets = np.tile(stand, (steps + 1, 1))
        if controller is None:
            return targets
        with _one_torch_thread():
            controller.reset()
            inputs = gait.inputs(self.phases)
            for k in range(steps + 1):
                w = ramp_weight(k * specs.CONTROL_DT_S)
                t = np.asarray(controller(inputs[k]), dtype=float)
                targets[k] = w * t + (1.0 - w) * stand
        return targets

    def steered(self, k: int, steer: float) -> np.ndarray:
        """Targets (12, rad) at step ``k`` for ``steer`` in [-1, 1] (``gaits.steering``)."""
        return self.at_turn(k, steering_mod.steered_turn(self.gait.turn, steer))

    def at_turn(self, k: int, turn: float) -> np.ndarray:
        """Targets (12, rad) at step ``k`` for the gait-input ``turn`` in [-1, 1] (the
        knots' blend, ``gaits.steering.knot_weights``; without knots the gait's own)."""
        if self.knots is None:
            return self.targets[k]
        right, straight, left = self.knots[k]
        if turn >= 0.0:
            return straight + turn * (left - straight)
        return straight - turn * (right - straight)

    def __len__(self) -> int:
        return len(self.phases)

"""A scripted obstacle reflex: steer away from the nearest boxes in the depth scan.

Stage 3's PPO policy starts from the imitation gait but, left to explore, did not find
out in 200k steps that steering round a box pays (its steer stayed near a constant; 4
collisions and 4 falls in 10 episodes). This reflex is the demonstration it starts from
instead: a Braitenberg-style rule on the ``DepthScan`` sectors (nearness ``1 - range /
DEPTH_MAX_M``, left to right) that turns away from whichever side holds the nearer box,
harder the nearer and more central the box is. ``train_rl_vision`` clones it into the
policy's ``steer`` before PPO (``warm_start_steering``), so the deployed policy is still
one network and PPO refines the rule instead of discovering it.

Measured with the imitation prior, 3 boxes, production physics, 10 episodes
(``benchmarks/rl_compare.py``, row ``imitation_prior_with_reflex``): 0.26 m/s, 0 falls,
0 boxes hit, against 4 falls and 5 hits for the prior alone.
"""

from __future__ import annotations

import numpy as np

from pidog_gaits.robot import specs

SECTOR_WEIGHTS = np.array([-1.0, -1.5, -2.0, 3.0, 3.0, 2.0, 1.5, 1.0])
"""Steer per unit nearness in each of the 8 sectors, left to right: a box on the left
(first three) steers right (negative), one in the middle or on the right steers left,
central sectors most. The two central sectors agree on purpose: with opposite signs a
box dead ahead gave a steer near zero that flipped with a pixel of offset, so the robot
walked into it, and a student cloned from such labels learns their mean, zero. Measured
as the teacher with the imitation prior, 20 episodes, 3 boxes, production physics
(``test_rl_model.py --reflex``): opposite signs 2 boxes hit, agreeing 0."""
REACT_RANGE_M = 1.2
"""Boxes farther than this are ignored: the reflex only turns for what is near."""
GAIN = 2.0
HEADING_STEER_PER_RADPS = 4.0
"""The teacher's heading hold: steer per rad/s of the observed heading-hold correction
(``PiDogEnv`` command part 3). A steer of 1 turns the trot at ~0.15 rad/s at 0.3 m/s
(``gaits.command.YAW_RATE_RADPS``), so 4 turns back at about half the asked correction;
the prior holds no heading of its own (``gaits.command.PRIOR_HEADING_MAX_RADPS``), so this
is all the hold there is. 0.05 rad (3 deg) off course already steers 0.2."""


STEER_LABEL_LIMIT = 2.0
"""Largest steer *label* the teacher gives (the env executes at most 1). A student fitted
by least squares shrinks its steer towards zero wherever its camera leaves it unsure: on
the last 0.8 s before each box it hit, its steer averaged about half the teacher's (+0.5
where the teacher said +1; three stage-3 models, 20 episodes each). Labelling a box the
teacher is sure of with its unclipped ``GAIN * SECTOR_WEIGHTS @ scan`` (up to 2) keeps such
a half-sure student at a full turn; where the raw steer is within 1 the label is the steer
executed, so the teacher that drives is unchanged. Measured on trained students before
this was built, doubling their steer at run time: boxes hit 3 -> 2 and 12 -> 6."""


def scan_nearness(obstacle_depth_u8: np.ndarray, sectors: int = 8) -> np.ndarray:
    """``DepthScan`` in numpy: ``(H, W)`` uint8 floor-removed depth -> ``(sectors,)``."""
    nearness = 1.0 - np.asarray(obstacle_depth_u8, dtype=np.float32) / 255.0
    column = nearness.max(axis=0)
    return column.reshape(sectors, -1).max(axis=1)


def avoidance_steer(obstacle_depth_u8: np.ndarray) -> float:
    """Steer in [-1, 1] (+ = left) from the floor-removed depth channel."""
    return steer_from_scan(scan_nearness(obstacle_depth_u8, len(SECTOR_WEIGHTS)))


def steer_from_scan(scan: np.ndarray, limit: float = 1.0) -> float:
    """Steer in [-limit, limit] (+ = left) from the sectors' nearness (``scan_nearness``)."""
    near = scan > 1.0 - REACT_RANGE_M / specs.DEPTH_MAX_M
    return float(np.clip(GAIN * float(SECTOR_WEIGHTS @ (scan * near)), -limit, limit))


def teacher_steer(avoid: float, correction_radps: float) -> float:
    """The teacher's steer: the reflex's ``avoid``, and in what it leaves the heading hold.

    Avoidance first: a saturated ``avoid`` leaves no room to turn back; with no box near,
    the steer turns back to the goal heading. Without the second part the demonstrations
    showed a large correction only in detours, where the teacher kept steering away, and
    the student learned "correction left -> steer right": on an open floor it veered off
    harder the further it was off course (0.14-0.17 m sideways per m, three seeds).

    An ``avoid`` beyond 1 (``STEER_LABEL_LIMIT``) is a label, kept as it is; the env
    clips the steer it executes to [-1, 1].
    """
    if abs(avoid) >= 1.0:
        return float(avoid)
    hold = min(1.0, max(-1.0, HEADING_STEER_PER_RADPS * correction_radps))
    return float(min(1.0, max(-1.0, avoid + (1.0 - abs(avoid)) * hold)))


def teacher_from_depth(
    depth_obs_u8: np.ndarray, action_dim: int, correction_radps: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(action, scan)`` for a ``Sensors.depth_observation`` image ``(2, H, W)`` and the
    heading-hold correction: the full action (12 zero residuals, then the teacher's steer
    label, up to ``STEER_LABEL_LIMIT``; executed, it is clipped to 1)
    and the sectors' nearness it acted on (what the student's camera network learns to
    see, ``envs.warm_start``)."""
    scan = scan_nearness(depth_obs_u8[1], len(SECTOR_WEIGHTS))
    action = np.zeros(action_dim, dtype=np.float32)
    if action_dim > specs.NUM_JOINTS:
        action[specs.NUM_JOINTS] = teacher_steer(
            steer_from_scan(scan, STEER_LABEL_LIMIT), correction_radps
        )
    return action, scan.astype(np.float32)

"""ONNX models through onnxruntime: the robot's path, with no PyTorch.

``pidog-gaits export`` writes one self-contained ``.onnx`` per model with a JSON metadata
entry ``pidog_gaits`` (``METADATA_KEY``) that says how to drive it:

* imitation: input ``gait_input`` (1, 4) -> ``joint_targets_rad`` (1, 12); normalisation
  is inside the graph; a recurrent model's state is explicit: each ``state`` entry names
  an input (zeros at reset) and the output that feeds it next step;
* ppo: one input per observation part (``obs_keys``; ``image`` uint8) -> ``action``
  (1, 12), or (1, 13) with ``steering`` (the 13th is ``steer``), in [-1, 1], the
  deterministic (mean) action; with an imitation prior the same graph also takes
  ``gait_input`` (+ state) and returns ``prior_targets_rad``, already steered. Joint
  targets = the prior (ramped from the stand) + ``action_scale_rad * action[:12]``,
  clipped to the joint ranges, as in ``PiDogEnv.targets_for``. A command-following
  policy's metadata has ``commands`` (``{"speed_mps": [lo, hi], "yaw_radps": [lo, hi]}``):
  it runs on a velocity command clipped into those ranges (``GaitSchedule.for_command``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pidog_gaits.gaits.command import CommandRanges
from pidog_gaits.gaits.steering import hold_settings
from pidog_gaits.robot import specs
from pidog_gaits.runtime.base import ExpertPrior, StepContext, blend, stand_targets
from pidog_gaits.runtime.observation import build_observation

METADATA_KEY = "pidog_gaits"
FORMAT_VERSION = 3
"""2: PPO graphs take the policy group only (``targets`` history, no measured joints).
3: PPO policies follow velocity commands (metadata ``commands``: their ranges)."""


class ModelLoadError(ValueError):
    """A model file that cannot be run (wrong kind, missing metadata, bad contents)."""


def ranges_from_dict(d: dict) -> CommandRanges:
    """``CommandRanges`` from its JSON form (lists for the tuples), validated; the keys
    left out keep their defaults (the export writes only the two ranges)."""
    fields = {k: tuple(float(x) for x in v) if isinstance(v, list) else v for k, v in d.items()}
    return CommandRanges(**fields).validate()


def read_metadata(session) -> dict:
    meta = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in meta:
        raise ModelLoadError(
            "this ONNX file has no pidog_gaits metadata; export it with `pidog-gaits export`"
        )
    try:
        info = json.loads(meta[METADATA_KEY])
    except ValueError:
        raise ModelLoadError("its pidog_gaits metadata is not valid JSON") from None
    if info.get("format", 0) > FORMAT_VERSION:
        raise ModelLoadError("this ONNX file was written by a newer pidog-gaits; update it")
    if info.get("kind") == "ppo" and info.get("format", 0) < FORMAT_VERSION:
        raise ModelLoadError(
            "this PPO model was exported by an older pidog-gaits (its inputs differ); "
            "export it again from its final_model.pth, or retrain it"
        )
    if list(info.get("joint_names", specs.JOINT_NAMES)) != list(specs.JOINT_NAMES):
        raise ModelLoadError("the model's joint order differs from this package's")
    return info


def open_session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session; one thread is fastest for these small nets."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's errors share no base class
        name = type(exc).__name__
        if name in ("InvalidProtobuf", "DecodeError"):
            raise ModelLoadError(
                f"{path}: not a readable ONNX model (corrupt, truncated or not ONNX: {name})"
            ) from None
        raise ModelLoadError(f"{path}: onnxruntime cannot load this model ({name})") from None


class _StatefulGraph:
    """Runs a session, carrying its recurrent state between calls."""

    def __init__(self, session, state_spec: list[dict]) -> None:
        self.session = session
        self.state_spec = state_spec
        self.output_names = [o.name for o in session.get_outputs()]
        self.reset()

    def reset(self) -> None:
        self.state = {s["input"]: np.zeros(s["shape"], dtype=np.float32) for s in self.state_spec}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = dict(
            zip(self.output_names, self.session.run(None, {**feeds, **self.state}), strict=True)
        )
        for s in self.state_spec:
            self.state[s["input"]] = out[s["output"]]
        return out


class OnnxImitationPolicy:
    """An exported imitation model: gait input -> 12 joint targets."""

    kind = "imitation"
    engine = "onnx"
    image = None
    signals: tuple[str, ...] = ()
    command_ranges = None
    heading_hold: dict[str, float] = {}
    image_size_px = (specs.CAMERA_WIDTH_PX, specs.CAMERA_HEIGHT_PX)

    def __init__(self, session, info: dict) -> None:
        self.info = info
        self.arch = info.get("arch", "")
        self.control_dt_s = float(info.get("control_dt_s", specs.CONTROL_DT_S))
        self._graph = _StatefulGraph(session, info.get("state", []))

    def reset(self) -> None:
        self._graph.reset()

    def targets(self, gait_input: np.ndarray) -> np.ndarray:
        """Raw model output (12, rad) for one gait input, advancing the state."""
        x = np.asarray(gait_input, dtype=np.float32).reshape(1, 4)
        return self._graph.run({"gait_input": x})["joint_targets_rad"][0].astype(float)

    def act(self, ctx: StepContext) -> np.ndarray:
        return blend(self.targets(ctx.gait_input), ctx)


class OnnxPpoPolicy:
    """An exported PPO policy (deterministic action) with its prior."""

    kind = "ppo"
    engine = "onnx"

    def __init__(self, session, info: dict) -> None:
        self.info = info
        self.arch = info.get("arch", "ppo")
        self.control_dt_s = float(info.get("control_dt_s", specs.CONTROL_DT_S))
        self.obs_keys = list(info["obs_keys"])
        self.signals = tuple(self.obs_keys)
        self.bounds = {
            k: (np.asarray(lo, dtype=np.float32), np.asarray(hi, dtype=np.float32))
            for k, (lo, hi) in info.get("obs_bounds", {}).items()
        }
        self.image = info.get("image")
        self.image_size_px = tuple(info.get("image_size_px", (64, 48)))
        self.prior = info.get("prior", "expert")
        self.scale = np.asarray(info["action_scale_rad"], dtype=float)
        self.steering = bool(info.get("steering", False))
        self.command_ranges = ranges_from_dict(info["commands"])  # format 3: always there
        self.heading_hold = hold_settings(info.get("env", {}))
        self._graph = _StatefulGraph(session, info.get("state", []))
        self._expert = ExpertPrior(self.steering)
        self._stand = stand_targets()

    def reset(self) -> None:
        self._graph.reset()

    def act(self, ctx: StepContext) -> np.ndarray:
        feeds = build_observation(ctx, self.obs_keys, self.bounds)
        if self.prior == "imitation":
            feeds["gait_input"] = np.asarray(ctx.gait_input, dtype=np.float32).reshape(1, 4)
        out = self._graph.run(feeds)
        action = np.clip(out["action"][0].astype(float), -1.0, 1.0)
        n = specs.NUM_JOINTS
        if self.prior == "imitation":  # the graph already steered it
            prior = blend(out["prior_targets_rad"][0].astype(float), ctx)
        elif self.prior == "expert":
            prior = blend(self._expert(ctx, float(action[n]) if self.steering else 0.0), ctx)
        else:  # trained from scratch: the action spans the stand +- the scale
            prior = self._stand
        targets = prior + self.scale * action[:n]
        return np.clip(targets, specs.JOINT_RANGE_RAD[:, 0], specs.JOINT_RANGE_RAD[:, 1])


def load_onnx_policy(path: str | Path):
    """The right ONNX policy class for the file's metadata."""
    session = open_session(path)
    try:
        info = read_metadata(session)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{path}: {exc}") from None
    kind = info.get("kind")
    classes = {"imitation": OnnxImitationPolicy, "ppo": OnnxPpoPolicy}
    if kind not in classes:
        raise ModelLoadError(f"{path}: unknown model kind {kind!r} in its metadata")
    try:
        return classes[kind](session, info)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path}: incomplete pidog_gaits metadata ({exc!r})") from None

"""Start PPO's actor from a privileged teacher: record it, then clone it into the policy.

The imitation prior gives PPO a dog that trots; this gives it one that also steers round
boxes. The teacher is the obstacle reflex (``envs.reflex``) on a depth image, which PiDog
does not have (``PiDogEnv.teacher_action``); the student is the actor, which sees the
colour camera and the robot's other senses only. Demonstrations are recorded in the
training envs' own configuration (randomized physics and appearance, boxes) with noise on
the executed steer, so the states include the robot slightly off the teacher's course (as
in DART), each labelled with the teacher's clean action. The actor's mean is then fitted
to those labels by mean squared error from the actor's own inputs, residuals to zero and
steer to the teacher's: teacher-student distillation, the field's way to a deployable
policy. PPO refines the result; the deployed policy stays one network.

Then DAgger rounds (Ross et al. 2011): the *student* drives, the teacher labels what it
should have done, the data are aggregated and the student refitted. Cloning alone meets
only the states the teacher visits; a student that misjudges a box walks where the
teacher never went (head-on into it), and there it had no label. DAgger labels exactly
those states.

During PPO, ``TeacherAnchor`` goes on labelling: the states PPO's own rollouts reach, after
each update, for the steer only (the residuals are PPO's to improve).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from pidog_gaits.envs.config import EnvConfig
from pidog_gaits.envs.symmetry import mirror_action, mirror_observation
from pidog_gaits.envs.vec import make_vec_env
from pidog_gaits.robot import specs

log = logging.getLogger("pidog_gaits.rl.warm_start")  # into the stage 3 log


def can_warm_start(env_config: EnvConfig) -> bool:
    """The teacher needs a steer to set and boxes to see, the student a camera to see them."""
    return env_config.steering and env_config.vision != "none" and env_config.num_obstacles > 0


def record_demonstrations(
    env_config: EnvConfig,
    steps: int,
    envs: int,
    seed: int,
    steer_noise: float = 0.3,
    vec_kind: str = "dummy",
    student=None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``steps`` observations (all envs together), the teacher's action for each, and the
    depth scan it acted on (``PiDogEnv.teacher_view``).

    ``vec_kind``: how the envs step (the training's own kind: the same episodes for any).
    ``student``: an SB3 policy whose deterministic action is executed (DAgger); without
    one the teacher's, with ``steer_noise`` on its steer (DART).
    """
    venv = make_vec_env(env_config, envs, vec_kind, seed=seed)
    rng = np.random.default_rng(seed)
    observations: dict[str, list[np.ndarray]] = {}
    labels: list[np.ndarray] = []
    scans: list[np.ndarray] = []
    try:
        obs = venv.reset()
        for _ in range(max(steps // envs, 1)):
            views = venv.env_method("teacher_view")
            target = np.stack([action for action, _ in views])
            for key, value in obs.items():
                observations.setdefault(key, []).append(value.copy())
            labels.append(target)
            scans.append(np.stack([scan for _, scan in views]))
            if student is not None:
                executed, _ = student.predict(obs, deterministic=True)
            else:
                executed = np.clip(target, -1.0, 1.0)  # the label may go beyond 1
                executed[:, specs.NUM_JOINTS] += rng.normal(0.0, steer_noise, envs)
            obs, _, _, _ = venv.step(np.clip(executed, -1.0, 1.0))
    finally:
        venv.close()
    stacked = {k: np.concatenate(v) for k, v in observations.items()}
    return stacked, np.concatenate(labels), np.concatenate(scans)


class _SeeHead:
    """The auxiliary task of the clone: the actor's camera features -> the teacher's scan.

    A linear layer on the actor CNN's output (captured by a forward hook, so the CNN runs
    once per batch), trained with the actor and then dropped: the deployed actor is
    unchanged in shape. Without it the student did not learn to see boxes: cloned on 20k
    steps, its steer agreed with the teacher's on its training episodes (correlation 0.93)
    but not on held-out ones (0.50), and with the camera alone not at all (0.00): the
    network memorized the episodes, and copied the teacher's last steer from its commanded
    targets and gyro (the copycat problem of behaviour cloning from history).
    """

    def __init__(self, policy, sectors: int, seed: int) -> None:
        cnn = getattr(policy.pi_features_extractor, "cnn", None)
        self.features: torch.Tensor | None = None
        self.layer: torch.nn.Linear | None = None
        self._hook = None
        if cnn is None:
            return
        width = cnn[-2].out_features  # the CNN's dense layer (a ReLU follows)
        torch.manual_seed(seed)
        self.layer = torch.nn.Linear(width, sectors).to(policy.device)
        self._hook = cnn.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        self.features = output

    def parameters(self) -> list[torch.nn.Parameter]:
        return list(self.layer.parameters()) if self.layer is not None else []

    def loss(self, scans: torch.Tensor) -> torch.Tensor:
        """Summed squared error over the sectors, batch mean (0 without a camera)."""
        if self.layer is None or self.features is None:
            return torch.zeros(())
        return ((self.layer(self.features) - scans) ** 2).sum(dim=1).mean()

    def close(self) -> None:
        if self._hook is not None:
            self._hook.remove()


def augment_colours(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A colour camera's ``(B, 3, H, W)`` uint8 batch with each sample's channels shuffled
    and scaled by 0.7-1.3: rooms in colours the demonstrations never had, so the camera
    network keys on shapes, not on one episode's palette (held-out steer correlation of the
    clone 0.62 -> 0.68, 20k steps). Any other image passes unchanged."""
    if image.ndim != 4 or image.shape[1] != 3:
        return image
    b, c, h, w = image.shape
    order = torch.argsort(torch.rand(b, c, generator=generator), dim=1).to(image.device)
    shuffled = torch.gather(image.float(), 1, order[:, :, None, None].expand(-1, -1, h, w))
    gain = (0.7 + 0.6 * torch.rand(b, c, 1, 1, generator=generator)).to(image.device)
    return (shuffled * gain).clamp(0.0, 255.0).to(torch.uint8)


SCAN_WEIGHT = 1.0
"""Weight of the auxiliary scan loss (``_SeeHead``) against the action loss."""


def clone_into_policy(
    policy,
    observations: dict[str, np.ndarray],
    actions: np.ndarray,
    epochs: int = 10,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
    scans: np.ndarray | None = None,
    scan_weight: float = SCAN_WEIGHT,
    shuffle_colours: bool = True,
    mirror_prob: float = 0.0,
) -> list[float]:
    """Fit the actor's mean action to ``actions``, and with ``scans`` its camera features
    to the teacher's depth scan (``_SeeHead``), on colour-shuffled images
    (``augment_colours``, unless ``shuffle_colours`` is off), each sample seen as its
    left-right mirror image with probability ``mirror_prob`` (``fit_actor_mean``); returns
    the mean loss of each epoch. Stage 3 leaves ``mirror_prob`` at 0: the teacher is not
    symmetric (it breaks ties to the left, ``TeacherAnchor._with_mirror``), and mirrored
    demonstrations cost the clone most of what its camera alone had learned
    (``benchmarks/clone_generalization.py``, ``+mirror``)."""
    device = policy.device
    generator = torch.Generator().manual_seed(seed)
    see = _SeeHead(policy, scans.shape[1], seed) if scans is not None else None
    params = policy.actor_parameters()  # ``envs.asymmetric``: the critic stays as it is
    optimizer = torch.optim.Adam(params + (see.parameters() if see else []), lr=learning_rate)
    target_all = torch.as_tensor(actions, dtype=torch.float32)
    scan_all = torch.as_tensor(scans, dtype=torch.float32) if scans is not None else None

    def loss_of(mean: torch.Tensor, idx: torch.Tensor, mirrored: torch.Tensor) -> torch.Tensor:
        # Summed over the action (not averaged): the steer, the one non-zero label, would
        # otherwise weigh 1/13 of the loss.
        loss = ((mean - target_all[idx].to(device)) ** 2).sum(dim=1).mean()
        if see is not None:
            scan = scan_all[idx].to(device)  # sectors left to right: a mirror reverses them
            scan = torch.where(mirrored[:, None], scan.flip(1), scan)
            loss = loss + scan_weight * see.loss(scan)
        return loss

    policy.set_training_mode(True)
    try:
        return fit_actor_mean(policy, observations, len(actions), loss_of, optimizer, epochs,
                              batch_size, generator, shuffle_colours, mirror_prob)  # fmt: skip
    finally:
        if see is not None:
            see.close()
        policy.set_training_mode(False)


def _actor_inputs(observations: dict[str, np.ndarray], rows, device) -> dict[str, torch.Tensor]:
    """The ``rows`` of a batch of observations as the actor's input tensors: the student
    learns from what the robot has, so ``privileged`` is dropped."""
    return {
        k: torch.as_tensor(v[rows]).to(device) for k, v in observations.items() if k != "privileged"
    }


def fit_actor_mean(
    policy,
    observations: dict[str, np.ndarray],
    n: int,
    loss_of,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    shuffle_colours: bool = True,
    mirror_prob: float = 0.0,
) -> list[float]:
    """``epochs`` shuffled minibatch passes over ``n`` samples, fitting the actor's mean
    action: ``loss_of(mean, idx, mirrored)`` scores the batch ``idx``'s means. The actor
    sees what the robot has (``privileged`` is dropped) on colour-shuffled images
    (``augment_colours``, unless ``shuffle_colours`` is off). With ``mirror_prob`` > 0
    each sample is shown as its left-right mirror image (``envs.symmetry``) with that
    probability and the actor's mean for it mirrored back, so ``loss_of`` compares it with
    the sample's own label (``mirrored`` marks those rows, for labels that are not
    actions). Returns each epoch's mean loss. The clone and ``TeacherAnchor`` both fit
    through this."""
    device = policy.device
    history = []
    mirror_t = None
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            if mirror_prob > 0.0:  # no draw otherwise: the generator's stream is as before
                mirrored = torch.rand(len(idx), generator=generator) < mirror_prob
            else:
                mirrored = torch.zeros(len(idx), dtype=torch.bool)
            rows = idx.numpy()
            if mirrored.any():
                batch = {k: v[rows] for k, v in observations.items() if k != "privileged"}
                flip = mirrored.numpy()
                flipped = mirror_observation({k: v[flip] for k, v in batch.items()})
                for key, value in flipped.items():
                    batch[key][flip] = value
                obs = _actor_inputs(batch, slice(None), device)
            else:
                obs = _actor_inputs(observations, rows, device)
            if shuffle_colours and "image" in obs:
                obs["image"] = augment_colours(obs["image"], generator)
            mean = policy.get_distribution(obs).distribution.mean
            if mirrored.any():
                if mirror_t is None:  # mirror_action as a matrix: a @ M mirrors a
                    eye = np.eye(mean.shape[1], dtype=np.float32)
                    mirror_t = torch.as_tensor(mirror_action(eye)).to(device)
                flip_t = mirrored.to(device)[:, None]
                mean = torch.where(flip_t, mean @ mirror_t, mean)
            loss = loss_of(mean, idx, mirrored.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / n)
    return history


def warm_start_steering(
    policy,
    env_config: EnvConfig,
    steps: int,
    envs: int,
    seed: int,
    epochs: int = 10,
    vec_kind: str = "dummy",
    dagger_rounds: int = 0,
    dagger_steps: int | None = None,
) -> dict:
    """Record ``steps`` teacher demonstrations and clone them into ``policy``, then run
    ``dagger_rounds`` rounds of ``dagger_steps`` (default ``steps // 2``) student-driven,
    teacher-labelled steps, each refitting on all the data so far; figures."""
    t0 = time.perf_counter()
    observations, actions, scans = record_demonstrations(
        env_config, steps, envs, seed, vec_kind=vec_kind
    )
    t1 = time.perf_counter()
    history = clone_into_policy(
        policy, observations, actions, epochs=epochs, seed=seed, scans=scans
    )
    t2 = time.perf_counter()
    dagger_losses = []
    for r in range(dagger_rounds):
        more_obs, more_actions, more_scans = record_demonstrations(
            env_config, dagger_steps or max(steps // 2, 1), envs, seed + 1 + r,
            vec_kind=vec_kind, student=policy,
        )  # fmt: skip
        observations = {k: np.concatenate([v, more_obs[k]]) for k, v in observations.items()}
        actions = np.concatenate([actions, more_actions])
        scans = np.concatenate([scans, more_scans])
        rounds = clone_into_policy(
            policy, observations, actions, epochs=max(epochs // 2, 1), seed=seed + 1 + r,
            scans=scans,
        )  # fmt: skip
        dagger_losses.append(rounds[-1])
    t3 = time.perf_counter()
    steer = actions[:, specs.NUM_JOINTS]
    figures = {
        "demonstration_steps": int(len(actions)),
        "steering_share": float(np.mean(np.abs(steer) > 0.05)),
        "clone_loss_first": history[0],
        "clone_loss_last": history[-1],
        "record_s": t1 - t0,
        "clone_s": t2 - t1,
        "dagger_rounds": dagger_rounds,
        "dagger_loss_last": dagger_losses,
        "dagger_s": t3 - t2,
    }
    log.info(
        "warm start: %d teacher steps (steering in %.0f%%) in %.0f s; cloned, loss %.2e -> "
        "%.2e in %.0f s", figures["demonstration_steps"], 100 * figures["steering_share"],
        figures["record_s"], history[0], history[-1], figures["clone_s"],
    )  # fmt: skip
    if dagger_rounds:
        log.info(
            "DAgger: %d rounds (student drives, teacher labels), %d samples in all, loss %s, "
            "%.0f s", dagger_rounds, len(actions), ", ".join(f"{v:.2e}" for v in dagger_losses),
            figures["dagger_s"],
        )  # fmt: skip
    return figures


class TeacherAnchor(BaseCallback):
    """During PPO, the teacher keeps labelling: online DAgger on PPO's own rollouts.

    Every ``every``-th step of a rollout the teacher (``PiDogEnv.teacher_view``, the
    privileged depth reflex with the heading hold) labels the states the *current* policy
    reached, and after each PPO update the actor's mean steer is fitted a little towards
    those labels (``epochs`` passes of MSE at ``learning_rate``, on colour-shuffled images
    like the clone). PPO alone drifted the clone off its teacher: over 200k steps it took
    the students' open-floor drift from 0.006-0.009 to 0.035-0.23 m per m (seeds 0-2) and
    kept the boxes hit where the clone had them. Only the steer is anchored to the
    teacher: the 12 residuals, where PPO earns its keep (a gait that survives weak servos
    and pushes), are PPO's. Runs only while the actor trains (not during ``CriticWarmup``).

    With ``mirror_weight`` > 0 the fit also holds the actor's gait left-right symmetric
    (``envs.symmetry``): each labelled state joins its mirror image and the leg residuals
    are fitted (at this weight) towards the mirror-average of the actor's own means,
    ``(mean(o) + mirror(mean(mirror(o)))) / 2``, so a residual that leans one way is
    pulled back while what PPO learned symmetric stays. The steer keeps the teacher's
    labels on the states it saw only (``_with_mirror``: the teacher breaks ties to the
    left).
    """

    def __init__(
        self,
        steer_index: int,
        every: int = 2,
        epochs: int = 2,
        batch_size: int = 256,
        learning_rate: float = 3e-4,
        seed: int = 0,
        mirror_weight: float = 0.0,
    ) -> None:
        super().__init__()
        if mirror_weight < 0.0:
            raise ValueError("mirror_weight must be >= 0")
        self.steer_index = steer_index
        self.mirror_weight = float(mirror_weight)
        self.every = max(int(every), 1)
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.generator = torch.Generator().manual_seed(seed)
        self._obs: dict[str, list[np.ndarray]] = {}
        self._labels: list[np.ndarray] = []
        self._calls = 0
        self._optimizer: torch.optim.Optimizer | None = None
        self.fits = 0
        self.last_loss = float("nan")
        self.last_batch: tuple[dict[str, np.ndarray], np.ndarray] | None = None
        """The last fit's observations and steer labels (for tests and inspection)."""
        self.last_asymmetry = float("nan")
        """Mean |leg residual mean - its mirror-average| before the last fit (action units)."""

    def _actor_trains(self) -> bool:
        params = self.model.policy.actor_parameters()
        return bool(params) and params[0].requires_grad

    def _on_step(self) -> bool:
        self._calls += 1
        if self._calls % self.every or not self._actor_trains():
            return True
        views = self.training_env.env_method("teacher_view")
        new_obs = self.locals["new_obs"]  # after auto-reset: what teacher_view just saw
        for key, value in new_obs.items():
            if key != "privileged":  # the student learns from what the robot has
                self._obs.setdefault(key, []).append(np.array(value, copy=True))
        self._labels.append(np.array([float(action[self.steer_index]) for action, _ in views]))
        return True

    def _on_rollout_start(self) -> None:
        """After PPO's update (SB3 calls this before collecting the next rollout)."""
        if not self._labels or not self._actor_trains():
            self._obs, self._labels = {}, []
            return
        observations = {k: np.concatenate(v) for k, v in self._obs.items()}
        self.last_batch = (observations, np.concatenate(self._labels))
        steer_labels = self.last_batch[1]
        self._obs, self._labels = {}, []
        policy = self.model.policy
        if self._optimizer is None:
            self._optimizer = torch.optim.Adam(policy.actor_parameters(), lr=self.learning_rate)
        steer, legs = self.steer_index, specs.NUM_LEG_JOINTS
        targets = None
        if self.mirror_weight > 0.0:
            observations, steer_labels, targets = self._with_mirror(observations, steer_labels)
        labels = torch.as_tensor(steer_labels, dtype=torch.float32, device=policy.device)
        if targets is not None:
            targets = torch.as_tensor(targets, dtype=torch.float32, device=policy.device)

        def loss_of(mean: torch.Tensor, idx: torch.Tensor, _mirrored) -> torch.Tensor:
            idx = idx.to(policy.device)
            label = labels[idx]
            if targets is None:
                return ((mean[:, steer] - label) ** 2).mean()
            known = ~torch.isnan(label)  # the mirrored states have no teacher label
            steer_loss = ((mean[known, steer] - label[known]) ** 2).sum() / len(idx)
            residual = ((mean[:, :legs] - targets[idx]) ** 2).mean()
            return steer_loss + self.mirror_weight * residual

        history = fit_actor_mean(policy, observations, len(labels), loss_of, self._optimizer,
                                 self.epochs, self.batch_size, self.generator)  # fmt: skip
        self.fits += 1
        self.last_loss = history[-1]
        self.logger.record("teacher_anchor/steer_mse", self.last_loss)

    def _with_mirror(
        self, observations: dict[str, np.ndarray], steer_labels: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """The batch and its mirror image: observations, steer labels (the teacher's; NaN,
        none, for the mirrored states) and leg-residual targets (the actor's
        mirror-averaged means, fixed for this fit).

        The steer is not mirrored: the teacher is not symmetric. A box dead ahead fills
        its two middle sectors alike and it goes left (``reflex.SECTOR_WEIGHTS``), so its
        mirror image also asks for left, not for the negated label; negated, the two
        labels of a centred box cancel and teach the student to walk into it (the clone
        shown mirror images half the time: held-out steer correlation with the camera
        alone 0.16 against 0.51, ``benchmarks/clone_generalization.py``)."""
        mirrored = mirror_observation(observations)
        means = actor_means(self.model.policy, observations, self.batch_size)
        mirrored_means = actor_means(self.model.policy, mirrored, self.batch_size)
        symmetric = 0.5 * (means + mirror_action(mirrored_means))
        both = {k: np.concatenate([observations[k], mirrored[k]]) for k in mirrored}
        residuals = np.concatenate([symmetric, mirror_action(symmetric)])
        self.last_asymmetry = float(np.abs(means - symmetric)[:, : specs.NUM_LEG_JOINTS].mean())
        self.logger.record("teacher_anchor/leg_asymmetry", self.last_asymmetry)
        labels = np.concatenate([steer_labels, np.full_like(steer_labels, np.nan)])
        return both, labels, residuals[:, : specs.NUM_LEG_JOINTS]


def actor_means(policy, observations: dict[str, np.ndarray], batch_size: int = 512) -> np.ndarray:
    """The actor's mean action for each of a batch of observations (``privileged`` is
    ignored), without gradients."""
    n = len(next(iter(observations.values())))
    out = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            obs = _actor_inputs(observations, slice(start, start + batch_size), policy.device)
            out.append(policy.get_distribution(obs).distribution.mean.cpu().numpy())
    return np.concatenate(out)

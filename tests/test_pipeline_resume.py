"""Stop the real pipeline twice (Ctrl-C in stage 2, SIGKILL in stage 3), then --resume
finishes it: finished stages are not re-run, stage 3 continues from its newest checkpoint,
and nothing is lost beyond one checkpoint interval."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _pipeline_run import SCRIPT, clean_env, run_pipeline, scratch_dir

RESUME_ENV = {
    "PRESET": "smoke",
    "RL_TIMESTEPS": "8192",
    "RL_CHECKPOINT_EVERY": "1024",
    "EVAL_EPISODES": "1",
    "SEED": "5",
}
LIMIT_S = 900
"""How long any one awaited event may take before the test calls it a hang. Generous on
purpose: CI runs on a developer's 2-core machine, often busy with something else, and
every wait below ends as soon as its event happens, so an idle machine is no faster for a
shorter limit."""


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def _ctrl_c_reaches_it() -> None:
    """In the child before exec: SIGINT back to its default. A test suite started in the
    background of a non-interactive shell (``./run_tests.sh &``) ignores SIGINT, children
    inherit that, and the pipeline would never see the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(predicate, timeout_s: float, what: str, proc: subprocess.Popen) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f"pipeline ended (exit {proc.returncode}) before {what}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def child_has_spoken(proc: subprocess.Popen, log: Path) -> bool:
    """The pipeline's stage child runs and has written a line of its own to the stage log
    (beyond the pipeline's ``$ command`` header): its Python is up and working."""
    if not children(proc.pid):
        return False
    try:
        lines = log.read_text().splitlines()
    except FileNotFoundError:
        return False
    return any(line.strip() and not line.startswith("$ ") for line in lines)


def wait_gone(pids: list[int], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.1)


def step_state(root: Path, step: str) -> dict:
    try:
        return json.loads((root / "logs/pipeline.json").read_text())["steps"].get(step, {})
    except (FileNotFoundError, ValueError):
        return {}


def test_interrupt_kill_and_resume():
    experiments = scratch_dir("pidog_resume_")
    env = clean_env(**RESUME_ENV)
    proc = subprocess.Popen(
        [str(SCRIPT), "resume_me", "--experiments-dir", str(experiments)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_ctrl_c_reaches_it,
    )
    roots = lambda: list(experiments.glob("resume_me_*"))  # noqa: E731
    wait_for(lambda: roots(), LIMIT_S, "the experiment directory", proc)
    root = roots()[0]

    # 1. Ctrl-C during stage 2: the pipeline stops the child and exits 130.
    running = lambda: step_state(root, "train").get("status") == "running"  # noqa: E731
    wait_for(running, LIMIT_S, "stage 2", proc)
    train_log = root / "logs/imitation_training.log"
    wait_for(lambda: child_has_spoken(proc, train_log), LIMIT_S, "stage 2's first output", proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=LIMIT_S) == 130
    assert step_state(root, "collect")["status"] == "done"
    assert step_state(root, "train")["status"] == "interrupted"
    assert "--resume" in (root / "logs/pipeline.log").read_text()

    # 2. Resume; SIGKILL the pipeline once stage 3 has written its first checkpoint.
    proc = subprocess.Popen(
        [str(SCRIPT), "--resume", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_ctrl_c_reaches_it,
    )
    first = root / "rl_model/checkpoints/rl_model_vecnormalize_1024_steps.pkl"
    wait_for(first.is_file, LIMIT_S, "the first stage 3 checkpoint", proc)
    stage3 = children(proc.pid)
    assert stage3, "stage 3 runs as a child process"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=LIMIT_S)
    wait_gone(stage3, LIMIT_S)
    assert not any(alive(p) for p in stage3), "stage 3 outlived the killed pipeline"
    assert not (root / "rl_model/final_model.zip").exists(), "killed too late to test resume"
    assert step_state(root, "rl")["status"] == "running"
    checkpoints = sorted(
        int(p.name.split("_")[2])
        for p in (root / "rl_model/checkpoints").glob("rl_model_*_steps.zip")
    )
    newest_before = checkpoints[-1]

    # 3. Resume again: stage 3 continues from its newest checkpoint, then stage 4.
    run = run_pipeline(
        ["--resume", str(root)], env=clean_env(RL_TIMESTEPS="999999"), timeout_s=2 * LIMIT_S
    )
    assert run.code == 0, run.output[-4000:]
    assert "ignoring RL_TIMESTEPS" in run.output
    rl_log = (root / "logs/rl_training.log").read_text()
    assert f"--resume {root}/rl_model/checkpoints/rl_model_" in rl_log
    assert "resumed from" in rl_log
    state = json.loads((root / "logs/pipeline.json").read_text())["steps"]
    assert state["collect"]["attempts"] == 1, "stage 1 must not run again"
    assert state["train"]["attempts"] == 2
    assert state["rl"]["attempts"] == 2
    assert all(s["status"] == "done" for s in state.values())

    from stable_baselines3 import PPO

    ppo = PPO.load(root / "rl_model/final_model.zip", device="cpu")
    assert ppo.num_timesteps == 8192, "the resumed run trains to the configured total"
    resumed_from = int(rl_log.split("resumed from ")[1].split(" at ")[1].split()[0])
    assert resumed_from >= newest_before, "resume starts at the newest checkpoint"
    assert 8192 - resumed_from <= 8192 - newest_before

    from pidog_gaits.report import tensorboard_scalars

    curve = tensorboard_scalars(root / "rl_model/tensorboard")["rollout/ep_rew_mean"]
    assert curve[-1][0] >= 8192 - 1024, "TensorBoard curves continue after the resume"
    for path in ("SUMMARY.txt", "report.html", "final_model/final_model.onnx"):
        assert (root / path).is_file()
    assert "(2 attempts: resumed)" in (root / "SUMMARY.txt").read_text()


def test_latest_checkpoint_skips_torn_files(tmp_path):
    """A crash while writing a checkpoint leaves a torn zip or pickle: take the one before."""
    import zipfile

    from pidog_gaits.pipeline_stages import latest_checkpoint

    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    assert latest_checkpoint(tmp_path) is None
    for steps in (1000, 2000, 3000):
        with zipfile.ZipFile(ckpt / f"rl_model_{steps}_steps.zip", "w") as zf:
            zf.writestr("data", "x" * 100)
        (ckpt / f"rl_model_vecnormalize_{steps}_steps.pkl").write_bytes(b"\x80\x04K\x01.")
    assert latest_checkpoint(tmp_path).name == "rl_model_3000_steps.zip"
    (ckpt / "rl_model_vecnormalize_3000_steps.pkl").write_bytes(b"\x80\x04K")  # torn pickle
    assert latest_checkpoint(tmp_path).name == "rl_model_2000_steps.zip"
    data = (ckpt / "rl_model_2000_steps.zip").read_bytes()
    (ckpt / "rl_model_2000_steps.zip").write_bytes(data[: len(data) // 2])  # torn zip
    assert latest_checkpoint(tmp_path).name == "rl_model_1000_steps.zip"


def test_one_pipeline_per_experiment(tmp_path):
    from pidog_gaits.pipeline import lock
    from pidog_gaits.pipeline_config import ConfigError

    fd = lock(tmp_path)
    try:
        with pytest.raises(ConfigError, match="another pipeline is running"):
            lock(tmp_path)
    finally:
        os.close(fd)
    os.close(lock(tmp_path))  # free again once the holder is gone


def test_log_keeps_the_last_state_of_progress_bars(tmp_path):
    from pidog_gaits.pipeline import LogWriter

    log = LogWriter(tmp_path / "x.log")
    log.write(b"start\n 10%|#  \r 50%|####")
    log.write(b"#  \r100%|######|\nnext line\nno newline")
    log.close()
    assert (tmp_path / "x.log").read_text() == "start\n100%|######|\nnext line\nno newline\n"


def test_failing_stage_stops_naming_stage_and_log(tmp_path):
    """A stage that fails (here stage 2 on a corrupt data file) stops the run with a message
    naming the stage and its log, exits non-zero and keeps everything written."""
    from pidog_gaits.pipeline_config import config_from_env, write_config_txt

    root = tmp_path / "broken_20260101_000000"
    for sub in ("data", "imitation_model", "rl_model", "logs", "final_model"):
        (root / sub).mkdir(parents=True)
    config, sources = config_from_env({"PRESET": "smoke"})
    write_config_txt(root / "config.txt", config, sources)
    npz = root / "data/gait_data_enhanced_20260101_000000.npz"
    npz.write_bytes(b"not an npz")
    state = {"steps": {"collect": {"status": "done", "seconds": 1.0, "attempts": 1,
                                   "data_file": str(npz.relative_to(root))}}}  # fmt: skip
    (root / "logs/pipeline.json").write_text(json.dumps(state))

    run = run_pipeline(["--resume", str(root)], env=clean_env(), timeout_s=120)
    assert run.code == 1
    assert "error: stage 2 (imitation learning) failed" in run.output
    assert f"Its log: {root}/logs/imitation_training.log" in run.output
    assert f"--resume {root}" in run.output
    log = (root / "logs/imitation_training.log").read_text()
    assert "$ python3 -m pidog_gaits.train" in log and "error" in log.lower()
    assert npz.read_bytes() == b"not an npz" and (root / "config.txt").is_file()
    assert step_state(root, "train")["status"] == "failed"
    assert not (root / "rl_model/final_model.zip").exists(), "later stages must not run"

"""``pidog-gaits sweep`` against a real Ray head started here with ``ray start --head``.

* ``--address IP:PORT`` joins a head that uses token authentication, with the token where
  Ray documents it (``~/.ray/auth_token``), and runs its 2 trials there;
* a wrong token or nobody at the address: one line ``error: ...`` and exit 2;
* without ``--address``, a head that died uncleanly (``kill -9``, its address still
  recorded in ``ray_current_cluster``) does not stop a fresh local Ray.

Each head lives in its own ``RAY_TMPDIR`` and ``HOME``, so neither the machine's recorded
cluster nor its token is touched, and every process it started is found (by that
``RAY_TMPDIR`` in its environment) and ended by pid afterwards; ``ray stop`` would end
every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
LIMIT_S = 600
"""Longest wait for any one event (a head up, a sweep done): a hang, not a busy machine."""
RAY_ENV = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
"""Settings of the caller's shell (or of an earlier embedded Ray in this process, which
sets ``RAY_AUTH_MODE``) that would change what is tested."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def ray_pids(tmpdir: Path) -> list[int]:
    """Processes whose environment carries this ``RAY_TMPDIR``: the ones started here."""
    marker = f"RAY_TMPDIR={tmpdir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
    return found


def end_processes(tmpdir: Path) -> None:
    """SIGTERM, then SIGKILL, every process this test's Ray started; waits until gone.

    Each wait signals again whatever is still there: on a busy machine a node process can
    still be forking its children when the first signal goes out."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        end = time.monotonic() + (10 if sig == signal.SIGTERM else LIMIT_S)
        while (pids := ray_pids(tmpdir)) and time.monotonic() < end:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(0.2)


def port_closes(port: int, timeout_s: float = LIMIT_S) -> bool:
    """True once nothing listens on ``port`` (a killed listener's socket may take a moment
    to go on a busy machine)."""
    end = time.monotonic() + timeout_s
    while listening(port):
        if time.monotonic() > end:
            return False
        time.sleep(0.2)
    return True


class Sandbox:
    """A ``RAY_TMPDIR`` and ``HOME`` of its own (short paths: Ray's sockets live there)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pgr", dir="/tmp"))
        self.home = self.root / "home"
        self.home.mkdir()
        self.tmpdir = self.root / "t"
        self.tmpdir.mkdir()
        self.recorded = self.tmpdir / "ray" / "ray_current_cluster"
        self.head: subprocess.Popen | None = None
        self.port = 0

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in RAY_ENV}
        env.update(HOME=str(self.home), RAY_TMPDIR=str(self.tmpdir), PYTHONPATH=str(REPO),
                   MUJOCO_GL="egl", RAY_USAGE_STATS_ENABLED="0")  # fmt: skip
        env.update(extra)
        return env

    def generate_token(self) -> Path:
        run = subprocess.run([RAY, "get-auth-token", "--generate"], env=self.env(),
                             capture_output=True, text=True, timeout=LIMIT_S)  # fmt: skip
        assert run.returncode == 0, run.stderr
        token = self.home / ".ray" / "auth_token"
        assert token.is_file()
        return token

    def start_head(self) -> int:
        """``ray start --head --port=PORT`` as the README says; returns once it listens."""
        self.port = free_port()
        log = open(self.root / "head.log", "w")  # noqa: SIM115 - the head outlives this call
        self.head = subprocess.Popen(
            [RAY, "start", "--head", f"--port={self.port}", "--block", "--num-cpus=2",
             "--include-dashboard=false"],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        end = time.monotonic() + LIMIT_S
        while not (self.recorded.is_file() and listening(self.port)):
            if self.head.poll() is not None or time.monotonic() > end:
                pytest.fail(f"ray start --head failed:\n{(self.root / 'head.log').read_text()}")
            time.sleep(0.2)
        return self.port

    def close(self) -> None:
        end_processes(self.tmpdir)
        if self.head is not None:
            self.head.wait(timeout=LIMIT_S)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def _sandbox():
    box = Sandbox()
    try:
        yield box
    finally:
        box.close()
        assert not ray_pids(box.tmpdir), "a Ray process outlived the test"


@pytest.fixture
def sandbox():
    with _sandbox() as box:
        yield box


@pytest.fixture(scope="module")
def token_head():
    """A head with token authentication, as the README sets one up."""
    with _sandbox() as box:
        box.generate_token()  # the head's machine: ray get-auth-token --generate
        port = box.start_head()
        assert "Token authentication is enabled" in (box.root / "head.log").read_text()
        yield box, port


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory) -> Path:
    """An imitation model for the trials' prior (the sweep would otherwise train one)."""
    from _deploy_models import save, untrained_imitation

    return save(untrained_imitation("mlp"), tmp_path_factory.mktemp("prior") / "mlp.pth")


def sweep(box: Sandbox, out: Path, prior: Path, *args: str, **env: str):
    """The tiniest real sweep (2 trials of one PPO rollout and one evaluation) as a user
    runs it."""
    argv = [sys.executable, "-m", "pidog_gaits.sweep", "--output", str(out), "--trials", "2",
            "--timesteps", "256", "--envs", "1", "--reports", "1", "--episode-steps", "50",
            "--eval-episodes", "1", "--vision", "none", "--quality", "fast",
            "--pretrained", str(prior), *args]  # fmt: skip
    return subprocess.run(argv, env=box.env(**env), capture_output=True, text=True,
                          cwd=box.root, timeout=LIMIT_S)  # fmt: skip


def two_trials_done(out: Path) -> None:
    figures = json.loads((out / "sweep.json").read_text())
    assert len(figures["trials"]) == 2
    assert {t["status"] for t in figures["trials"]} == {"done"}
    assert (out / "best_model" / "final_model.zip").is_file()


def one_error_line(run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2, run.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr[-3000:]
    return lines[0]


def test_sweep_joins_a_token_head_by_address(token_head, tiny_prior, tmp_path):
    """The driver finds the token in ~/.ray/auth_token (its HOME) with RAY_AUTH_MODE unset."""
    box, port = token_head
    run = sweep(box, tmp_path / "ok", tiny_prior, "--address", f"127.0.0.1:{port}")
    assert run.returncode == 0, run.stderr[-3000:]
    two_trials_done(tmp_path / "ok")


def test_wrong_token_is_one_line(token_head, tiny_prior, tmp_path):
    box, port = token_head
    run = sweep(box, tmp_path / "bad", tiny_prior, "--address", f"127.0.0.1:{port}",
                RAY_AUTH_TOKEN="0" * 32)  # fmt: skip
    line = one_error_line(run)
    assert f"127.0.0.1:{port}" in line and "token" in line
    assert not (tmp_path / "bad" / "sweep.json").exists()


def test_nobody_at_the_address_is_one_line(sandbox, tiny_prior, tmp_path):
    start = time.monotonic()
    run = sweep(sandbox, tmp_path / "none", tiny_prior, "--address", f"127.0.0.1:{free_port()}")
    line = one_error_line(run)
    assert "cannot reach the Ray head" in line
    assert time.monotonic() - start < LIMIT_S / 2  # no minutes of retries


def test_default_sweep_ignores_a_dead_recorded_head(sandbox, tiny_prior, tmp_path):
    port = sandbox.start_head()
    recorded = sandbox.recorded.read_text().strip()
    os.killpg(sandbox.head.pid, signal.SIGKILL)  # the head dies uncleanly
    sandbox.head.wait(timeout=LIMIT_S)
    end_processes(sandbox.tmpdir)  # every node process gone, the record stays
    assert sandbox.recorded.read_text().strip() == recorded
    assert port_closes(port)
    run = sweep(sandbox, tmp_path / "local", tiny_prior)
    assert run.returncode == 0, run.stderr[-3000:]
    two_trials_done(tmp_path / "local")

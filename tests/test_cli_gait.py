"""`pidog-gaits gait` and `view` as a user runs them."""

import json
import subprocess
import sys

import imageio.v2 as imageio


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "pidog_gaits.cli", *args], capture_output=True, text=True, env=env
    )


def test_gait_json_to_stdout_has_the_figures():
    proc = run_cli("gait", "trot_forward", "--seconds", "3", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["fell"] is False
    assert figures["distance_m"] > 0.3
    assert figures["realtime_factor"] > 1
    for key in ("lateral_m", "yaw_rad", "mean_height_m"):
        assert key in figures


def test_gait_writes_json_file_and_video(tmp_path):
    out, video = tmp_path / "trot.json", tmp_path / "trot.mp4"
    proc = run_cli(
        "gait", "walk_forward", "--seconds", "2", "--json", str(out), "--video", str(video)
    )
    assert proc.returncode == 0, proc.stderr
    assert "distance_m" in proc.stdout  # the human table
    assert json.loads(out.read_text())["gait"] == "walk_forward"
    frames = imageio.mimread(video, memtest=False)
    assert len(frames) >= 45  # 25 frames/s for 2 s
    assert frames[0].shape == (480, 640, 3)


def test_unknown_gait_is_one_line_and_exit_2():
    proc = run_cli("gait", "moonwalk")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown gait 'moonwalk'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_preset_is_one_line_and_exit_2():
    proc = run_cli("gait", "stand", "--quality", "ultra")
    assert proc.returncode == 2
    assert "unknown physics quality" in proc.stderr


def test_view_without_display_says_so(monkeypatch):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = run_cli("view", env=env)
    assert proc.returncode == 2
    assert "no display" in proc.stderr

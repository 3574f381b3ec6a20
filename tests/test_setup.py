"""The README's `make lab`: it starts JupyterLab as root too, and the course's JupyterLab defaults
(``jupyter/overrides.json``: no news popup, no update check) reach a real JupyterLab server."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_make_lab_installs_the_overrides_and_allows_root():
    if shutil.which("make") is None:
        pytest.skip("нет make")
    plan = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    lab_line = next(line for line in plan.splitlines() if "jupyter lab" in line)
    assert ("--allow-root" in lab_line) == (os.geteuid() == 0)
    assert "cp jupyter/overrides.json .venv/share/jupyter/lab/settings/overrides.json" in plan


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_overrides_switch_the_news_popup_off_in_a_real_server(tmp_path):
    """JupyterLab reads overrides.json from its application settings folder (``make lab`` puts it in
    the environment's); here a temp folder stands in for it."""
    app_settings = tmp_path / "app-settings"
    app_settings.mkdir()
    shutil.copy(ROOT / "jupyter" / "overrides.json", app_settings / "overrides.json")
    env = dict(os.environ)
    for var, sub in (("HOME", "home"), ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime")):
        (tmp_path / sub).mkdir()
        env[var] = str(tmp_path / sub)
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={tmp_path}", f"--LabApp.app_settings_dir={app_settings}",
           f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}", "--LabApp.news_url=None",
           "--LabApp.extension_manager=readonly"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    data = json.loads(resp.read())
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        props = data["schema"]["properties"]
        assert props["fetchNews"]["default"] == "false"
        assert props["checkForUpdates"]["default"] is False
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

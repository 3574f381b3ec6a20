"""The intro lecture in a real JupyterLab, driven by headless Chromium: run all cells, move the
step-size slider, check that the live figure changed and that the page logged no JavaScript error.

Setup (all in a temporary folder, nothing of the user's Jupyter configuration is read or written):
JupyterLab on 127.0.0.1 with a random token, HOME/JUPYTER_* pointing at temp dirs, user settings
that switch off notebook windowing (otherwise cells outside the viewport are never rendered) and
the news/update checks (their popup covers the notebook, and the machine is offline).

Console errors that are ignored (documented filter, :func:`_harmless`): failed loads of resources
on hosts other than the JupyterLab server itself — on an offline machine any stray external fetch
fails with ``net::ERR_…``; that says nothing about the course's code. Everything else counts.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "lectures" / "00-znakomstvo.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]

USER_SETTINGS = {
    # render every cell, not only those in the viewport (JupyterLab 4 "full" windowing virtualises)
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # no news / update popup (it covers the notebook and would try the network)
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    # the extension manager queries a package index on start: off
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings_dir: Path) -> None:
    for rel, value in USER_SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")


def _api(base: str, token: str, path: str, method: str = "GET", want_json: bool = False):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read()) if want_json else resp.status


def _wait_kernel_idle(base: str, token: str, timeout: float = 90) -> None:
    """Until the notebook's kernel session exists and reports ``idle`` (REST API of the server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = _api(base, token, "/api/sessions", want_json=True)
        states = [s["kernel"]["execution_state"] for s in sessions
                  if s.get("path", "").endswith(NOTEBOOK.name) and s.get("kernel")]
        if "idle" in states:
            return
        time.sleep(0.3)
    raise TimeoutError(f"ядро ноутбука не запустилось за {timeout:g} с")


def _start_lab(tmp: Path):
    """Start JupyterLab on a temp copy of the intro notebook; returns (process, base_url, token, log)."""
    root, settings = tmp / "root", tmp / "settings"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    _write_settings(settings)
    env = dict(os.environ)
    for var in ("OPTVIZ_STATIC", "PLOTLY_RENDERER", "JUPYTER_PATH", "JUPYTER_PREFER_ENV_PATH"):
        env.pop(var, None)
    for var, sub in (("HOME", "home"), ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        (tmp / sub).mkdir()
        env[var] = str(tmp / sub)
    port, token = _free_port(), secrets.token_hex(16)
    log = open(tmp / "jupyterlab.log", "w", encoding="utf-8")  # noqa: SIM115 - closed by the caller
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab завершился при запуске (код {proc.returncode})")
            try:
                if _api(base, token, "/api/status") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab не ответил за 60 с")
            time.sleep(0.3)
    except RuntimeError as err:
        _stop_lab(proc, base, token, log)
        tail = Path(log.name).read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{err}; конец журнала:\n{tail}") from None
    return proc, base, token, log


def _stop_lab(proc, base, token, log) -> None:
    try:
        if proc.poll() is None:
            try:
                _api(base, token, "/api/shutdown", method="POST")  # also shuts its kernels down
            except OSError:
                pass
            for sig, wait in ((None, 5), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
                if sig is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)  # the server's own process group (start_new_session)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
    finally:
        log.close()


def _harmless(msg_text: str, url: str) -> bool:
    """Console errors that are not about our code: failed loads from hosts other than the server."""
    host = urlparse(url).hostname if url else None
    return "Failed to load resource" in msg_text and host is not None and host not in LOCAL_HOSTS


FIGURE_STATE = """(gd) => ({
    title: (gd.querySelector('.gtitle') || {}).textContent || '',
    paths: Array.from(gd.querySelectorAll('.scatterlayer path.js-line')).map(p => p.getAttribute('d')),
})"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_intro_notebook_live_in_jupyterlab(tmp_path, browser_tools):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    t_start = time.monotonic()
    lab = _start_lab(tmp_path)
    errors: list[str] = []
    ignored: list[str] = []
    stage, page = "запуск браузера", None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(browser_tools), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})

                def on_console(msg):
                    if msg.type != "error":
                        return
                    url = (msg.location or {}).get("url", "")
                    (ignored if _harmless(msg.text, url) else errors).append(f"console: {msg.text} [{url}]")

                page.on("console", on_console)
                page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

                _, base, token, _ = lab
                stage = "открытие ноутбука"
                page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", wait_until="domcontentloaded")
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
                _wait_kernel_idle(base, token)

                stage = "Run → Run All Cells"
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator("li.lm-Menu-item[data-command='runmenu:run-all'],"
                             "li.lm-Menu-item[data-command='notebook:run-all-cells']").first.click()

                stage = "вывод ячеек (исследователь и анимация)"
                explorer = page.locator(".jp-OutputArea-output:has(.widget-slider)").first
                explorer.wait_for(timeout=90_000)
                figure = explorer.locator(".js-plotly-plot").first
                figure.wait_for(timeout=60_000)
                # all cells done before touching the slider: when a run ends JupyterLab moves the
                # focus back to the notebook, which would swallow the key presses
                page.wait_for_function("() => document.querySelectorAll('.jp-NotebookPanel .js-plotly-plot')"
                                       ".length >= 2", timeout=90_000)
                _wait_kernel_idle(base, token)
                page.wait_for_function(
                    "(gd) => gd.querySelectorAll('.scatterlayer path.js-line').length > 0 && "
                    "(gd.querySelector('.gtitle') || {}).textContent", arg=figure.element_handle(), timeout=60_000)
                before = figure.evaluate(FIGURE_STATE)
                readout = explorer.locator(".widget-readout").first
                readout_before = readout.inner_text()
                assert "GD (η = 0.1)" in before["title"], before  # method_explorer: η = 1/L at start

                # move the slider: focus its handle and press → a few times (one slider step each)
                stage = "движение ползунка"
                handle = explorer.locator(".widget-slider .noUi-handle").first
                handle.scroll_into_view_if_needed()
                handle.focus()
                assert handle.evaluate("(h) => document.activeElement === h"), "ручка ползунка не в фокусе"
                for _ in range(6):
                    page.keyboard.press("ArrowRight")
                stage = "перерисовка графика после движения ползунка"
                page.wait_for_function(
                    "([gd, title]) => ((gd.querySelector('.gtitle') || {}).textContent || '') !== title",
                    arg=[figure.element_handle(), before["title"]], timeout=30_000)
                # the kernel may still be working through the key presses: wait until the figure settles
                after, stable_since = figure.evaluate(FIGURE_STATE), time.monotonic()
                while time.monotonic() - stable_since < 1.5:
                    page.wait_for_timeout(250)
                    now = figure.evaluate(FIGURE_STATE)
                    if now != after:
                        after, stable_since = now, time.monotonic()
                readout_after = readout.inner_text()
                _wait_kernel_idle(base, token)
                page.screenshot(path=str(ARTIFACTS / "jupyterlab-00-znakomstvo.png"))
                n_plots = page.locator(".jp-NotebookPanel .js-plotly-plot").count()
                error_outputs = page.locator(".jp-NotebookPanel [data-mime-type='application/vnd.jupyter.stderr']")
                stderr_texts = error_outputs.all_inner_texts()
            except Exception as exc:
                if page is not None:
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(ARTIFACTS / "jupyterlab-failure.png"))
                raise AssertionError(f"браузерный тест упал на этапе «{stage}»: {exc}\n"
                                     f"снимок: test-artifacts/jupyterlab-failure.png") from exc
            finally:
                browser.close()
    finally:
        _stop_lab(*lab)
        shutil.copy(lab[3].name, ARTIFACTS / "jupyterlab.log")

    elapsed = time.monotonic() - t_start
    (ARTIFACTS / "jupyterlab-console.txt").write_text(
        f"{elapsed:.1f} s\nerrors:\n" + "\n".join(errors) + "\nignored (external hosts):\n" + "\n".join(ignored) + "\n",
        encoding="utf-8")
    assert readout_after != readout_before, (readout_before, readout_after)
    assert after["title"] != before["title"], "заголовок графика не изменился после движения ползунка"
    assert after["paths"] != before["paths"], "траектория на графике не изменилась после движения ползунка"
    assert n_plots >= 2, f"ожидались живой график и анимация, нашлось графиков: {n_plots}"
    assert not stderr_texts, f"в ноутбуке появились ошибки/предупреждения: {stderr_texts}"
    assert not errors, "ошибки JavaScript на странице:\n" + "\n".join(errors)
    assert elapsed < 180, f"тест шёл {elapsed:.0f} с"

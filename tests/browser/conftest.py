"""Real-browser tests (JupyterLab in headless Chromium via Playwright).

They need ``/usr/bin/chromium`` (Debian's ``chromium`` package; ``OPTVIZ_CHROMIUM`` overrides the
path) and the ``playwright`` Python package (the ``browser`` extra; ``playwright install`` is never
run: the system Chromium is used). Without them the tests are skipped with the reason — except
when ``OPTVIZ_REQUIRE_BROWSER=1`` (set by ``.ci/run``), where a missing browser is a failure.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("OPTVIZ_CHROMIUM", "/usr/bin/chromium"))


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: needs headless Chromium + playwright (skipped without them)")


def missing_browser_tools() -> list[str]:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    for mod, extra in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        if importlib.util.find_spec(mod) is None:
            missing.append(f"Python-пакет {extra} (pip install -e '.[browser]')")
    return missing


@pytest.fixture
def browser_tools():
    """Skip (or fail under ``OPTVIZ_REQUIRE_BROWSER=1``) when Chromium/playwright/jupyterlab are missing."""
    missing = missing_browser_tools()
    if missing:
        msg = "нет инструментов для браузерного теста: " + ", ".join(missing)
        if os.environ.get("OPTVIZ_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(msg + " (OPTVIZ_REQUIRE_BROWSER=1: в CI браузерный тест обязателен)")
        pytest.skip(msg)
    return CHROMIUM

"""Helpers for the browser end-to-end test: the real Streamlit server, Debian's Chromium, and the few
ways of reading a Streamlit page that survive its reruns."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_S = 90
VIEWPORT = {"width": 1400, "height": 1000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StreamlitServer:
    """`streamlit run app.py` in its own process group, with a private workspace and no network."""
    home: Path
    torch_home: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "RESNET_PILOT_HOME": str(self.home), "TORCH_HOME": str(self.torch_home),
               "RESNET_PILOT_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false"]
        with open(self.log_path, "wb") as log:
            # A new session makes the server a process-group leader, so stop() reaches its children too.
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.wait_healthy()

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the Streamlit server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"the Streamlit server was not healthy after {SERVER_START_S} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue

    def log(self, tail_chars: int = 20_000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail_chars:]
        except OSError as e:
            return f"(no server log: {e})"


@contextlib.contextmanager
def running_server(tmp_path: Path, home: Path | None = None, log_name: str = "streamlit.log"
                   ) -> Iterator[StreamlitServer]:
    """A started server with an empty TORCH_HOME under tmp_path (no ImageNet weights found or fetched),
    its workspace `home` (default tmp_path/workspace); stopped on the way out, whatever happened."""
    torch_home = tmp_path / "torch_home"
    torch_home.mkdir(exist_ok=True)
    server = StreamlitServer(home=home or tmp_path / "workspace", torch_home=torch_home,
                             log_path=tmp_path / log_name)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def new_page(browser, load_s: float, viewport: dict | None = None, **context_options):
    """A page in a fresh browser context (VIEWPORT unless told), where every wait (Playwright's and
    expect's) lasts up to load_s: a page's first script run imports torch on busy cores."""
    from playwright.sync_api import expect
    expect.set_options(timeout=load_s * 1000)
    context = browser.new_context(viewport=viewport or VIEWPORT, **context_options)
    context.set_default_timeout(load_s * 1000)
    return context.new_page()


def record_outside_requests(page_or_context, server_url: str) -> list[str]:
    """A list that fills with every request the page (or every page of a context) sends anywhere but
    the server itself: the tool promises to stay on localhost, so a test asserts the list stays empty."""
    server = urlparse(server_url)
    outside: list[str] = []

    def note(request) -> None:
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and (url.hostname, url.port) != (server.hostname, server.port):
            outside.append(request.url)

    page_or_context.on("request", note)
    return outside


def require_browser():
    """sync_playwright, or a failure (not a skip) that says what to install: CI must run this test."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - depends on the machine
        pytest.fail("Playwright is missing: pip install -r requirements-dev.txt", pytrace=False)
    if not CHROMIUM.is_file():  # pragma: no cover - depends on the machine
        pytest.fail(f"{CHROMIUM} is missing: install chromium: apt-get install -y chromium", pytrace=False)
    return sync_playwright


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


class Shots:
    """Full-page screenshots numbered in the order the user sees the pages: 01-home.png, 02-data.png…"""

    def __init__(self, folder: Path = SCREENSHOTS):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in [*self.folder.glob("*.png"), *self.folder.glob("*.log")]:
            old.unlink()
        self.count = 0

    def take(self, page, name: str, idle: bool = True) -> Path:
        """idle=False catches a moment (a live chart) instead of waiting for the script run to end."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        if idle:
            wait_until_idle(page)
        full_page_screenshot(page, path)
        return path


@contextlib.contextmanager
def report_failure(server: StreamlitServer, page_getter) -> Iterator[None]:
    """On failure: a screenshot of the browser and the server log in the test's output."""
    try:
        yield
    except BaseException:
        page = page_getter()
        if page is not None:
            with contextlib.suppress(Exception):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "99-failure.png"), full_page=True)
        log = server.log()
        with contextlib.suppress(OSError):
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            (SCREENSHOTS / "server.log").write_text(log)
        print(f"----- Streamlit server log (also in {SCREENSHOTS / 'server.log'}) -----\n{log}")
        raise


def full_page_screenshot(page, path: Path, max_height: int = 8000) -> None:
    """Streamlit scrolls inside stMain, not the document, so Playwright's full_page sees one screen:
    grow the window to the content's height for the shot, then put it back."""
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 0")
    if height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height, max_height)})
        page.wait_for_timeout(500)  # charts re-layout to the new size
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)


# ----- reading a Streamlit page -------------------------------------------------------------------

def wait_until_idle(page, timeout_s: float = 60) -> None:
    """Wait until the script run has finished (stApp's data-test-script-state says so)."""
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
                && app.getAttribute('data-test-connection-state') === 'CONNECTED';
        }""",
        timeout=timeout_s * 1000)
    page.wait_for_timeout(300)  # let the last delta paint


def keyed(page, key: str):
    """The element container of the widget with this key (Streamlit adds the class st-key-<key>),
    leaving out a stale copy that a rerun has not yet replaced."""
    return page.locator(f".st-key-{key}:not([data-stale='true'])")


def set_number(page, key: str, value: int | float) -> None:
    """Type into a number input as a person does: select, type, Enter (which commits the value)."""
    field = keyed(page, key).locator("input")
    field.click()
    field.press("ControlOrMeta+a")
    field.press_sequentially(str(value))
    field.press("Enter")
    wait_until_idle(page)


def chart_points(page, key: str) -> int:
    """How many data markers a Plotly chart draws (0 while it is not on the page). A chart marked
    stale by a running rerun still shows its points, so it counts too."""
    return page.locator(f".st-key-{key}").first.locator(".scatterlayer .point").count()


def wait_for_chart_points(page, key: str, more_than: int, timeout_s: float = 30) -> int:
    """The chart's point count once it exceeds `more_than`, or the last count seen after the timeout.
    The rerun that follows a finished run redraws the chart, which briefly has no points."""
    deadline = time.monotonic() + timeout_s
    points = chart_points(page, key)
    while points <= more_than and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        points = chart_points(page, key)
    return points

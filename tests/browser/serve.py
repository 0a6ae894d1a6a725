"""Find Chromium (never download one), serve a notebook with Voilà on a free local port, open a page."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """Debian's /usr/bin/chromium (or NBMIGRATE_CHROMIUM); Playwright's own downloads are never used."""
    for candidate in (
        os.environ.get("NBMIGRATE_CHROMIUM"),
        "/usr/bin/chromium",
        "chromium",
        "chromium-browser",
    ):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


def require_chromium() -> str:
    """The Chromium to drive; skip with the reason when there is none, except in CI, which fails."""
    problem = None
    chromium = find_chromium()
    if chromium is None:
        problem = "no Chromium found at /usr/bin/chromium (apt-get install chromium; .ci/run does it)"
    for module, package in (("playwright.sync_api", "playwright"), ("voila", "voila")):
        try:
            __import__(module)
        except ImportError:
            problem = f"the {package} package is not installed (pip install -e '.[dev]')"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true, so the browser tests must run, but {problem}")
        pytest.skip(problem)
    assert chromium is not None
    return chromium


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def voila(notebook: Path, env: dict[str, str]) -> Iterator[Server]:
    """Serve `notebook` with Voilà on 127.0.0.1 (no auth; only this machine can reach it).

    Returns at once so the browser can start meanwhile; `server.wait_ready()` before the
    first request. The server (and with it its kernels) is stopped on the way out.
    """
    port = free_port()
    log_path = notebook.with_suffix(".voila.log")
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                notebook.name,
                "--no-browser",
                f"--port={port}",
                "--Voila.ip=127.0.0.1",
                "--show_tracebacks=True",
            ],
            cwd=notebook.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Server(process, port, log_path)
    finally:
        stop(process)


class Server:
    """A running Voilà: its URL, and its log for messages when it fails."""

    def __init__(self, process: subprocess.Popen[Any], port: int, log_path: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}/"
        self.port = port
        self.log_path = log_path

    def wait_ready(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"voila exited with {self.process.returncode}:\n{self.log_path.read_text()}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self.url
            except OSError:
                if time.monotonic() > deadline:
                    log = self.log_path.read_text()
                    raise RuntimeError(f"voila did not listen within {timeout}s:\n{log}") from None
                time.sleep(0.2)


def stop(server: subprocess.Popen[Any]) -> None:
    """SIGTERM (Voilà shuts its kernels down), then SIGKILL to its process group if it lingers."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)


@contextmanager
def page(chromium: str, profile: Path, width: int = 1200, height: int = 800) -> Iterator[Any]:
    """A page in headless Chromium with a fresh profile; requests beyond 127.0.0.1 are refused."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        context.route("**/*", _local_only)
        try:
            yield context.new_page()
        finally:
            context.close()


def _local_only(route: Any) -> None:
    if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()

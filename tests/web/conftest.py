"""The web tests: a real server (``dkist-processing serve``) on a free loopback port over a
store filled by :mod:`.scenario`, driven by a real headless Chromium (Debian's package).

The scenario takes a few minutes (it runs and publishes the demo's VBI observation), so it
is built once per session and the tests are marked slow. Chromium is found at
``/usr/bin/chromium`` (or ``$CHROMIUM``); without it the tests skip, except under CI
(environment variable ``CI`` set), where they fail: ``.ci/ensure-services`` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .scenario import build

CLI = str(Path(sys.executable).parent / "dkist-processing")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORDS = {
    "olga": "operator-password-1",
    "carl": "curator-password-1",
    "rita": "reader-password-1",
}
ROLES = {"olga": ["operator"], "carl": ["curator"], "rita": []}


def chromium_path() -> str | None:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return found if found and Path(found).is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(workdir: Path, *words: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *words, "--workdir", str(workdir)],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "DKIST_PROCESSING_DATABASE_URL"},
    )


@pytest.fixture(scope="session")
def scenario(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("web") / "work"
    cache = os.environ.get("DKIST_WEB_SCENARIO_CACHE")  # a folder to build once and copy (dev)
    scenario = _cached(Path(cache), workdir) if cache else build(workdir)
    for name, password in PASSWORDS.items():
        roles = [w for r in ROLES[name] for w in ("--role", r)]
        cli(workdir, "users", "add", name, *roles, "--password-stdin", stdin=password + "\n")
    return scenario


def _cached(cache: Path, workdir: Path):
    import dataclasses
    import json

    from .scenario import Scenario

    done = cache / "scenario.json"
    if not done.is_file():
        shutil.rmtree(cache, ignore_errors=True)
        built = build(cache / "work")
        fields = {k: str(v) for k, v in dataclasses.asdict(built).items()}
        done.write_text(json.dumps(fields))
    shutil.copytree(cache / "work", workdir)
    fields = json.loads(done.read_text())
    old = fields["workdir"]
    # The store's run configurations name the cache's calibration file: keep that one.
    values = {k: v.replace(old, str(workdir)) if k == "workdir" else v for k, v in fields.items()}
    for name in ("failed_run_id", "failed_ticket_id", "manual_ticket_id"):
        values[name] = int(values[name])
    values["workdir"] = Path(values["workdir"])
    values["calibration_file"] = Path(values["calibration_file"])
    return Scenario(**values)


class Server:
    def __init__(self, workdir: Path, port: int, log: Path, *options: str):
        self.workdir = workdir
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.process = subprocess.Popen(
            [CLI, "serve", "--workdir", str(workdir), "--port", str(port), *options],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "DKIST_PROCESSING_DATABASE_URL"},
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(self.url + "/static/style.css", timeout=5):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the server did not start:\n{log.read_text()}") from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text()


@pytest.fixture(scope="session")
def server(scenario, tmp_path_factory):
    server = Server(
        scenario.workdir, free_port(), tmp_path_factory.mktemp("server-log") / "server.log"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    executable = chromium_path()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed under CI (.ci/ensure-services installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page for each test."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, server: Server, name: str, *, next_path: str = "/") -> None:
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("form.card button[type=submit]")
    page.wait_for_load_state()

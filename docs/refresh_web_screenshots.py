"""Take the operator's guide's screenshots of the status pages from a real run.

    python docs/refresh_web_screenshots.py [--workdir DIR]

Builds the web tests' scenario (the demo's VBI observation processed and published,
a reprocessed dataset, a failed run with its ticket, a manual recipe, a candidate
waiting for frames) with the real library, adds a run whose publication failed (the
archive's staging folder blocked by a file, then freed), serves it with
``dkist-processing serve`` on a free loopback port, and photographs the pages with
Debian's headless Chromium into ``docs/guides/web/``. Run it after the pages change (a
few minutes).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "guides" / "web"
CLI = str(Path(sys.executable).parent / "dkist-processing")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep the scenario here (default: temporary)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.web.scenario import add_publishable_candidate, build

    with tempfile.TemporaryDirectory() as tmp:
        workdir = (args.workdir or Path(tmp) / "work").resolve()
        scenario = build(workdir)
        # A run whose publication fails: a file stands where the staging folder goes.
        staging = workdir / "archive" / ".staging"
        if staging.is_dir():
            staging.rmdir()
        staging.write_text("in the way\n")
        publish_run_id = add_publishable_candidate(workdir, "obs_publish")
        staging.unlink()  # freed: the ticket's Publish again button would now succeed
        env = {k: v for k, v in os.environ.items() if k != "DKIST_PROCESSING_DATABASE_URL"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        password = "screenshot-password"
        subprocess.run(
            [CLI, "users", "add", "olga", "--role", "operator", "--role", "curator",
             "--password-stdin", "--workdir", str(workdir)],
            input=password + "\n", text=True, check=True, env=env, capture_output=True,
        )  # fmt: skip
        link = subprocess.run(
            [CLI, "users", "pi-link", "pid_2_114", "--workdir", str(workdir)],
            text=True, check=True, env=env, capture_output=True,
        ).stdout.strip()  # fmt: skip
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [CLI, "serve", "--workdir", str(workdir), "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(url + "/api/overview", timeout=5).close()
                    break
                except OSError:
                    time.sleep(0.2)
            shoot(url, scenario, link, password, publish_run_id)
        finally:
            server.terminate()
            server.wait(timeout=30)


def shoot(url: str, scenario, link: str, password: str, publish_run_id: int) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    pages = [
        ("overview", "/"),
        ("candidates", "/candidates"),
        ("run-failed", f"/runs/{scenario.failed_run_id}"),
        ("version", f"/versions/{scenario.vbi_version}"),
        ("reprocessing", "/reprocessing"),
        ("pi", link),
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        for name, path in pages:
            page.goto(url + path)
            if name == "version":
                page.wait_for_function("document.getElementById('browse-movie').readyState >= 1")
            page.screenshot(path=OUT / f"{name}.png", full_page=name != "run-failed")
            print(f"docs/guides/web/{name}.png: {path if name != 'pi' else '/pi/<link>'}")
        page.goto(f"{url}/login?next=/tickets/{scenario.failed_ticket_id}")
        page.fill("input[name=name]", "olga")
        page.fill("input[name=password]", password)
        page.click("form.card button[type=submit]")
        page.wait_for_load_state()
        page.fill("#retry-form input[name=note]", "calibration file restored")
        page.screenshot(path=OUT / "ticket.png", full_page=True)
        print("docs/guides/web/ticket.png: a ticket, signed in as an operator")
        (ticket,) = [
            t
            for t in page.request.get(url + "/api/tickets").json()
            if t["recipe_run_id"] == publish_run_id
        ]
        page.goto(f"{url}/tickets/{ticket['ticket_id']}")
        page.fill("#retry-form input[name=note]", "staging folder freed")
        page.screenshot(path=OUT / "ticket-publication.png", full_page=True)
        print("docs/guides/web/ticket-publication.png: a failed publication's ticket")
        browser.close()


if __name__ == "__main__":
    main()

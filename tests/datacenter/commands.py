"""Running ``dkist-processing`` as an operator does: each command its own process.

Shared by the tests that drive the data center only through the command line
(``test_cli_operations``, ``test_operators_day``), and the SMTP recorder their
mail servers (real aiosmtpd on loopback, the ``smtp`` fixture) deliver to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

SCRIPT = Path(sys.executable).parent / "dkist-processing"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "dkist_processing_core.cli"]
REPOSITORY = Path(__file__).resolve().parents[2]


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any ``DKIST_PROCESSING_*`` setting (no SMTP server,
    no work folder, no Dask), the repository on ``PYTHONPATH``, wide tables, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DKIST_PROCESSING_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["COLUMNS"] = "250"
    env.update(extra)
    return env


def wait_for(condition, what: str, process: subprocess.Popen | None = None, limit: float = 180):
    """Poll ``condition`` until true; fail naming ``what`` if ``process`` ends first or time runs
    out."""
    deadline = time.monotonic() + limit
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process ended first ({process.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit} s")
        time.sleep(0.1)


class Recorder:
    """An aiosmtpd handler that keeps every message it accepts (or answers ``reply``)."""

    def __init__(self, reply: str = "250 Message accepted for delivery"):
        self.reply, self.messages, self.lock = reply, [], threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(envelope)
        return self.reply

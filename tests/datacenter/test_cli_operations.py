"""Operations from the command line, each command its own process as an operator runs it.

A ``cron`` pass is killed (SIGKILL) while its run waits inside a task; a later pass,
once the run's short lease expired, fails it as interrupted with a ticket naming the
task and frees its slot; ``tickets show`` prints the whole error, the per-task
status and where the logs are; ``runs requeue`` and another pass complete the run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from sqlalchemy import select

from dkist_processing_core.datacenter.operations import tickets
from dkist_processing_core.datacenter.planning import recipes
from dkist_processing_core.datacenter.store import open_store
from dkist_processing_core.datacenter.store.models import RecipeInstance, RecipeRun

from .commands import COMMAND, environment, wait_for
from .scenario import announce, deliver, set_up_recipe


def test_a_killed_cron_pass_is_noticed_ticketed_and_requeued(tmp_path, clock):
    work = tmp_path / "work"
    started, release = tmp_path / "started", tmp_path / "release"
    store = open_store(None, work)
    set_up_recipe(store, clock, slots=1)
    with store.session() as s:
        recipes.create_workflow_specification(
            s, "testinst", "wait", "1.0", import_path="tests.datacenter.workflows:WAIT"
        )
        recipes.create_recipe(
            s,
            "wait",
            "testinst",
            "wait",
            "1.0",
            default_configuration={"started": str(started), "release": str(release)},
            clock=clock,
        )
    for op in ("obs_1", "obs_2"):
        announce(store, clock, op, {op: 1}, recipe="wait")
        deliver(store, clock, op, [0])
    env = environment(DKIST_PROCESSING_LEASE_SECONDS="2")

    def cli(*args: str, code: int = 0) -> str:
        done = subprocess.run(
            [*COMMAND, *args, "--workdir", str(work)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout + done.stderr

    def runs() -> dict[int, tuple[str, str | None]]:
        with store.session() as s:
            return {
                r.id: (r.status, r.failed_task)
                for r in s.scalars(select(RecipeRun).join(RecipeInstance).order_by(RecipeRun.id))
            }

    cron = subprocess.Popen(
        [*COMMAND, "cron", "--workdir", str(work)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(started.exists, "the run's task starting", cron)
        os.kill(cron.pid, signal.SIGKILL)
    finally:
        cron.wait()
    first, second = sorted(runs())
    assert runs() == {first: ("running", None), second: ("created", None)}

    release.write_text("go")  # whatever runs next may finish
    # Later passes: once the dead pass's lease expired, one fails the run and frees the slot.
    for _ in range(200):
        out = cli("cron")
        if runs()[first][0] != "running":
            break
        time.sleep(0.2)
    assert runs()[first] == ("failed", "WaitForRelease"), out
    assert runs()[second][0] == "succeeded"  # it had the freed slot in the same pass
    with store.session() as s:
        ticket = tickets.ticket_for_run(s, first)
        assert (ticket.status, ticket.failed_task) == ("open", "WaitForRelease")
        assert "interrupted" in ticket.error and len(ticket.error) > 80

    shown = " ".join(cli("tickets", "show", str(ticket.id)).split())
    assert "WaitForRelease" in shown and "interrupted" in shown
    assert " ".join(ticket.error.split()) in shown  # the whole error, not cut
    assert re.search(r"Prepare\W+succeeded\W+1\W+\d+\.\d\d", shown)  # status, durations
    assert f"scratch: {work / 'scratch' / f'recipe_run_{first}'}" in shown
    assert "journal:" in shown

    cli("runs", "requeue", str(first), "--operator", "op", "--note", "after the kill")
    cli("runs", "requeue", str(first), "--operator", "op", code=1)  # not failed any more
    cli("cron")
    assert runs()[first][0] == "succeeded"
    shown = " ".join(cli("runs", "show", str(first)).split())
    assert "succeeded" in shown and "Prepare" in shown and "WaitForRelease" in shown
    refused = cli("runs", "cancel", str(first), "--operator", "op", code=1)
    assert "error:" in refused and "only a waiting" in refused
    store.dispose()

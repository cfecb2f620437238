"""The `dkist-processing` command: a thin layer over library calls.

Every command calls one library function that a notebook can call too. The
commands live in one module per noun (``recipes``, ``candidates``, ``runs``,
``tickets``, ``datasets``, ``reprocess``, ``status``, ``cron``, ``workflows``,
``run``, ``demo``, ...); every failure goes through the one error path of
:mod:`.errors` (``error:`` lines; ``--debug`` for the traceback).
"""

from __future__ import annotations

from enum import StrEnum

import typer

from . import (
    candidates,
    cron,
    datasets,
    db,
    demo,
    outbox,
    publish,
    readiness,
    recipes,
    reprocess,
    run,
    runs,
    serve,
    status,
    tickets,
    workflows,
)
from .common import CommandGroup
from .errors import DEBUG_ENV, DEBUG_KEY, MainGroup


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def versions() -> list[str]:
    """``dkist-processing-core VERSION`` and one line per installed instrument package."""
    from .. import __version__
    from ..framework import instruments

    lines = [f"dkist-processing-core {__version__}"]
    for inst in sorted(instruments().values(), key=lambda i: i.name):
        package = f" ({inst.package})" if inst.package else ""
        lines.append(f"  instrument {inst.name} {inst.version}{package}")
    return lines


def _print_version(value: bool) -> None:
    if value:
        typer.echo("\n".join(versions()))
        raise typer.Exit()


app = CommandGroup(
    name="dkist-processing",
    help="Calibrate DKIST frames into Level 1 data and run the data center around it.",
    cls=MainGroup,
)


@app.callback()
def main(
    ctx: typer.Context,
    log_level: LogLevel = typer.Option(
        LogLevel.INFO, "--log-level", case_sensitive=False, help="DEBUG, INFO, WARNING or ERROR."
    ),
    debug: bool = typer.Option(
        False, "--debug", envvar=DEBUG_ENV, help="On failure, show the traceback too."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and the instrument packages found, and exit.",
    ),
) -> None:
    from .terminal import set_up_terminal

    ctx.meta[DEBUG_KEY] = debug
    set_up_terminal(log_level.value)


DATACENTER_GROUPS = {
    "db": db.app,
    "recipes": recipes.app,
    "candidates": candidates.app,
    "readiness": readiness.app,
    "runs": runs.app,
    "tickets": tickets.app,
    "datasets": datasets.app,
    "reprocess": reprocess.app,
    "outbox": outbox.app,
}


def register_datacenter(target: typer.Typer) -> None:
    """Add the data-center command groups and the ``status`` and ``cron`` commands to ``target``."""
    from .errors import Command

    for name, group in DATACENTER_GROUPS.items():
        target.add_typer(group, name=name)
    target.command("status", cls=Command)(status.status)
    target.command("cron", cls=Command)(cron.cron)
    target.command("publish", cls=Command)(publish.publish)


app.command("demo")(demo.demo)
app.command("run")(run.run_spec)
app.add_typer(workflows.app, name="workflows")
register_datacenter(app)
serve.register(app)


if __name__ == "__main__":
    app()

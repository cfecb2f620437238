"""The CLI's one error path: expected failures become ``error:`` lines, never tracebacks.

Every command of ``dkist-processing`` is a :class:`Command`, whose ``invoke``
sends any exception through :func:`fail`; the top-level group (:class:`MainGroup`)
prints usage errors (unknown commands, missing or ill-typed options) in the same
style. No command catches an exception for itself.

Expected failures, printed as a few lines starting with ``error:``, naming the
file, value or name and what to do:

- the library's own exceptions (any exception class defined in
  ``dkist_processing_core`` or an instrument package ``dkist_processing_*``:
  ``RecipeError``, ``WorkflowNotFound``, ``WorkflowValidationError``,
  ``TaskFailed``, ``StoreMissing``, ...);
- ``pydantic.ValidationError`` (one line per invalid field), ``json.JSONDecodeError``,
  ``UnicodeDecodeError`` (a binary file where text was expected);
- the store's driver errors (``sqlalchemy.exc.ArgumentError``, ``DBAPIError``:
  ``OperationalError``, ``DatabaseError``), with any password masked;
- missing or unreadable files (``FileNotFoundError``, ``PermissionError``, ...).

Exit codes: :data:`USAGE_ERROR` (2) when the command line or the configuration
is wrong (unknown command, missing or ill-typed option, an option value that is
not JSON, the database URL, the SMTP setting, a folder or database without a
store): fix the command and run it again. :data:`FAILURE` (1) when the command
ran and failed: an input file that is malformed or invalid, an unknown name, a
rule of the library, a workflow definition error, a store that cannot be reached
or is corrupt, a failed task, anything unexpected.

Anything else is unexpected: one line ``error: unexpected <type>: <message>``
and where the full traceback was written (a file under ``--workdir/logs``, or
the temporary folder). ``--debug`` (or ``DKIST_PROCESSING_DEBUG=1``) prints the
traceback on stderr before the ``error:`` line, for every failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

FAILURE = 1
USAGE_ERROR = 2
DEBUG_ENV = "DKIST_PROCESSING_DEBUG"
DEBUG_KEY = "dkist_processing.debug"
LIBRARY_PACKAGES = ("dkist_processing_core", "dkist_processing_")
# Library errors that say the configuration is wrong (exit code 2), by name: the CLI does not
# import a module only to recognise its exception (an exception raised was imported already).
CONFIGURATION_ERRORS = (
    "dkist_processing_core.datacenter.store.database.StoreConfigurationError",
    "dkist_processing_core.datacenter.store.database.StoreMissing",
    "dkist_processing_core.datacenter.operations.periodic.SmtpSettingError",
)
_SUBJECT = "_dkist_processing_subject"


@contextlib.contextmanager
def about(subject: str) -> Iterator[None]:
    """Name what an error inside the block is about (e.g. ``run spec spec.json``) in its message."""
    try:
        yield
    except Exception as error:
        if not hasattr(error, _SUBJECT):
            setattr(error, _SUBJECT, subject)
        raise


def debugging(ctx: typer.Context | None = None) -> bool:
    """Whether ``--debug`` was given or ``DKIST_PROCESSING_DEBUG`` is set to a true value."""
    if ctx is not None and ctx.meta.get(DEBUG_KEY):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def explain(error: BaseException) -> tuple[list[str], int] | None:
    """The message lines and exit code of an expected failure; None for an unexpected one."""
    subject = getattr(error, _SUBJECT, None)
    name = type(error).__name__
    import pydantic
    from sqlalchemy import exc as sql

    if name == "StoreMissing" and _from_library(type(error)):
        if error.url.startswith("sqlite"):
            hint = f"dkist-processing db upgrade --workdir {error.location}"
        else:
            hint = f"dkist-processing db upgrade --database-url {error.url}"
        return [f"{error}; create one with: {hint}"], USAGE_ERROR
    if _qualified_names(type(error)) & set(CONFIGURATION_ERRORS):
        return _lines(str(error)), USAGE_ERROR
    if isinstance(error, pydantic.ValidationError):
        return _validation_lines(error, subject), FAILURE
    if _from_library(type(error)):
        lines = _lines(str(error) or name)
        return ([f"{subject}: {lines[0]}", *lines[1:]] if subject else lines), FAILURE
    if isinstance(error, json.JSONDecodeError):
        where = f"{subject}: " if subject else ""
        return [
            f"{where}not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ], FAILURE
    if isinstance(error, UnicodeDecodeError):
        where = f"{subject}: " if subject else ""
        return [f"{where}not UTF-8 text ({error.reason} at byte {error.start})"], FAILURE
    if isinstance(error, sql.ArgumentError):
        return [
            f"database URL: {_first_line(str(error))}; expected sqlite:///PATH or "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ], USAGE_ERROR
    if isinstance(error, sql.DBAPIError):
        reason = _first_line(str(error.orig) if error.orig is not None else str(error))
        return [f"metadata store: {reason} ({name})"], FAILURE
    if isinstance(error, sql.SQLAlchemyError):
        return [f"metadata store: {_first_line(str(error))} ({name})"], FAILURE
    if isinstance(
        error, FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError
    ):
        what = f"{subject}: " if subject else ""
        return [f"{what}{error.strerror or name}: {error.filename}"], FAILURE
    return None


def fail(error: Exception, ctx: typer.Context | None = None) -> typer.Exit:
    """Print ``error`` as ``error:`` lines (and the traceback with ``--debug``); the Exit to raise."""
    secrets = _secrets(ctx)
    explained = explain(error)
    debug = debugging(ctx)
    if debug:
        text = "".join(traceback.format_exception(error))
        typer.echo(_mask(text, secrets), err=True, nl=False)
    if explained is None:
        message = _first_line(str(error))
        lines = [f"unexpected {type(error).__name__}" + (f": {message}" if message else "")]
        if debug:
            lines.append("the traceback is above")
        else:
            log = _write_traceback(error, ctx, secrets)
            lines.append(f"the full traceback is in {log} (run with --debug to see it here)")
        code = FAILURE
    else:
        lines, code = explained
    echo_error(lines, secrets)
    return typer.Exit(code)


def echo_error(lines: list[str], secrets: tuple[str, ...] = ()) -> None:
    """Print ``error: <first line>`` and the following lines, indented, on stderr."""
    first, *rest = [_mask(line, secrets) for line in lines]
    typer.echo(f"{typer.style('error:', fg='red', bold=True)} {first}", err=True)
    for line in rest:
        typer.echo(line if line.startswith("  ") else f"  {line}", err=True)


class Command(TyperCommand):
    """A command whose every exception goes through :func:`fail`."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # usage errors: see MainGroup
            raise
        except Exception as error:
            raise fail(error, ctx) from None


class MainGroup(TyperGroup):
    """The top-level group: prints usage errors as ``error:`` lines too (exit code 2)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            raise fail(error, ctx) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # the help is already printed
                sys.exit(error.exit_code)
            usage_error(error)
            sys.exit(error.exit_code)
        except typer.Abort:
            echo_error(["aborted"])
            sys.exit(FAILURE)
        sys.exit(result if isinstance(result, int) else 0)


def usage_error(error: typer.TyperException) -> None:
    """``error: <what is wrong>`` and the command's usage line."""
    lines = [error.format_message()]
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        usage = " ".join(ctx.get_usage().removeprefix("Usage: ").split())
        lines.append(f"usage: {usage} (see {ctx.command_path} --help)")
    echo_error(lines, _secrets(ctx))


# --- helpers ------------------------------------------------------------------------------------


def _qualified_names(cls: type) -> set[str]:
    return {f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__}


def _from_library(cls: type) -> bool:
    return any(c.__module__.startswith(LIBRARY_PACKAGES) for c in cls.__mro__)


def _lines(text: str) -> list[str]:
    return [line for line in text.strip().splitlines() if line.strip()] or [text]


def _first_line(text: str) -> str:
    lines = _lines(text)
    return lines[0] if lines else text


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validation_lines(error, subject: str | None) -> list[str]:
    what = subject or error.title
    problems = error.errors(include_url=False)
    if any(p["type"] == "json_invalid" for p in problems):
        msg = next(p["msg"] for p in problems if p["type"] == "json_invalid")
        return [f"{what}: not JSON: {msg.removeprefix('Invalid JSON: ')}"]
    many = len(problems) != 1
    lines = [f"{what}: {len(problems)} invalid field{'s' if many else ''} ({error.title})"]
    for p in problems:
        where = ".".join(str(part) for part in p["loc"]) or "(the document)"
        got = "" if p["type"] == "missing" else f" (got {_short(p['input'])})"
        lines.append(f"  {where}: {p['msg']}{got}")
    return lines


_URL_PASSWORD = re.compile(r":(?!PASSWORD@)[^@\s/]+@")  # user:PASSWORD@host


def _mask(text: str, secrets: tuple[str, ...] = ()) -> str:
    text = _URL_PASSWORD.sub(":***@", text)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _secrets(ctx: typer.Context | None) -> tuple[str, ...]:
    """Passwords of the database URLs in play (option and environment), to mask wherever they are."""
    from ..datacenter.store import DATABASE_URL_ENV

    urls = [os.environ.get(DATABASE_URL_ENV)]
    while ctx is not None:
        urls.append(ctx.params.get("database_url"))
        ctx = ctx.parent
    found = []
    for url in filter(None, urls):
        match = re.search(r"://[^:/@\s]*:([^@\s]+)@", url)
        if match and len(match.group(1)) > 2:
            found.append(match.group(1))
    return tuple(found)


def _write_traceback(error: Exception, ctx: typer.Context | None, secrets) -> Path:
    """Write the traceback under ``--workdir/logs`` (else the temporary folder); its path."""
    workdir = ctx.params.get("workdir") if ctx is not None else None
    if workdir is not None and Path(workdir).is_dir():
        folder = Path(workdir).resolve() / "logs"
    else:
        folder = Path(tempfile.gettempdir()) / "dkist-processing"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = f"$ {' '.join(sys.argv)}\n" + "".join(traceback.format_exception(error))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{stamp}-{os.getpid()}.txt"
        path.write_text(_mask(text, secrets))
    except OSError:
        return Path("(nowhere: the log folder cannot be written; use --debug)")
    return path

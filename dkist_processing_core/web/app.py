"""The status pages: a Starlette application over the data center's library functions.

Every page is a call into a library function (the same one the CLI makes) whose
plain data a Jinja2 template renders; the same data is served as JSON at the
page's path under ``/api``. Every action is a POST form that calls the library
function the CLI calls, allowed only to a signed-in user with the right role,
and only with the session's CSRF token. The adapter holds no query and no rule
of its own: who may do what is :mod:`~dkist_processing_core.datacenter.operations.access`.

Safe by default: reading needs no sign-in only for a client on loopback (or
never, with ``require_login``); files are served only from the object inventory
of a distributed dataset version and only from inside the archive; a PI's page
is reached only through the proposal's issued link; an error renders as a page
with its message, never a traceback; the database URL's password and the PI
tokens appear in no page and no log line.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets
import time as _time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dkist_processing_core.datacenter.clock import Clock, SystemClock
from dkist_processing_core.datacenter.operations import access, views
from dkist_processing_core.datacenter.operations.status import processing_status
from dkist_processing_core.datacenter.store import Store

HERE = Path(__file__).parent
PAGE_SIZE = 100
log = logging.getLogger("dkist_processing_core.web")

#: Library errors whose message is for the person who asked (shown as a page, status 400).
_EXPECTED_ERRORS: tuple[type[Exception], ...] = (ValueError, LookupError)


@dataclass
class WebConfig:
    """What the application serves: the store and the work folder's archive, scratch and outbox."""

    store: Store
    workdir: Path
    secret_key: str
    archive_root: Path | None = None
    scratch_root: Path | None = None
    outbox_folder: Path | None = None
    require_login: bool = False
    refresh_seconds: int = 30
    clock: Clock = field(default_factory=SystemClock)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.archive_root = Path(self.archive_root or self.workdir / "archive").resolve()
        self.scratch_root = Path(self.scratch_root or self.workdir / "scratch").resolve()
        self.outbox_folder = Path(self.outbox_folder or self.workdir / "outbox").resolve()


class Refused(Exception):
    """The request is not allowed (no sign-in, wrong role, bad CSRF token)."""

    def __init__(self, message: str, status: int = 403):
        super().__init__(message)
        self.status = status


# --- sessions, users, CSRF -----------------------------------------------------------------------


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def current_user(request: Request) -> access.User | None:
    name = request.session.get("user")
    if not name:
        return None
    config: WebConfig = request.app.state.config
    with config.store.session() as s:
        user = access.get_user(s, name)
    if user is None:  # disabled or removed since signing in
        request.session.pop("user", None)
    return user


def _check_csrf(request: Request, form) -> None:
    sent = str(form.get("csrf", ""))
    expected = request.session.get("csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Refused("the form's CSRF token is missing or does not match this session")


def _require_role(request: Request, role: str) -> access.User:
    user = current_user(request)
    if user is None:
        raise Refused("sign in first: this action needs a signed-in user", 401)
    if not user.has(role):
        raise Refused(f"user {user.name} lacks the role {role!r} this action needs")
    return user


def _require_reader(request: Request) -> None:
    config: WebConfig = request.app.state.config
    if (config.require_login or not _is_loopback(request)) and current_user(request) is None:
        raise Refused("sign in to read these pages from here", 401)


# --- rendering -----------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["seconds"] = _seconds
    env.filters["pretty_json"] = lambda v: json.dumps(v, indent=2, sort_keys=True)
    env.filters["short"] = lambda v, n=12: (str(v)[:n] + "…") if v and len(str(v)) > n else v
    env.filters["bytes"] = _bytes
    env.filters["first_line"] = lambda v: (v or "").splitlines()[0] if v else ""
    env.filters["urlpath"] = lambda v: quote(str(v), safe="/")
    env.globals["timeline"] = _timeline
    return env


def _timeline(tasks: list[dict]) -> list[dict]:
    """The tasks with where their bar starts and how wide it is, in % of the run's span."""
    spans = []
    for t in tasks:
        start = datetime.fromisoformat(t["started_at"]).timestamp() if t.get("started_at") else None
        end = datetime.fromisoformat(t["ended_at"]).timestamp() if t.get("ended_at") else None
        spans.append((start, end))
    starts = [s for s, _ in spans if s is not None]
    ends = [e for _, e in spans if e is not None] + starts
    if not starts:
        return [{**t, "left": 0, "width": None} for t in tasks]
    first, last = min(starts), max(ends)
    total = max(last - first, 1e-9)
    out = []
    for t, (start, end) in zip(tasks, spans, strict=True):
        if start is None:
            out.append({**t, "left": 0, "width": None})
            continue
        end = end if end is not None else last
        left = 100 * (start - first) / total
        out.append(
            {**t, "left": round(left, 2), "width": round(max(100 * (end - start) / total, 0.4), 2)}
        )
    return out


def _when(value: str | None) -> str:
    if not value:
        return "—"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return value
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    if value < 3600:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _bytes(value: int | None) -> str:
    if value is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


def render(request: Request, template: str, data: Any, status: int = 200, **extra) -> Response:
    env: Environment = request.app.state.templates
    config: WebConfig = request.app.state.config
    user = current_user(request)
    context = {
        "request": request,
        "data": data,
        "user": user,
        "csrf": _csrf_token(request),
        "flash": request.session.pop("flash", None),
        "refresh": config.refresh_seconds,
        "api_path": "/api"
        + request.url.path
        + (f"?{request.url.query}" if request.url.query else ""),
        **extra,
    }
    html = env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status)


def page(template: str, *, reader: bool = True):
    """A page handler ``(request, session) -> data`` served as HTML and, under /api, as JSON."""

    def wrap(fn: Callable[..., tuple[Any, dict] | Any]):
        async def html(request: Request) -> Response:
            if reader:
                _require_reader(request)
            data, extra = _call(request, fn)
            return render(request, template, data, **extra)

        async def api(request: Request) -> Response:
            if reader:
                _require_reader(request)
            data, _ = _call(request, fn)
            return JSONResponse(data)

        html.__name__ = api.__name__ = fn.__name__
        return html, api

    return wrap


def _call(request: Request, fn) -> tuple[Any, dict]:
    config: WebConfig = request.app.state.config
    with config.store.session() as s:
        result = fn(request, s, config)
    if isinstance(result, tuple):
        return result
    return result, {}


def _int(request: Request, name: str, default: int = 0) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return max(int(raw), 0)
    except ValueError:
        raise HTTPException(
            400, f"query parameter {name}={raw!r}: expected a whole number"
        ) from None


# --- pages ---------------------------------------------------------------------------------------


@page("overview.html")
def overview(request, s, config: WebConfig):
    data = views.overview(s, config.clock.now())
    return data


@page("candidates.html")
def candidates(request, s, config: WebConfig):
    number = _int(request, "page", 1) or 1
    proposal = request.query_params.get("proposal") or None
    data = processing_status(
        s, proposal_id=proposal, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    shown = sum(len(p["candidates"]) for p in data)
    return data, {"page": number, "more": shown == PAGE_SIZE, "proposal": proposal}


@page("runs.html")
def runs(request, s, config: WebConfig):
    number = _int(request, "page", 1) or 1
    status = request.query_params.get("status") or None
    data = views.run_rows(s, status=status, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    return data, {"page": number, "more": len(data) == PAGE_SIZE, "status_filter": status}


@page("run.html")
def run(request, s, config: WebConfig):
    return views.recipe_run_detail(
        s, request.path_params["run_id"], scratch_root=config.scratch_root
    )


@page("tickets.html")
def tickets(request, s, config: WebConfig):
    everything = request.query_params.get("all") == "1"
    data = views.ticket_rows(s, status=None if everything else "open", limit=500)
    return data, {"everything": everything}


@page("ticket.html")
def ticket(request, s, config: WebConfig):
    return views.ticket_detail(
        s, request.path_params["ticket_id"], scratch_root=config.scratch_root
    )


@page("datasets.html")
def datasets(request, s, config: WebConfig):
    from dkist_processing_core.datacenter.products.discovery import list_datasets

    return list_datasets(s, include_discarded=True)


@page("dataset.html")
def dataset(request, s, config: WebConfig):
    from dkist_processing_core.datacenter.products.discovery import show_dataset

    return show_dataset(s, request.path_params["dataset_id"])


@page("version.html")
def version(request, s, config: WebConfig):
    return views.version_detail(s, request.path_params["version_id"]), {"files_base": ""}


@page("reprocessing.html")
def reprocessing(request, s, config: WebConfig):
    from dkist_processing_core.datacenter.reprocessing import (
        pending_curation,
        reprocessing_status,
    )

    return {
        "batches": reprocessing_status(s),
        "pending_curation": pending_curation(s),
        "curation_history": views.curation_history(s),
        "waiting_runs": views.run_rows(s, status="created", limit=PAGE_SIZE),
    }


# --- the PI's pages (by the proposal's link only) --------------------------------------------


def _proposal_of_link(s, token: str) -> str:
    proposal = access.proposal_for_link(s, token)
    if proposal is None:
        raise HTTPException(404, "no such page")
    return proposal


@page("proposal.html", reader=False)
def proposal(request, s, config: WebConfig):
    proposal_id = _proposal_of_link(s, request.path_params["token"])
    status = processing_status(s, proposal_id=proposal_id)
    return {
        "proposal": views.proposal_summary(s, proposal_id),
        "candidates": status[0]["candidates"] if status else [],
        "datasets": views.proposal_datasets(s, proposal_id),
    }, {"pi": True}


@page("version.html", reader=False)
def proposal_version(request, s, config: WebConfig):
    proposal_id = _proposal_of_link(s, request.path_params["token"])
    version_id = request.path_params["version_id"]
    data = views.version_detail(s, version_id)
    if views.version_proposal(s, data["version_id"]) != proposal_id:
        raise HTTPException(404, "no such page")
    # A PI sees their own data; provenance stays, the operators' links do not.
    return data, {"pi": True, "files_base": f"/pi/{request.path_params['token']}"}


# --- files ---------------------------------------------------------------------------------------


def _serve_object(request: Request, s, config: WebConfig, version_id: str) -> Response:
    key = request.path_params["object_key"]
    try:
        path, kind = views.archived_object(s, config.archive_root, version_id, key)
    except views.ViewError:
        raise HTTPException(404, "no such file") from None
    media = {
        "movie": "video/mp4",
        "preview": "image/png",
        "quality_report": "application/pdf",
        "asdf": "application/asdf",
    }.get(kind)
    if media is None:
        media = "application/json" if path.suffix == ".json" else "application/octet-stream"
    return FileResponse(path, media_type=media, filename=path.name if kind == "asdf" else None)


async def version_file(request: Request) -> Response:
    _require_reader(request)
    config: WebConfig = request.app.state.config
    with config.store.session() as s:
        return _serve_object(request, s, config, request.path_params["version_id"])


async def proposal_file(request: Request) -> Response:
    config: WebConfig = request.app.state.config
    with config.store.session() as s:
        proposal_id = _proposal_of_link(s, request.path_params["token"])
        version_id = request.path_params["version_id"]
        if views.version_proposal(s, version_id) != proposal_id:
            raise HTTPException(404, "no such file")
        return _serve_object(request, s, config, version_id)


async def task_log(request: Request) -> Response:
    _require_reader(request)
    config: WebConfig = request.app.state.config
    try:
        text = views.task_log(
            config.scratch_root, request.path_params["run_id"], request.path_params["task"]
        )
    except views.ViewError:
        text = None
    if text is None:
        raise HTTPException(404, "this task left no log")
    return PlainTextResponse(text)


# --- signing in ----------------------------------------------------------------------------------


async def login(request: Request) -> Response:
    if request.method == "GET":
        return render(
            request, "login.html", None, next=_safe_next(request.query_params.get("next"))
        )
    form = await request.form()
    _check_csrf(request, form)
    config: WebConfig = request.app.state.config
    with config.store.session() as s:
        user = access.authenticate(s, str(form.get("name", "")), str(form.get("password", "")))
    if user is None:
        log.warning("sign-in refused for %r", str(form.get("name", ""))[:64])
        return render(
            request,
            "login.html",
            None,
            status=401,
            error="name or password not recognised",
            next=_safe_next(form.get("next")),
        )
    request.session.clear()  # a new session (and CSRF token) on signing in
    request.session["user"] = user.name
    request.session["flash"] = f"signed in as {user.name}"
    log.info("%s signed in", user.name)
    return RedirectResponse(_safe_next(form.get("next")), status_code=303)


async def logout(request: Request) -> Response:
    form = await request.form()
    _check_csrf(request, form)
    request.session.clear()
    return RedirectResponse("/", status_code=303)


def _safe_next(value) -> str:
    """Only a path on this site (never another host) to go back to after signing in."""
    text = str(value or "/")
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    return text


# --- actions -------------------------------------------------------------------------------------


def action(role: str, *, in_session: bool = True):
    """A POST handler ``(request, session, config, user, form) -> (where, message)``.

    ``in_session=False``: the handler calls a library function that opens its own
    sessions on ``config.store`` (publication), and gets ``None`` for the session.
    """

    def wrap(fn):
        async def handler(request: Request) -> Response:
            form = await request.form()
            user = _require_role(request, role)
            _check_csrf(request, form)
            config: WebConfig = request.app.state.config
            if in_session:
                with config.store.session() as s:
                    where, message = fn(request, s, config, user, form)
            else:
                where, message = fn(request, None, config, user, form)
            log.info("%s: %s", user.name, message)
            request.session["flash"] = message
            return RedirectResponse(where, status_code=303)

        handler.__name__ = fn.__name__
        return handler

    return wrap


def _text(form, name: str) -> str:
    return str(form.get(name, "")).strip()


@action(access.OPERATOR, in_session=False)
def retry_ticket(request, s, config, user, form):
    """``tickets retry``: a failed run's ticket gets a new attempt; a publication ticket is
    published again at once; a notification ticket's notice is queued (and sent) again."""
    from dkist_processing_core.datacenter.operations.periodic import outbox_for
    from dkist_processing_core.datacenter.operations.resolutions import retry_ticket as retry
    from dkist_processing_core.datacenter.operations.tickets import NOTIFICATION, PUBLICATION

    ticket_id = request.path_params["ticket_id"]
    done = retry(
        config.store,
        ticket_id,
        user.name,
        _text(form, "note"),
        scratch_root=config.scratch_root,
        archive_root=config.archive_root,
        outbox=outbox_for(config.store),
    )
    run_id = done.recipe_run_id
    if done.kind == PUBLICATION:
        return _published(run_id, done.publication, f"ticket {ticket_id} resolved: ")
    if done.kind == NOTIFICATION:
        return (
            f"/tickets/{ticket_id}",
            f"ticket {ticket_id} resolved: the notice of recipe run {run_id} is queued again",
        )
    return f"/runs/{run_id}", f"ticket {ticket_id} resolved: retry is recipe run {run_id}"


def _published(run_id: int, outcome, prefix: str = "") -> tuple[str, str]:
    """Where to go and what to say after publishing a run (again)."""
    if outcome is None or outcome.status == "skipped":
        why = outcome.error if outcome is not None else "its publication is not pending"
        return f"/runs/{run_id}", f"{prefix}recipe run {run_id} was not published: {why}"
    if outcome.status == "failed":
        return (
            f"/tickets/{outcome.ticket_id}",
            f"{prefix}publishing recipe run {run_id} failed again: {outcome.error} "
            f"(ticket {outcome.ticket_id})",
        )
    return (
        f"/versions/{outcome.version}",
        f"{prefix}recipe run {run_id} published as version {outcome.version}",
    )


@action(access.OPERATOR)
def adjust_ticket(request, s, config, user, form):
    from dkist_processing_core.datacenter.operations.resolutions import resolve_by_adjusted_plan

    ticket_id = request.path_params["ticket_id"]
    text = _text(form, "run_configuration")
    try:
        changes = json.loads(text) if text else None
    except json.JSONDecodeError as error:
        raise ValueError(f"run configuration: not JSON: {error}") from None
    if changes is not None and not isinstance(changes, dict):
        raise ValueError('run configuration: expected a JSON object such as {"key": 1}')
    run = resolve_by_adjusted_plan(
        s,
        ticket_id,
        user.name,
        _text(form, "note"),
        run_configuration=changes,
        reassemble_input_dataset=form.get("reassemble") == "on",
    )
    return f"/runs/{run.id}", f"ticket {ticket_id} resolved: adjusted run is recipe run {run.id}"


@action(access.OPERATOR)
def boost_run(request, s, config, user, form):
    from dkist_processing_core.datacenter.planning.recipe_runs import boost_priority

    run_id = request.path_params["run_id"]
    try:
        boost = int(_text(form, "boost"))
    except ValueError:
        raise ValueError(f"boost {_text(form, 'boost')!r}: expected a whole number") from None
    boost_priority(s, run_id, boost)
    return f"/runs/{run_id}", f"recipe run {run_id}: boost {boost}"


@action(access.OPERATOR)
def cancel_run(request, s, config, user, form):
    """``runs cancel``: a waiting, running or manual run; a running run loses its lease."""
    from dkist_processing_core.datacenter.planning.recipe_runs import cancel_recipe_run

    run_id = request.path_params["run_id"]
    cancel_recipe_run(s, run_id, user.name, _text(form, "reason"))
    return f"/runs/{run_id}", f"recipe run {run_id} canceled"


@action(access.OPERATOR)
def requeue_run(request, s, config, user, form):
    """``runs requeue``: a failed run waits again with its recorded plan; its ticket is resolved."""
    from dkist_processing_core.datacenter.planning.recipe_runs import requeue_recipe_run

    run_id = request.path_params["run_id"]
    requeue_recipe_run(s, run_id, user.name, _text(form, "note"))
    return f"/runs/{run_id}", f"recipe run {run_id} requeued: it waits for the scheduler"


@action(access.OPERATOR, in_session=False)
def publish_run(request, s, config, user, form):
    """``publish RUN``: publish a succeeded run (again, if its publication failed)."""
    from dkist_processing_core.datacenter.operations.periodic import outbox_for
    from dkist_processing_core.datacenter.products import publication

    run_id = request.path_params["run_id"]
    outbox = outbox_for(config.store)
    outcome = publication.publish_run(
        config.store,
        run_id,
        scratch_root=config.scratch_root,
        archive_root=config.archive_root,
        outbox=outbox,
        again=True,
        operator=user.name,
    )
    outbox.send_pending()
    return _published(run_id, outcome)


@action(access.CURATOR)
def curate_version(request, s, config, user, form):
    from dkist_processing_core.datacenter.reprocessing import curate

    version_id = request.path_params["version_id"]
    result = curate(s, version_id, _text(form, "decision"), by=user.name, why=_text(form, "why"))
    return (
        f"/versions/{result['version_id']}",
        f"version {result['version_id']}: {result['status']} ({_text(form, 'decision')})",
    )


# --- metrics -------------------------------------------------------------------------------------


async def metrics(request: Request) -> Response:
    _require_reader(request)
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


# --- errors --------------------------------------------------------------------------------------


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/metrics"


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    try:
        return render(request, "error.html", None, status=status, message=message, code=status)
    except Exception:  # the error page itself failed (e.g. the store is down): plain text
        return PlainTextResponse(f"{status}: {message}", status_code=status)


async def on_http_error(request: Request, error: HTTPException) -> Response:
    message = error.detail if error.status_code != 404 else "no such page"
    return _error(request, error.status_code, str(message))


async def on_refused(request: Request, error: Refused) -> Response:
    log.warning("refused %s %s: %s", request.method, _log_path(request.url.path), error)
    if error.status == 401 and request.method == "GET" and not _wants_json(request):
        where = urlencode({"next": request.url.path})
        return RedirectResponse(f"/login?{where}", status_code=303)
    return _error(request, error.status, str(error))


async def on_expected(request: Request, error: Exception) -> Response:
    status = 404 if isinstance(error, LookupError) else 400
    return _error(request, status, str(error))


async def on_unexpected(request: Request, error: Exception) -> Response:
    log.error(
        "%s %s failed: %s",
        request.method,
        _log_path(request.url.path),
        type(error).__name__,
        exc_info=error,
    )
    return _error(request, 500, "the server could not answer this request; the log says why")


# --- access log without secrets ------------------------------------------------------------------


def _log_path(path: str) -> str:
    """A request path as logged: a PI link's token is never written out."""
    if path.startswith("/pi/") or path.startswith("/api/pi/"):
        head, _, rest = path.partition("/pi/")
        return f"{head}/pi/<link>" + ("/" + rest.split("/", 1)[1] if "/" in rest else "")
    return path


class AccessLog:
    """One log line per request (method, path without secrets, status, milliseconds)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = _time.perf_counter()
        status = {}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(
                "%s %s %s %.0f ms",
                scope["method"],
                _log_path(scope["path"]),
                status.get("code", "-"),
                (_time.perf_counter() - start) * 1000,
            )


class SecurityHeaders:
    """Headers that keep the pages from being framed or sniffed, and scripts to this site."""

    HEADERS = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; media-src 'self'; "
            b"style-src 'self'; style-src-attr 'unsafe-inline'; script-src 'self'; "
            b"frame-ancestors 'none'; form-action 'self'",
        ),
    ]

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.HEADERS
            await send(message)

        await self.app(scope, receive, sending)


# --- the application -----------------------------------------------------------------------------


def _routes() -> list:
    pages = [
        ("/", overview),
        ("/candidates", candidates),
        ("/runs", runs),
        ("/runs/{run_id:int}", run),
        ("/tickets", tickets),
        ("/tickets/{ticket_id:int}", ticket),
        ("/datasets", datasets),
        ("/datasets/{dataset_id}", dataset),
        ("/versions/{version_id}", version),
        ("/reprocessing", reprocessing),
        ("/pi/{token}", proposal),
        ("/pi/{token}/versions/{version_id}", proposal_version),
    ]
    routes: list = []
    for path, (html, api) in pages:
        routes.append(Route(path, html, name=html.__name__))
        routes.append(Route("/api" + (path if path != "/" else "/overview"), api))
    posts: list[tuple[str, Callable[[Request], Awaitable[Response]]]] = [
        ("/tickets/{ticket_id:int}/retry", retry_ticket),
        ("/tickets/{ticket_id:int}/adjust", adjust_ticket),
        ("/runs/{run_id:int}/boost", boost_run),
        ("/runs/{run_id:int}/cancel", cancel_run),
        ("/runs/{run_id:int}/requeue", requeue_run),
        ("/runs/{run_id:int}/publish", publish_run),
        ("/versions/{version_id}/curate", curate_version),
        ("/logout", logout),
    ]
    routes += [Route(path, fn, methods=["POST"]) for path, fn in posts]
    routes += [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/runs/{run_id:int}/logs/{task}", task_log),
        Route("/versions/{version_id}/files/{object_key:path}", version_file),
        Route("/pi/{token}/versions/{version_id}/files/{object_key:path}", proposal_file),
        Route("/metrics", metrics),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return routes


def create_app(config: WebConfig) -> Starlette:
    """The status pages over ``config.store`` (see :class:`WebConfig`)."""
    from .metrics import registry_for

    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(AccessLog),
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=config.secret_key,
                session_cookie="dkist_session",
                same_site="strict",
                https_only=False,
                max_age=12 * 3600,
            ),
        ],
        exception_handlers={
            HTTPException: on_http_error,
            Refused: on_refused,
            **{e: on_expected for e in _EXPECTED_ERRORS},
            Exception: on_unexpected,
        },
    )
    app.state.config = config
    app.state.templates = _environment()
    app.state.registry = registry_for(config)
    return app

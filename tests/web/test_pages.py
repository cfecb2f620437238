"""The status pages in a real browser, over a real server and a store filled by the scenario.

The tests that change the store (retry, curation) come after those that only read it.
"""

from __future__ import annotations

import html
import http.client
import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dkist_processing_core.datacenter.operations.scheduling import Scheduler
from dkist_processing_core.datacenter.operations.views import operational_metrics
from dkist_processing_core.datacenter.store import open_store

from .conftest import PASSWORDS, cli, sign_in

pytestmark = pytest.mark.slow


def rows(page, selector: str = "main table") -> list[str]:
    """The text of each body row of the tables matched by ``selector``."""
    return [
        " ".join(r.inner_text().split())
        for r in page.locator(f"{selector} tr").all()
        if r.locator("td").count()
    ]


def api(page, server, path: str):
    response = page.request.get(server.url + "/api" + path)
    assert response.status == 200, (path, response.status)
    return response.json()


def raw_get(server, path: str) -> tuple[int, bytes]:
    """A GET sent exactly as written (a browser would normalise ``..`` away)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_overview_shows_states_runs_pools_tickets_failures_and_todays_datasets(
    page, server, scenario
):
    page.goto(server.url + "/")
    assert page.title().startswith("Overview")
    states = dict(
        r.rsplit(" ", 1) for r in rows(page, "section:has(h2:text('Candidates by state')) table")
    )
    assert states == {
        "waiting for frames": "1",
        "ready": "0",
        "failed": "1",
        "manual": "1",
        "succeeded": "2",
    }
    runs = dict(
        r.rsplit(" ", 1) for r in rows(page, "section:has(h2:text('Recipe runs by status')) table")
    )
    assert runs == {"failed": "1", "manual": "1", "succeeded": "3"}
    assert rows(page, "section:has(h2:text('Pools')) table") == ["default 0 / 2 0"]
    assert page.locator("h2:text('Open tickets') .badge").inner_text() == "2"
    (failure,) = rows(page, "section:has(h2:text('Recent failures')) table")
    assert failure.startswith(str(scenario.failed_run_id)) and "ReadCalibrationFile" in failure
    published = rows(page, "section:has(h2:text('Datasets published today')) table")
    assert sorted(r.split()[0] for r in published) == sorted(
        [scenario.vbi_dataset_id, "DS_obs_process", "DS_obs_process"]
    )
    data = api(page, server, "/overview")
    assert data["candidates_by_state"] == {k: int(v) for k, v in states.items()}


def test_candidates_show_progress_readiness_and_back_stop(page, server, scenario):
    page.goto(server.url + "/candidates")
    table = rows(page)
    assert len(table) == 5
    waiting = next(r for r in table if "obs_waiting" in r)
    assert "4 / 10" in waiting and "waiting for frames" in waiting and "UTC" in waiting
    assert (
        page.locator("tr:has-text('obs_waiting') .progress .bar").get_attribute("style")
        == "width: 40%"
    )
    assert "48 / 48" in next(r for r in table if scenario.vbi_dataset_id in r)
    assert any(
        "obs_flaky" in r and "failed" in r and f"#{scenario.failed_ticket_id}" in r for r in table
    )
    # The JSON twin is the CLI's `status --json`, the same data.
    from_cli = json.loads(cli(scenario.workdir, "status", "--json", "--limit", "100").stdout)
    assert api(page, server, "/candidates") == from_cli


def test_runs_list_and_its_status_filter(page, server, scenario):
    page.goto(server.url + "/runs")
    table = rows(page)
    assert len(table) == 5
    assert sorted(r.split()[4] for r in table) == [
        "failed",
        "manual",
        "succeeded",
        "succeeded",
        "succeeded",
    ]
    page.goto(server.url + "/runs?status=failed")
    (failed,) = rows(page)
    assert failed.split()[0] == str(scenario.failed_run_id) and "ReadCalibrationFile" in failed
    assert [r["recipe_run_id"] for r in api(page, server, "/runs?status=failed")] == [
        scenario.failed_run_id
    ]


def test_failed_run_page_shows_plan_configuration_input_timeline_error_and_log(
    page, server, scenario
):
    page.goto(f"{server.url}/runs/{scenario.failed_run_id}")
    assert page.locator("h1 .status").inner_text() == "failed"
    plan = page.locator("section:has(h2:text('Plan'))").inner_text()
    assert "tests.web.workflows:FLAKY" in plan
    assert page.locator("ol.tasks li").all_inner_texts() == ["ReadCalibrationFile", "Finish"]
    timeline = rows(page, "table.timeline")
    assert timeline[0].startswith("ReadCalibrationFile failed 1")
    assert timeline[-1].startswith("Finish pending 0")
    assert page.locator("table.timeline .span.s-failed").count() == 1
    error = page.locator("section.failure pre.error").first.inner_text()
    assert "FileNotFoundError" in error and str(scenario.calibration_file) in error
    log = page.locator("pre.log").inner_text()
    assert "Traceback (most recent call last)" in log and "read_text" in log
    configuration = json.loads(page.locator("pre.json").first.inner_text())
    assert configuration == {"calibration_file": str(scenario.calibration_file)}
    assert rows(page, "section:has(h2:text('Input dataset')) table")[0] == "obs_flaky observe 2"
    data = api(page, server, f"/runs/{scenario.failed_run_id}")
    assert data["plan"]["task_order"] == ["ReadCalibrationFile", "Finish"]
    assert data["failed_task_log"].strip() == log.strip()


def test_tickets_and_their_history(page, server, scenario):
    page.goto(server.url + "/tickets")
    table = rows(page)
    assert [r.split()[0] for r in table] == [
        f"#{scenario.failed_ticket_id}",
        f"#{scenario.manual_ticket_id}",
    ]
    assert "manual by definition" in table[1]
    page.goto(f"{server.url}/tickets/{scenario.manual_ticket_id}")
    assert "manual by definition" in page.locator("main").inner_text()
    assert page.locator("#retry-form").count() == 0
    page.goto(f"{server.url}/tickets/{scenario.failed_ticket_id}")
    history = page.locator("ol.history li").all_inner_texts()
    assert any(
        f"recipe run {scenario.failed_run_id} failed in ReadCalibrationFile" in h for h in history
    )
    assert any(f"ticket {scenario.failed_ticket_id} opened" in h for h in history)


def test_each_pages_json_twin_is_the_clis_json(server, scenario):
    """One library function feeds a page, its JSON twin and the CLI's ``--json``: for a run,
    a ticket, a dataset and a version (and the lists) the server's /api answer is the CLI's."""
    pairs = [
        (f"/runs/{scenario.failed_run_id}", ["runs", "show", str(scenario.failed_run_id)]),
        (
            f"/tickets/{scenario.failed_ticket_id}",
            ["tickets", "show", str(scenario.failed_ticket_id)],
        ),
        (f"/datasets/{scenario.vbi_dataset_id}", ["datasets", "show", scenario.vbi_dataset_id]),
        (f"/versions/{scenario.vbi_version}", ["datasets", "show", scenario.vbi_version]),
        ("/runs", ["runs", "list"]),
        ("/tickets", ["tickets", "list"]),
        ("/candidates", ["status"]),
    ]
    for path, words in pairs:
        status, body = raw_get(server, "/api" + path)
        assert status == 200, (path, body[:200])
        page_data = json.loads(body)
        cli_data = json.loads(cli(scenario.workdir, *words, "--json").stdout)
        assert page_data == cli_data, path
    run = json.loads(raw_get(server, f"/api/runs/{scenario.failed_run_id}")[1])
    assert run["failed_task"] == "ReadCalibrationFile" and run["failed_task_log"]
    assert run["logs"]["scratch"].endswith(f"recipe_run_{scenario.failed_run_id}")
    assert run["ticket"]["ticket_id"] == scenario.failed_ticket_id
    ticket = json.loads(raw_get(server, f"/api/tickets/{scenario.failed_ticket_id}")[1])
    assert ticket["recipe_run"] == run and ticket["history"]
    # The overview's twin is `status --overview` (its clock reading aside).
    overview = json.loads(raw_get(server, "/api/overview")[1])
    shown = json.loads(cli(scenario.workdir, "status", "--overview").stdout)
    assert {k: v for k, v in overview.items() if k != "now"} == {
        k: v for k, v in shown.items() if k != "now"
    }


def test_datasets_versions_provenance_and_curation_state(page, server, scenario):
    page.goto(server.url + "/datasets")
    assert sorted(r.split()[0] for r in rows(page)) == sorted(
        ["DS_obs_process", scenario.vbi_dataset_id]
    )
    page.goto(server.url + "/datasets/DS_obs_process")
    versions = rows(page)
    assert len(versions) == 2
    assert "superseded_pending_curation" in versions[0] and "process 1.0" in versions[0]
    assert "available" in versions[1] and "process 2.0" in versions[1]
    page.goto(f"{server.url}/versions/{scenario.new_version}")
    assert scenario.new_version in page.locator("main").inner_text()
    page.locator("summary:has-text('provenance document')").click()
    provenance = json.loads(page.locator("section:has(h2:text('Provenance')) pre").inner_text())
    assert provenance == api(page, server, f"/versions/{scenario.new_version}")["provenance"]
    assert len(page.locator("ol.lineage li").all()) == 2


def test_reprocessing_queue_and_curator_decisions(page, server, scenario):
    page.goto(server.url + "/reprocessing")
    (batch,) = rows(page, "section:has(h2:text('Batches')) table")
    assert batch.startswith("gain-fix") and "dq-team" in batch
    (pending,) = rows(page, "section:has(h2:text('Awaiting a curator')) table")
    assert pending.startswith("DS_obs_process") and "process 2.0" in pending
    from_cli = json.loads(cli(scenario.workdir, "reprocess", "status", "--json").stdout)
    assert api(page, server, "/reprocessing")["batches"] == from_cli


def test_movie_plays_and_preview_and_quality_report_load(page, server, scenario):
    page.goto(f"{server.url}/versions/{scenario.vbi_version}")
    page.wait_for_function(
        "() => { const v = document.getElementById('browse-movie');"
        " return v.error !== null || v.readyState >= 1; }",
        timeout=30_000,
    )
    state = page.evaluate(
        "() => { const v = document.getElementById('browse-movie');"
        " return {error: v.error && v.error.code, ready: v.readyState, width: v.videoWidth,"
        " duration: v.duration}; }"
    )
    assert state["error"] is None and state["ready"] >= 1 and state["width"] > 0, state
    assert state["duration"] > 0
    assert page.evaluate("document.getElementById('preview-image').naturalWidth") > 0
    report = page.request.get(server.url + page.locator("#quality-report").get_attribute("href"))
    assert report.status == 200 and report.headers["content-type"] == "application/pdf"
    assert report.body().startswith(b"%PDF")


def test_crafted_paths_are_refused(page, server, scenario):
    v = scenario.vbi_version
    d = scenario.vbi_dataset_id
    crafted = [
        f"/versions/{v}/files/../../../datacenter.sqlite",
        f"/versions/{v}/files/{d}/{v}/../../../datacenter.sqlite",
        f"/versions/{v}/files/%2e%2e/%2e%2e/%2e%2e/datacenter.sqlite",
        f"/versions/{v}/files/..%2f..%2f..%2fweb-secret",
        f"/versions/{v}/files//etc/passwd",
        f"/versions/{v}/files/{d}/{v}/preview.png/../../../../web-secret",
        f"/versions/{scenario.new_version}/files/{d}/{v}/browse_movie.mp4",  # another version's
        "/static/../datacenter.sqlite",
        "/static/%2e%2e/datacenter.sqlite",
        "/versions/..%2f..%2fdatacenter.sqlite/files/x",
        f"/runs/{scenario.failed_run_id}/logs/..%2f..%2f..%2fdatacenter.sqlite",
    ]
    secret = (scenario.workdir / "web-secret").read_text().strip().encode()
    for path in crafted:
        status, body = raw_get(server, path)
        assert status == 404, (path, status)
        assert b"SQLite format" not in body and secret not in body and b"root:" not in body, path
    # The same file by its listed key is served.
    status, body = raw_get(server, f"/versions/{v}/files/{d}/{v}/preview.png")
    assert status == 200 and body.startswith(b"\x89PNG")


def test_errors_render_as_pages_with_a_message_never_a_traceback(page, server):
    response = page.goto(server.url + "/runs/999999")
    assert response.status == 404
    assert "recipe run 999999 does not exist" in page.locator(".error-message").inner_text()
    response = page.goto(server.url + "/candidates?page=many")
    assert response.status == 400
    assert "expected a whole number" in page.locator(".error-message").inner_text()
    response = page.goto(server.url + "/no/such/page")
    assert response.status == 404
    for url in ("/runs/999999", "/candidates?page=many", "/versions/nope", "/datasets/nope"):
        body = page.request.get(server.url + url).text()
        assert "Traceback" not in body and 'File "' not in body, url


def test_metrics_report_the_stores_numbers(page, server, scenario):
    text = page.request.get(server.url + "/metrics").text()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    store = open_store(workdir=scenario.workdir)
    from datetime import UTC, datetime

    with store.session() as s:
        expected = operational_metrics(
            s, datetime.now(UTC), outbox_folder=scenario.workdir / "outbox"
        )
    store.dispose()
    for status, n in expected["runs_by_status"].items():
        assert found[("dkist_recipe_runs", (("status", status),))] == n
    assert found[("dkist_run_queue_length", (("pool", "default"),))] == expected["queue_length"]
    assert found[("dkist_pool_slots", (("pool", "default"),))] == 2
    assert found[("dkist_open_tickets", (("kind", "manual_by_exception"),))] == 1
    assert found[("dkist_open_tickets", (("kind", "manual_by_definition"),))] == 1
    assert found[("dkist_recipe_run_duration_seconds_count", (("status", "succeeded"),))] == 3
    assert found[("dkist_oldest_waiting_candidate_age_seconds", ())] > 0
    assert ("dkist_publish_failures_open", ()) in found and ("dkist_mails_pending", ()) in found


def test_a_request_without_the_role_is_refused(browser, server, scenario):
    url = f"{server.url}/tickets/{scenario.failed_ticket_id}/retry"

    def open_ticket() -> bool:
        return (
            page.request.get(f"{server.url}/api/tickets/{scenario.failed_ticket_id}").json()[
                "status"
            ]
            == "open"
        )

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/tickets/{scenario.failed_ticket_id}")
    assert page.locator("#retry-form").count() == 0  # no button without an operator
    # Nobody signed in: refused, whatever the form says.
    response = page.request.post(url, form={"note": "x", "csrf": "guess"}, max_redirects=0)
    assert response.status == 401
    for name in ("rita", "carl"):  # a reader without a role, and a curator
        sign_in(page, server, name)
        assert page.locator(".user").inner_text().startswith(name)
        page.goto(f"{server.url}/tickets/{scenario.failed_ticket_id}")
        assert page.locator("#retry-form").count() == 0
        csrf = page.locator("input[name=csrf]").first.get_attribute("value")
        response = page.request.post(url, form={"note": "x", "csrf": csrf}, max_redirects=0)
        assert response.status == 403
        assert "lacks the role 'operator'" in html.unescape(response.text())
        page.locator("button:text('Sign out')").click()
    # An operator, but without the session's CSRF token (a forged cross-site form).
    sign_in(page, server, "olga")
    response = page.request.post(url, form={"note": "x", "csrf": "forged"}, max_redirects=0)
    assert response.status == 403 and "CSRF" in response.text()
    response = page.request.post(url, form={"note": "x"}, max_redirects=0)
    assert response.status == 403
    assert open_ticket()
    # A wrong password signs nobody in.
    page.goto(f"{server.url}/login")
    page.fill("input[name=name]", "olga")
    page.fill("input[name=password]", PASSWORDS["carl"])
    page.click("form.card button[type=submit]")
    assert "not recognised" in page.locator(".error-message").inner_text()
    context.close()


def test_pi_link_shows_only_that_proposal(page, server, scenario):
    link = cli(scenario.workdir, "users", "pi-link", "pid_2_114").stdout.strip()
    assert re.fullmatch(r"/pi/[A-Za-z0-9_-]{43}", link)
    other = cli(scenario.workdir, "users", "pi-link", "pid_1").stdout.strip()
    page.goto(server.url + link)
    text = page.locator("main").inner_text()
    assert "pid_2_114" in text and "Dr. Helios Sunfield" in text
    assert scenario.vbi_dataset_id in text
    for foreign in ("obs_process", "obs_flaky", "DS_obs_process", "pid_1 ", "Dr. Sun\n"):
        assert foreign not in text, foreign
    assert page.locator("header nav").count() == 0  # no way into the operators' pages
    data = api(page, server, link)
    assert data["proposal"]["proposal_id"] == "pid_2_114"
    assert {c["observe_op_run_id"] for c in data["candidates"]} == {scenario.vbi_dataset_id}
    # The PI's own version page, with the movie, through the link.
    page.click(f"a:text('{scenario.vbi_version[:12]}')")
    assert page.url == f"{server.url}{link}/versions/{scenario.vbi_version}"
    movie = page.locator("#browse-movie source").get_attribute("src")
    assert movie.startswith(link + "/versions/")
    assert page.request.get(server.url + movie).status == 200
    # Another proposal's version through this link: refused.
    assert page.request.get(f"{server.url}{link}/versions/{scenario.new_version}").status == 404
    assert (
        page.request.get(
            f"{server.url}{link}/versions/{scenario.new_version}/files/DS_obs_process/x"
        ).status
        == 404
    )
    # An altered link (one character changed, cut, or another's with a character changed).
    token = link.removeprefix("/pi/")
    altered = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token[:20],
        token + "x",
        other.removeprefix("/pi/")[:-1] + "Z",
        "pid_2_114",
    ]
    for bad in altered:
        response = page.goto(f"{server.url}/pi/{bad}")
        assert response.status == 404, bad
        assert "Helios" not in page.content()
    # A revoked link opens nothing; a new one can be issued.
    cli(scenario.workdir, "users", "pi-link", "pid_2_114", "--revoke")
    assert page.goto(server.url + link).status == 404


def test_no_secret_in_pages_or_log(page, server, scenario):
    secret = (scenario.workdir / "web-secret").read_text().strip()
    link = cli(scenario.workdir, "users", "pi-link", "pid_1").stdout.strip()
    page.goto(server.url + link)
    for path in (
        "/",
        "/candidates",
        f"/runs/{scenario.failed_run_id}",
        "/api/overview",
        "/metrics",
    ):
        body = page.request.get(server.url + path).text()
        assert secret not in body
    log = server.log_text()
    assert secret not in log
    assert link.removeprefix("/pi/") not in log and "/pi/<link>" in log
    for password in PASSWORDS.values():
        assert password not in log


def test_default_bind_is_loopback(server):
    psutil = pytest.importorskip("psutil")
    listening = {
        c.laddr.ip
        for c in psutil.Process(server.process.pid).net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {"127.0.0.1"}


def test_with_require_login_reading_needs_a_sign_in(browser, scenario, tmp_path):
    from .conftest import Server, free_port

    strict = Server(scenario.workdir, free_port(), tmp_path / "strict.log", "--require-login")
    try:
        context = browser.new_context()
        page = context.new_page()
        page.goto(strict.url + "/candidates")
        assert page.url.startswith(strict.url + "/login?next=")
        assert page.request.get(strict.url + "/api/overview").status == 401
        assert page.request.get(strict.url + "/metrics").status == 401
        sign_in(page, strict, "rita", next_path="/candidates")  # reading needs no role
        assert page.url == strict.url + "/candidates" and len(rows(page)) == 5
        context.close()
    finally:
        strict.stop()


def test_an_operator_retries_the_ticket_and_sees_the_run_succeed(page, server, scenario):
    from .scenario import restore_calibration_file

    restore_calibration_file(scenario)  # the storage fault is repaired
    sign_in(page, server, "olga", next_path=f"/tickets/{scenario.failed_ticket_id}")
    assert page.url.endswith(f"/tickets/{scenario.failed_ticket_id}")
    page.fill("#retry-form input[name=note]", "calibration file restored")
    page.click("#retry-form button")
    page.wait_for_load_state()
    flash = page.locator(".flash").inner_text()
    retry_id = int(re.search(r"retry is recipe run (\d+)", flash).group(1))
    assert page.url == f"{server.url}/runs/{retry_id}"
    assert page.locator("h1 .status").inner_text() == "created"
    assert f"retry of run {scenario.failed_run_id}" in page.locator("p.sub").first.inner_text()
    # The periodic pass runs it (the test workflow makes no L1 frames, so nothing to publish).
    store = open_store(workdir=scenario.workdir)
    (outcome,) = Scheduler(store, scenario.workdir / "scratch").run_until_idle()
    store.dispose()
    assert outcome.recipe_run_id == retry_id
    page.reload()
    assert page.locator("h1 .status").inner_text() == "succeeded"
    assert [r.split()[1] for r in rows(page, "table.timeline")] == ["succeeded", "succeeded"]
    page.goto(f"{server.url}/tickets/{scenario.failed_ticket_id}")
    assert page.locator("h1 .status").inner_text() == "resolved"
    resolution = page.locator("section:has(h2:text('Resolution'))").inner_text()
    assert (
        "retry" in resolution and "olga" in resolution and "calibration file restored" in resolution
    )
    assert "succeeded" in resolution


def test_a_curator_keeps_both_versions(page, server, scenario):
    sign_in(page, server, "carl", next_path=f"/versions/{scenario.new_version}")
    page.fill("input[name=why]", "both gains are of interest")
    page.click("button[value=keep_both]")
    page.wait_for_load_state()
    assert "keep_both" in page.locator(".flash").inner_text()
    page.goto(server.url + "/reprocessing")
    assert rows(page, "section:has(h2:text('Awaiting a curator')) table") == [
        "nothing awaits curation"
    ]
    decisions = rows(page, "section:has(h2:text('decisions')) table")
    assert len(decisions) == 2 and all("carl" in d and "keep both" in d for d in decisions)
    page.goto(server.url + "/datasets/DS_obs_process")
    assert [r.split()[2] for r in rows(page)] == ["available", "available"]


def test_a_curator_discards_a_version(page, server, scenario):
    sign_in(page, server, "carl", next_path=f"/versions/{scenario.old_version}")
    page.fill("input[name=why]", "the 1.0 gain is wrong; 2.0 replaces it")
    page.click("button[value=discard]")
    page.wait_for_load_state()
    assert "discarded" in page.locator(".flash").inner_text()
    assert page.url == f"{server.url}/versions/{scenario.old_version}"
    assert page.locator("button[value=discard]").count() == 0  # nothing more to decide
    page.goto(server.url + "/datasets/DS_obs_process")
    assert sorted(r.split()[2] for r in rows(page)) == ["available", "discarded"]
    data = api(page, server, f"/versions/{scenario.old_version}")
    assert data["status"] == "discarded"
    # The dataset page's JSON twin is `datasets show`, the same data.
    from_cli = json.loads(cli(scenario.workdir, "datasets", "show", "DS_obs_process").stdout)
    assert api(page, server, "/datasets/DS_obs_process") == from_cli


def test_an_operator_adjusts_a_ticket_then_boosts_and_cancels_the_adjusted_run(
    page, server, scenario
):
    from .scenario import add_flaky_candidate

    missing = scenario.workdir / "calibration" / "not-there.txt"
    failed_run = add_flaky_candidate(scenario.workdir, "obs_adjust", missing)
    ticket = api(page, server, f"/runs/{failed_run}")["ticket"]
    assert ticket["status"] == "open" and ticket["kind"] == "manual_by_exception"
    sign_in(page, server, "olga", next_path=f"/tickets/{ticket['ticket_id']}")
    # A plan adjusted to read the file that is there.
    scenario.calibration_file.parent.mkdir(parents=True, exist_ok=True)
    scenario.calibration_file.write_text("calibration constants\n")
    changed = {"calibration_file": str(scenario.calibration_file)}
    page.fill("#adjust-form textarea[name=run_configuration]", json.dumps(changed))
    page.fill("#adjust-form input[name=note]", "read the restored constants instead")
    page.click("#adjust-form button")
    page.wait_for_load_state()
    flash = page.locator(".flash").inner_text()
    adjusted = int(re.search(r"adjusted run is recipe run (\d+)", flash).group(1))
    assert page.url == f"{server.url}/runs/{adjusted}"
    assert page.locator("h1 .status").inner_text() == "created"
    configuration = json.loads(page.locator("pre.json").first.inner_text())
    assert configuration["calibration_file"] == str(scenario.calibration_file)
    # Boost it.
    page.fill("#boost-form input[name=boost]", "7")
    page.click("#boost-form button")
    page.wait_for_load_state()
    assert f"recipe run {adjusted}: boost 7" in page.locator(".flash").inner_text()
    assert "(boost 7)" in page.locator("section:has(h2:text('Times'))").inner_text()
    assert api(page, server, f"/runs/{adjusted}")["priority_boost"] == 7
    # Cancel it: the same function as `runs cancel`, the note names who and why.
    page.fill("#cancel-form input[name=reason]", "the constants are being re-measured")
    page.click("#cancel-form button")
    page.wait_for_load_state()
    assert f"recipe run {adjusted} canceled" in page.locator(".flash").inner_text()
    assert page.locator("h1 .status").inner_text() == "canceled"
    shown = json.loads(cli(scenario.workdir, "runs", "show", str(adjusted), "--json").stdout)
    assert shown["status"] == "canceled"
    assert shown["error"] == "canceled by olga: the constants are being re-measured"
    page.goto(f"{server.url}/tickets/{ticket['ticket_id']}")
    assert page.locator("h1 .status").inner_text() == "resolved"
    resolution = page.locator("section:has(h2:text('Resolution'))").inner_text()
    assert "adjusted plan" in resolution and "read the restored constants" in resolution


def test_an_operator_requeues_a_failed_run_after_repairing_its_cause(page, server, scenario):
    from .scenario import add_flaky_candidate

    missing = scenario.workdir / "calibration" / "late.txt"
    failed_run = add_flaky_candidate(scenario.workdir, "obs_requeue", missing)
    ticket_id = api(page, server, f"/runs/{failed_run}")["ticket"]["ticket_id"]
    sign_in(page, server, "olga", next_path=f"/runs/{failed_run}")
    assert page.locator("h1 .status").inner_text() == "failed"
    assert page.locator("#cancel-form").count() == 0  # a failed run is not canceled
    missing.parent.mkdir(parents=True, exist_ok=True)
    missing.write_text("the constants arrived late\n")
    page.fill("#requeue-form input[name=note]", "the constants arrived")
    page.click("#requeue-form button")
    page.wait_for_load_state()
    assert f"recipe run {failed_run} requeued" in page.locator(".flash").inner_text()
    assert page.locator("h1 .status").inner_text() == "created"
    ticket = api(page, server, f"/tickets/{ticket_id}")
    assert (ticket["status"], ticket["resolution"], ticket["resolved_by"]) == (
        "resolved",
        "requeue",
        "olga",
    )
    # The scheduler runs it (the test workflow makes no L1 frames, so nothing to publish).
    store = open_store(workdir=scenario.workdir)
    (outcome,) = Scheduler(store, scenario.workdir / "scratch").run_until_idle()
    store.dispose()
    assert (outcome.recipe_run_id, outcome.status) == (failed_run, "succeeded")
    page.reload()
    assert page.locator("h1 .status").inner_text() == "succeeded"


def test_a_failed_publication_is_a_ticket_an_operator_publishes_again(page, server, scenario):
    from .scenario import add_publishable_candidate

    # The archive's staging folder is blocked (a file stands where it goes): publishing fails.
    staging = scenario.workdir / "archive" / ".staging"
    if staging.is_dir():
        staging.rmdir()
    staging.write_text("in the way\n")
    run_id = add_publishable_candidate(scenario.workdir, "obs_publish")
    page.goto(f"{server.url}/runs/{run_id}")
    assert page.locator("h1 .status").inner_text() == "succeeded"
    publication = page.locator("section:has(h2:text('Publication'))").inner_text()
    assert "failed" in publication and ".staging" in publication
    (ticket_id,) = [
        t["ticket_id"]
        for t in api(page, server, "/tickets")
        if t["recipe_run_id"] == run_id and t["kind"] == "publication"
    ]
    page.goto(server.url + "/tickets")
    assert any(r.startswith(f"#{ticket_id} ") and "publication" in r for r in rows(page))
    page.goto(f"{server.url}/tickets/{ticket_id}")
    assert ".staging" in page.locator("section.failure pre.error").inner_text()
    assert page.locator("#retry-form").count() == 0  # nobody signed in
    sign_in(page, server, "olga", next_path=f"/tickets/{ticket_id}")
    assert page.locator("#adjust-form").count() == 0  # a publication is not re-planned
    # Publishing again from the run page (`publish RUN`) while the cause is still there:
    # the run's ticket holds the new error.
    page.goto(f"{server.url}/runs/{run_id}")
    assert page.locator("#publish-form button").inner_text() == "Publish again"
    page.click("#publish-form button")
    page.wait_for_load_state()
    flash = page.locator(".flash").inner_text()
    assert "failed again" in flash and ".staging" in flash
    assert int(re.search(r"\(ticket (\d+)\)", flash).group(1)) == ticket_id
    assert page.url == f"{server.url}/tickets/{ticket_id}"
    assert page.locator("h1 .status").inner_text() == "open"
    assert api(page, server, f"/runs/{run_id}")["publication"]["attempts"] == 2
    # The cause removed, the page publishes it.
    staging.unlink()
    page.fill("#retry-form input[name=note]", "staging folder freed")
    page.click("#retry-form button")
    page.wait_for_load_state()
    flash = page.locator(".flash").inner_text()
    version = re.search(r"published as version (\S+)", flash).group(1)
    assert page.url == f"{server.url}/versions/{version}"
    assert page.locator("h1 .status").inner_text() == "available"
    page.goto(f"{server.url}/tickets/{ticket_id}")
    assert page.locator("h1 .status").inner_text() == "resolved"
    resolution = page.locator("section:has(h2:text('Resolution'))").inner_text()
    assert "publish again" in resolution and "staging folder freed" in resolution
    page.goto(f"{server.url}/runs/{run_id}")
    publication = page.locator("section:has(h2:text('Publication'))").inner_text()
    assert "published" in publication and version[:12] in publication
    assert page.locator("#publish-form").count() == 0
    (ticket,) = [t for t in api(page, server, "/tickets?all=1") if t["recipe_run_id"] == run_id]
    assert (ticket["status"], ticket["resolved_by"]) == ("resolved", "olga")
    # The package is in the archive, nothing is left in staging.
    assert list((scenario.workdir / "archive" / ".staging").iterdir()) == []

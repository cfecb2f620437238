"""An operator's day, only through the ``dkist-processing`` command, on a fresh store.

Every step is a command in its own process, as an operator types it, on SQLite and on the
suite's real PostgreSQL: register the recipes and the candidates (with the PIs' e-mails);
count frames from the summit's folder with relative paths; readiness; ``runs schedule``,
whose publication fails on a full disk (a real 48 kB tmpfs) and is retried once space is
freed; a ``cron`` pass killed (SIGKILL, at a crash point) while its run writes L1 frames,
noticed when its lease expires (failed, with a ticket), and retried; a recipe updated to a
new workflow version between creating a run and running it with ``dkist-processing run
--recipe-run`` (the run executes its recorded plan); a manual-by-definition recipe processed
by hand from its exported plan and resolved with ``tickets manual``; the PI notices queued
without a mail server and delivered by two ``cron`` passes running at once with one (a real
aiosmtpd on loopback). At the end every run is a published version or an open ticket, the
archive verifies, and each PI got exactly one mail per version.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
from pathlib import Path

import pytest
from astropy.io import fits

from dkist_processing_core.datacenter.products.catalog.checksums import verify_fits_checksums
from dkist_processing_core.datacenter.products.catalog.package import verify_package
from dkist_processing_core.framework.crashpoints import ENV_MATCH, ENV_POINT

from .commands import COMMAND, Recorder, environment, wait_for
from .conftest import BACKENDS

pytestmark = pytest.mark.slow

_databases = itertools.count()
FRAMES = 2  # per observe OP (each candidate is one OP)
CANDIDATES = {  # observe OP: recipe
    "obs_a": "publish",
    "obs_b": "publish",
    "obs_c": "publish",
    "obs_d": "publish",
    "obs_m": "by-hand",
}


def pi_email(op: str) -> str:
    return f"pi.{op}@example.org"


@pytest.fixture(params=BACKENDS)
def store_options(request) -> list[str]:
    """The store options of every command: a fresh, empty store (the commands create it)."""
    if request.param == "sqlite":
        return []  # the SQLite file of the work folder
    server = request.getfixturevalue("postgres_server")
    return ["--database-url", server.create_database(f"operators_day_{next(_databases)}")]


class Operator:
    """Types ``dkist-processing`` commands at a desk (its working folder)."""

    def __init__(self, work: Path, desk: Path, store_options: list[str]):
        self.work, self.desk, self.store_options = work, desk, store_options
        self.env = environment()

    def __call__(
        self,
        *args: str,
        code: int = 0,
        cwd: Path | None = None,
        workdir: str | None = None,
        store: bool = True,
    ) -> str:
        options = ["--workdir", workdir or str(self.work), *self.store_options] if store else []
        done = subprocess.run(
            [*COMMAND, *args, *options],
            cwd=cwd or self.desk,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == code, f"{args}: {done.returncode}\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def start(self, *args: str, **extra_env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [*COMMAND, *args, "--workdir", str(self.work), *self.store_options],
            cwd=self.desk,
            env=environment(**extra_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def json(self, *args: str):
        return json.loads(self(*args, "--json"))

    def candidates(self) -> dict[str, dict]:
        """Per observe OP, its candidate as ``status --json`` shows it."""
        return {
            c["observe_op_run_id"]: c
            for proposal in self.json("status")
            for c in proposal["candidates"]
        }

    def run_ids(self, op: str) -> list[int]:
        return [r["recipe_run_id"] for r in self.candidates()[op]["runs"]]

    def run(self, run_id: int) -> dict:
        return self.json("runs", "show", str(run_id))


def register(dp: Operator, l1_folder: Path) -> None:
    """Instrument, two workflow versions, a parameter value, the pool, two recipes, candidates."""
    workflows = "tests.datacenter.publishing_workflows"
    dp("recipes", "add-instrument", "testinst")
    dp("recipes", "add-workflow", "testinst", "publishable", "1.0",
       "--import-path", f"{workflows}:PUBLISHABLE")  # fmt: skip
    dp("recipes", "add-workflow", "testinst", "publishable", "1.1",
       "--import-path", f"{workflows}:PUBLISHABLE_1_1")  # fmt: skip
    dp("recipes", "add-parameter", "testinst", "browse_movie_max_size", "int")
    dp("recipes", "add-value", "testinst", "browse_movie_max_size", "2048",
       "--valid-from", "2000-01-01")  # fmt: skip
    dp("recipes", "set-pool", "default", "1")
    defaults = json.dumps({"l1_folder": str(l1_folder)})
    for recipe, manual in (("publish", []), ("by-hand", ["--manual"])):
        dp("recipes", "add", recipe, "testinst", "publishable", "1.0",
           "-p", "browse_movie_max_size", "--defaults", defaults, *manual)  # fmt: skip
    for op, recipe in CANDIDATES.items():
        dp("candidates", "add", op, recipe, f"pid_{op}", f"Dr. {op}", "2024-04-20",
           "--pi-email", pi_email(op))  # fmt: skip
        dp("candidates", "manifest", op, str(FRAMES))


def frames_arrive(dp: Operator, summit: Path, op: str) -> None:
    """The frames of ``op`` land in the summit folder; they are counted from there, with
    paths relative to it (the arrivals file too) and a relative work folder."""
    arrivals = []
    for i in range(FRAMES):
        path = Path("raw") / op / f"{i:04d}.fits"
        (summit / path).parent.mkdir(parents=True, exist_ok=True)
        (summit / path).write_bytes(b"")
        arrivals.append({"frame_id": f"{op}_{i:04d}", "op_run_id": op,
                         "frame_kind": "observe", "path": str(path)})  # fmt: skip
    (summit / f"{op}.json").write_text(json.dumps(arrivals))
    done = dp("candidates", "frames", f"{op}.json", cwd=summit, workdir="..")
    assert f"{FRAMES} new frames counted" in done


def test_an_operators_day(store_options, tmp_path, small_disk, smtp, l1_folder):
    work = tmp_path  # the work folder: store (SQLite), scratch, archive (a 48 kB tmpfs)
    archive, grow = small_disk
    desk, summit = tmp_path / "desk", tmp_path / "summit"
    desk.mkdir(), summit.mkdir()
    dp = Operator(work, desk, store_options)

    # --- morning: register, frames arrive, readiness ---------------------------------------
    register(dp, l1_folder)
    for op in ("obs_a", "obs_m"):
        frames_arrive(dp, summit, op)
    assert "2 candidates ready" in dp("readiness", "run")
    (run_a,), (run_m,) = dp.run_ids("obs_a"), dp.run_ids("obs_m")
    assert dp.run(run_m)["status"] == "manual"
    assert dp.run(run_m)["ticket"]["kind"] == "manual_by_definition"

    # --- runs schedule: the run succeeds, its publication fails on the full disk ----------
    dp("runs", "schedule", "--scratch-root", str(work / "scratch"))
    shown = dp.run(run_a)
    assert shown["status"] == "succeeded"
    assert shown["publication"]["status"] == "failed"
    assert "No space left on device" in shown["publication"]["last_error"]
    ticket = shown["ticket"]
    assert (ticket["kind"], ticket["status"]) == ("publication", "open")
    assert [p for p in archive.rglob("*") if p.is_file()] == []  # nothing half-written
    grow()  # the operator frees space, then retries the publication
    assert f"recipe run {run_a}: published" in dp(
        "tickets", "retry", str(ticket["ticket_id"]), "--operator", "ops"
    )

    # --- a cron pass killed while its run writes L1; its lease expires; retried -----------
    frames_arrive(dp, summit, "obs_b")
    killed = dp.start(
        "cron",
        DKIST_PROCESSING_LEASE_SECONDS="3",
        **{ENV_POINT: "write-before-rename:1", ENV_MATCH: "/WriteL1Frames/"},
    )
    out, _ = killed.communicate(timeout=900)
    assert killed.returncode == -signal.SIGKILL, out
    (run_b,) = dp.run_ids("obs_b")
    assert dp.run(run_b)["status"] == "running"  # as far as the store knows
    # Later passes: once the dead pass's lease expired, one fails the run with a ticket.
    wait_for(lambda: dp("cron") and dp.run(run_b)["status"] == "failed",
             "the killed pass's run failed as interrupted", limit=300)  # fmt: skip
    shown = dp.run(run_b)
    assert shown["failed_task"] == "WriteL1Frames" and "interrupted" in shown["error"]
    ticket = shown["ticket"]
    assert (ticket["kind"], ticket["status"]) == ("manual_by_exception", "open")
    retried = dp("tickets", "retry", str(ticket["ticket_id"]), "--operator", "ops")
    run_b2 = int(retried.split("retry is recipe run ")[1].split()[0])
    dp("cron")
    assert dp.run(run_b2)["publication"]["status"] == "published"

    # --- a recipe update between creating a run and running it ----------------------------
    for op in ("obs_c",):
        frames_arrive(dp, summit, op)
    assert "1 recipe runs created" in dp("readiness", "run")
    (run_c,) = dp.run_ids("obs_c")
    dp("recipes", "update", "publish", "--version", "1.1")
    done = dp("run", "--recipe-run", str(run_c))
    shown = dp.run(run_c)
    assert f"recipe run {run_c}: published as version" in done
    assert (shown["status"], shown["plan"]["workflow_version"]) == ("succeeded", "1.0")
    assert shown["publication"]["status"] == "published"
    frames_arrive(dp, summit, "obs_d")
    dp("readiness", "run")
    (run_d,) = dp.run_ids("obs_d")
    assert dp.run(run_d)["plan"]["workflow_version"] == "1.1"  # created after the update

    # --- the manual-by-definition recipe, processed by hand -------------------------------
    ticket_m = dp.run(run_m)["ticket"]["ticket_id"]
    dp("tickets", "plan", str(ticket_m), "--out", "plan")  # relative to the desk
    plan = desk / "plan"
    frames_used = json.loads((plan / "input_dataset.json").read_text())
    paths = json.dumps(frames_used)
    assert str(summit / "raw" / "obs_m" / "0000.fits") in paths  # stored absolute
    dp("run", "plan/run_spec.json", store=False)
    done = dp("tickets", "manual", str(ticket_m), "--operator", "Dr. Hand",
              "--actions", "ran the exported plan", "--reason", "manual by definition",
              "--file", "plan/scratch")  # fmt: skip
    assert "published as version" in done

    # --- no mail server so far: every notice waits; two cron passes at once send them -----
    assert dp("outbox", "list").count("queued") == 4  # runs A, B (retried), C and M
    recorder = Recorder()
    port = smtp(recorder)
    dp("recipes", "set-pool", "default", "2")
    passes = [dp.start("cron", "--smtp", f"127.0.0.1:{port}") for _ in range(2)]
    for p in passes:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, out
    dp("cron", "--smtp", f"127.0.0.1:{port}")  # a later pass sends nothing twice

    # --- the end of the day ---------------------------------------------------------------
    candidates = dp.candidates()
    versions = {}  # version id: (observe OP, dataset id, recipe run)
    for op, candidate in candidates.items():
        assert candidate["open_tickets"] == [], (op, candidate)
        for v in candidate["dataset_versions"]:
            versions[v["version_id"]] = (op, v["dataset_id"], v["recipe_run_id"])
        for r in candidate["runs"]:
            run = dp.run(r["recipe_run_id"])
            # Every run is a published version or an open ticket, or its ticket's follow-up is.
            while (
                run["ticket"]
                and run["ticket"]["status"] == "resolved"
                and (run["ticket"]["follow_up_recipe_run_id"] not in (None, run["recipe_run_id"]))
            ):
                run = dp.run(run["ticket"]["follow_up_recipe_run_id"])
            published = (run["publication"] or {}).get("status") == "published"
            assert published or run["ticket"]["status"] == "open", run
            if published:
                assert run["publication"]["version_id"] in {
                    v["version_id"] for v in candidate["dataset_versions"]
                }
    assert sorted(op for op, _, _ in versions.values()) == sorted(CANDIDATES)  # one each
    assert {r: v for v, (_, _, r) in versions.items()}.keys() >= {run_a, run_b2, run_c, run_d}

    # The archive verifies: every package's sha256 sums, every frame's FITS checksums.
    for version_id, (op, dataset_id, run_id) in versions.items():
        package = archive / dataset_id / version_id
        checked = verify_package(package)
        assert checked.ok, checked
        frames = sorted(package.glob("*.fits"))
        assert frames, package
        for frame in frames:
            verify_fits_checksums(frame)
        with fits.open(frames[0]) as hdul:
            expected = "1.1" if run_id == run_d else "1.0"  # run C ran its recorded plan
            assert hdul[1].header["WKFLVERS"] == expected, (op, run_id)
            assert hdul[1].header["MANPROCD"] is (op == "obs_m")
    assert list((archive / ".staging").iterdir()) == []

    # Each PI got exactly one mail per version, and nothing else was sent.
    mails = [(tuple(m.rcpt_tos), m.content.decode()) for m in recorder.messages]
    assert len(mails) == len(versions)
    for version_id, (op, _, _) in versions.items():
        (to,) = [to for to, text in mails if version_id in text]
        assert to == (pi_email(op),)
    assert "queued" not in dp("outbox", "list")

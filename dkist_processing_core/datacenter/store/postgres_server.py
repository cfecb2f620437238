"""A throwaway PostgreSQL server on loopback, for tests, benchmarks and demos.

``initdb`` makes a cluster in a temporary directory and ``pg_ctl`` starts it
listening on 127.0.0.1 at a free port, with its unix socket in the same
directory. PostgreSQL refuses to run as root, so when we are root the server
runs as the ``postgres`` user (through ``runuser``). :meth:`stop` stops it and
removes the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SEARCH_DIRS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
    "/usr/local/bin",
    "/usr/bin",
)


class PostgresUnavailable(RuntimeError):
    pass


def find_binary(name: str) -> str:
    """The path of a PostgreSQL server program (``initdb``, ``pg_ctl``)."""
    for directory in SEARCH_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise PostgresUnavailable(
        f"{name} not found in {SEARCH_DIRS} or PATH; run .ci/ensure-services to install PostgreSQL"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A PostgreSQL server in a temporary directory; use as a context manager or start/stop.

    ``durable=False`` turns off fsync (fine for a server that is thrown away
    after the tests; benchmarks keep the default durable settings).
    """

    def __init__(self, *, durable: bool = True, user: str = "postgres"):
        self.durable = durable
        self.user = user
        self.port = 0
        self.directory: Path | None = None
        self._as_user: list[str] = []

    @property
    def data_dir(self) -> Path:
        assert self.directory is not None
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, check=False, **kwargs
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}"
            )
        return result

    def start(self) -> PostgresServer:
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        self.directory = Path(tempfile.mkdtemp(prefix="dkist-pg-"))
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(self.user)
            except KeyError:
                raise PostgresUnavailable(
                    f"running as root and there is no {self.user!r} user to run PostgreSQL as"
                ) from None
            os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", self.user, "--"]
        self._run(
            [
                initdb,
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        self.port = free_port()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-k {self.directory}",
            "-c max_connections=100",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            [
                pg_ctl,
                "-D",
                str(self.data_dir),
                "-l",
                str(self.directory / "server.log"),
                "-o",
                " ".join(options),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        return self

    def stop(self) -> None:
        if self.directory is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run(
                    [find_binary("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
                )
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``name`` (optionally copied from ``template``); return its URL."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                suffix = f' TEMPLATE "{template}"' if template else ""
                conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
        finally:
            engine.dispose()
        return self.url(name)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

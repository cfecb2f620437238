"""Running the status pages: the session secret kept in the work folder, and uvicorn."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

SECRET_FILE_NAME = "web-secret"
SECRET_ENV = "DKIST_PROCESSING_WEB_SECRET"


def load_or_create_secret(workdir: str | Path) -> str:
    """The key that signs session cookies: the environment variable, else ``<workdir>/web-secret``.

    The file is created on first use, readable by its owner only (0600), with
    256 random bits; keeping it keeps everyone signed in across restarts.
    """
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env
    path = Path(workdir) / SECRET_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def serve(config, *, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the pages with uvicorn until interrupted (its own access log off: ours hides tokens)."""
    import uvicorn

    from .app import create_app

    logging.getLogger("dkist_processing_core.web").setLevel(logging.INFO)
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        server_header=False,
        proxy_headers=False,
    )

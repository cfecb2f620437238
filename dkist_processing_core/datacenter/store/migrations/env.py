"""Alembic environment for the metadata store, configured from Python (no alembic.ini needed).

:func:`dkist_processing_core.datacenter.store.upgrade` passes an open
connection in ``config.attributes["connection"]``; otherwise the URL comes
from the ``sqlalchemy.url`` option or the usual environment variable.
"""

from alembic import context

from dkist_processing_core.datacenter.store import database_url, make_engine
from dkist_processing_core.datacenter.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or database_url()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            context.configure(
                connection=conn, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

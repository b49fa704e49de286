"""Alembic environment: migrates the application database described by bot.storage.models.

URL, in order: the one passed by bot.storage.migrate (config attribute "url"), the
`sqlalchemy.url` option, DATABASE_URL, the SQLite default (bot.storage.db.default_url)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.pool import NullPool

from bot.storage import db
from bot.storage.models import Base

config = context.config
target_metadata = Base.metadata

# Only the alembic command line configures logging; programmatic calls keep the host's.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    return (config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
            or db.default_url())


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: recreate tables instead
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # a caller (e.g. a test) lends its connection
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = db.make_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # A batch migration rebuilds a table (copy, drop, rename). With foreign keys
                # on, dropping the old `students` would cascade into sessions, answers, ...
                # The pragma only works outside a transaction, hence on the raw connection.
                conn.connection.cursor().execute("PRAGMA foreign_keys = OFF")
            # bot.storage.db makes SQLite DDL transactional: a failed upgrade leaves no half.
            _configure(connection=conn, transactional_ddl=True)
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:  # roll the whole upgrade back rather than keep dangling rows
                        raise RuntimeError(f"migration left {len(broken)} broken references")
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

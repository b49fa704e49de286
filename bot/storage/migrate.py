"""Database migrations (Alembic), callable from code and as `bot db upgrade`.

Paths are resolved from the repository root (bot.paths.ROOT), so nothing depends on the
current working directory."""

from __future__ import annotations

import argparse
import sys

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import NullPool

from bot.paths import ROOT
from bot.storage import db

ALEMBIC_INI = ROOT / "alembic.ini"
MIGRATIONS = ROOT / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for `url` (None: the application's URL), independent of cwd."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url or db.current_url()
    config.attributes["configure_logger"] = False
    return config


def head() -> str:
    """The newest revision in migrations/."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str | None = None) -> str | None:
    """The revision the database is at; None for an empty (unmigrated) database."""
    engine = db.make_engine(url or db.current_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def upgrade_main(argv: list[str] | None = None) -> int:
    """`bot db upgrade [--url URL] [revision]`: migrate the database (default: to head)."""
    parser = argparse.ArgumentParser(
        prog="bot db upgrade",
        description="Database bijwerken naar de nieuwste versie / migrate the database.",
    )
    parser.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    parser.add_argument("--url", help="database URL (default: DATABASE_URL or SQLite in var/)")
    args = parser.parse_args(argv)
    url = args.url or db.current_url()
    print(f"Database bijwerken / migrating database: {_safe(url)}")
    try:
        before = current(url)
        upgrade(url, args.revision)
        after = current(url)
    except (OperationalError, InterfaceError) as exc:
        print(f"Database niet bereikbaar / database unreachable: {_safe(url)}\n"
              f"  {_first_line(exc)}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        print(f"Database-fout / database error: {str(exc.orig or exc).strip()}", file=sys.stderr)
        return 1
    if before == after:
        print(f"Database is al bijgewerkt / already up to date (revisie {after})")
    else:
        print(f"Database bijgewerkt / upgraded: {before or 'leeg/empty'} -> {after}")
    return 0


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

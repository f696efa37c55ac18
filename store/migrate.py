"""Versioned schema migrations, safe to run twice and from two processes at once."""

from __future__ import annotations

from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from config.errors import Misconfigured

#: Any constant works; it only has to be the same for every Koppel process.
MIGRATION_LOCK = 0x6B6F7070  # "kopp"


class SchemaNotCurrent(Misconfigured):
    """The database lacks Koppel's schema, or some migration of it: run ``koppel migrate``."""

    def __init__(self, where: str, missing: list[str], applied_any: bool) -> None:
        self.where = where
        self.missing = missing
        if applied_any:
            what = f"an older Koppel schema (without {', '.join(missing)})"
        else:
            what = "no Koppel schema"
        super().__init__(f"the database at {where} has {what}: run `koppel migrate`")


def _files() -> list[Any]:
    folder = resources.files("store") / "migrations"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


def available() -> list[tuple[str, str]]:
    """(version, SQL) of every migration shipped with Koppel, in order."""
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in _files()]


def versions() -> list[str]:
    """The version of every migration shipped with Koppel, in order (read from the files
    now, so a migration added to the folder counts without a change here)."""
    return [f.name.removesuffix(".sql") for f in _files()]


def applied(conn: psycopg.Connection[Any]) -> set[str] | None:
    """The versions applied to this database; None when it never saw ``koppel migrate``."""
    # Tuple rows whatever the connection's row factory (pools hand out dict rows).
    with conn.cursor(row_factory=tuple_row) as cursor:
        exists = cursor.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return None
        return {row[0] for row in cursor.execute("SELECT version FROM schema_migrations")}


def require_current(conn: psycopg.Connection[Any], where: str) -> None:
    """Raise :class:`SchemaNotCurrent` unless every shipped migration was applied (one
    applied by a newer Koppel and unknown here is fine)."""
    done = applied(conn)
    missing = [version for version in versions() if version not in (done or set())]
    if missing:
        raise SchemaNotCurrent(where, missing, applied_any=bool(done))


def migrate(conn: psycopg.Connection) -> list[str]:
    """Apply what is missing; return the versions applied now (empty when up to date)."""
    applied_now: list[str] = []
    with conn.transaction():
        # Serialises concurrent `koppel migrate` runs (compose may start several).
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in available():
            if version in done:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [version])
            applied_now.append(version)
    return applied_now

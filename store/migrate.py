"""Versioned schema migrations, safe to run twice and from two processes at once."""

from __future__ import annotations

from importlib import resources

import psycopg

#: Any constant works; it only has to be the same for every Koppel process.
MIGRATION_LOCK = 0x6B6F7070  # "kopp"


def available() -> list[tuple[str, str]]:
    """(version, SQL) of every migration shipped with Koppel, in order."""
    folder = resources.files("store") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


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
            conn.execute(sql)  # type: ignore[arg-type]  # trusted, shipped with the code
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [version])
            applied_now.append(version)
    return applied_now

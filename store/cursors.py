"""Per-stream poll cursors: the largest remote timestamp seen (docs/architecture.md#cursors)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from store.db import Pool


@dataclass(frozen=True)
class Cursor:
    stream: str
    watermark: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    #: The interval (s) of the ``koppel poll`` that last polled it; None: one-off rounds only.
    interval_s: float | None = None

    @classmethod
    def empty(cls, stream: str) -> Cursor:
        """A stream never polled: no watermark, no success, no error."""
        return cls(stream, None, None, None, None)


_COLUMNS = "stream, watermark, last_success_at, last_error, last_error_at, interval_s"


def get(pool: Pool, connection_id: uuid.UUID, stream: str) -> Cursor:
    with pool.connection() as conn:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM cursors WHERE connection_id = %s AND stream = %s",
            [connection_id, stream],
        ).fetchone()
    return Cursor(**row) if row else Cursor.empty(stream)


def all_for(pool: Pool, connection_id: uuid.UUID) -> list[Cursor]:
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM cursors WHERE connection_id = %s ORDER BY stream",
            [connection_id],
        ).fetchall()
    return [Cursor(**row) for row in rows]


def advance_many(
    pool: Pool,
    connection_id: uuid.UUID,
    moves: Sequence[tuple[str, datetime | None]],
    interval_s: float | None = None,
) -> None:
    """Record a successful poll of several streams of a connection in one statement; a
    watermark never moves backwards (GREATEST ignores a NULL one). ``interval_s``: the
    poller's interval; None (a one-off round) keeps the one recorded before."""
    if not moves:
        return
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO cursors (connection_id, stream, watermark, last_success_at, interval_s)"
            " SELECT %s, m.stream, m.watermark, now(), %s::double precision"
            " FROM unnest(%s::text[], %s::timestamptz[]) AS m(stream, watermark)"
            " ON CONFLICT (connection_id, stream) DO UPDATE SET"
            " watermark = GREATEST(cursors.watermark, EXCLUDED.watermark),"
            " last_success_at = now(), last_error = NULL, last_error_at = NULL,"
            " interval_s = coalesce(EXCLUDED.interval_s, cursors.interval_s)",
            [
                connection_id,
                interval_s,
                [stream for stream, _ in moves],
                [mark for _, mark in moves],
            ],
        )


def advance(pool: Pool, connection_id: uuid.UUID, stream: str, watermark: datetime | None) -> None:
    """Record a successful poll; the watermark never moves backwards."""
    advance_many(pool, connection_id, [(stream, watermark)])


def record_error(pool: Pool, connection_id: uuid.UUID, stream: str, error: str) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO cursors (connection_id, stream, last_error, last_error_at)"
            " VALUES (%s, %s, %s, now()) ON CONFLICT (connection_id, stream) DO UPDATE SET"
            " last_error = EXCLUDED.last_error, last_error_at = now()",
            [connection_id, stream, error],
        )

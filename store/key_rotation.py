"""Rotating ``KOPPEL_TOKEN_KEY``: which key each stored secret is under, and re-encrypting
every one under the newest (``koppel keys check`` and ``koppel keys rotate``).

The procedure: add the new key in front (``NEW,OLD``) for every process, so the first key
encrypts and any decrypts; :func:`rotate`; when :func:`census` finds nothing under an old
key, remove it. What is stored secret: the OAuth token pairs (``tokens``) and the webhook
secrets (``webhook_secrets``); connections whose webhook URL still derives from the key get
a secret of their own on the way (``store/webhook_secrets.py``), so their URL survives the
old key.

Rotation runs while workers run, and a worker may refresh a token at any moment (Teamleader
refresh tokens are single-use: a refreshed pair overwritten by its predecessor locks the
connection out). So a row is never written from what was read earlier unless it is still
what was read: each UPDATE compares the ciphertexts it read (Fernet's are never equal twice,
a random IV each), and a row saved meanwhile (``PgTokenStore.save``) is read again and
rotated as it is now. A refresh that commits first is kept, re-encrypted; one that commits
after overwrites the rotated row with its own new pair, as it would have anyway. No lock is
held across a refresh's network call, and rows are done a batch per transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from psycopg import sql

from store import webhook_secrets
from store.db import Conn, Pool
from store.token_store import cipher, fernets, key_number

#: Rows re-encrypted per transaction.
BATCH_ROWS = 500
#: Tries for a row that changes under the rotation again and again (a refresh each time).
ROW_TRIES = 5


@dataclass(frozen=True)
class _Table:
    """A table of secrets: its key columns and its encrypted columns."""

    name: str
    what: str
    keys: tuple[str, ...]
    secrets: tuple[str, ...]


TOKENS = _Table("tokens", "tokens", ("connection_id", "service"), ("access_token", "refresh_token"))
SECRETS = _Table("webhook_secrets", "webhook secrets", ("connection_id",), ("secret",))
TABLES = (TOKENS, SECRETS)


@dataclass
class KeyCount:
    """How many rows of one table each key of ``KOPPEL_TOKEN_KEY`` can read (a token pair
    counts once, under the older key of its two parts)."""

    what: str
    #: Rows per key, newest first.
    under: list[int]
    #: Rows none of the keys can read.
    unreadable: int = 0

    @property
    def on_old_keys(self) -> int:
        return sum(self.under[1:])


@dataclass
class Census:
    keys: int
    counts: list[KeyCount]
    #: Connections whose webhook URL is still derived from the oldest key.
    derived_urls: int

    @property
    def needs_old_key(self) -> bool:
        """Would removing every key but the newest lose something?"""
        old = sum(count.on_old_keys + count.unreadable for count in self.counts)
        return old > 0 or (self.keys > 1 and self.derived_urls > 0)


@dataclass(frozen=True)
class Rotation:
    #: Rows re-encrypted under the newest key, per table (``KeyCount.what``).
    reencrypted: dict[str, int]
    #: Connections whose derived webhook token became their own secret.
    adopted: int
    #: Rows that changed under the rotation on every try (left for another run).
    busy: int
    #: What each key can read once it is done.
    after: Census


def census(pool: Pool, token_key: str) -> Census:
    """Which key each stored secret is under (counts only; nothing is written)."""
    keys = fernets(token_key)
    counts = []
    for table in TABLES:
        count = KeyCount(table.what, [0] * len(keys))
        for batch in _batches(pool, table, BATCH_ROWS):
            for row in batch:
                number = _row_key(keys, table, row)
                if number is None:
                    count.unreadable += 1
                else:
                    count.under[number - 1] += 1
        counts.append(count)
    return Census(len(keys), counts, len(webhook_secrets.without_secret(pool)))


def rotate(pool: Pool, token_key: str, batch_rows: int = BATCH_ROWS) -> Rotation:
    """Every stored secret under the newest key of ``token_key``; safe to run twice (a row
    under the newest key is left as it is) and while workers run (see the module)."""
    keys = fernets(token_key)
    multi = cipher(token_key)
    # First, so the secrets adopted are checked below like every other one.
    adopted = webhook_secrets.without_secret(pool)
    for connection_id in adopted:
        webhook_secrets.adopt(pool, token_key, connection_id)
    reencrypted = {table.what: 0 for table in TABLES}
    busy = 0
    for table in TABLES:
        for batch in _batches(pool, table, batch_rows):
            with pool.connection() as conn, conn.transaction():
                for row in batch:
                    outcome = _rotate_row(conn, keys, multi, table, row)
                    if outcome == "rotated":
                        reencrypted[table.what] += 1
                    elif outcome == "busy":
                        busy += 1
    return Rotation(reencrypted, len(adopted), busy, census(pool, token_key))


def _rotate_row(
    conn: Conn, keys: Sequence[Fernet], multi: MultiFernet, table: _Table, row: dict[str, Any]
) -> str:
    """What became of the row: "rotated", "current" (under the newest key already),
    "unreadable", "gone" (deleted meanwhile) or "busy" (changed on every try)."""
    for _ in range(ROW_TRIES):
        number = _row_key(keys, table, row)
        if number is None:
            return "unreadable"
        if number == 1:
            return "current"
        try:
            new = [multi.rotate(bytes(row[column])) for column in table.secrets]
        except InvalidToken:
            return "unreadable"
        # Written only if the row still holds what was read: a pair saved meanwhile by a
        # refresh is not overwritten with its predecessor (the module says why).
        changed = conn.execute(
            sql.SQL("UPDATE {table} SET {sets} WHERE {keys} AND {same}").format(
                table=sql.Identifier(table.name),
                sets=_assignments(table.secrets, "new_"),
                keys=_matches(table.keys),
                same=_matches(table.secrets, "old_"),
            ),
            {
                **{name: row[name] for name in table.keys},
                **{f"old_{c}": bytes(row[c]) for c in table.secrets},
                **{f"new_{c}": value for c, value in zip(table.secrets, new, strict=True)},
            },
        ).rowcount
        if changed == 1:
            return "rotated"
        # Changed (or deleted) since it was read: read what is there now and go again.
        again = conn.execute(
            sql.SQL("SELECT * FROM {table} WHERE {keys}").format(
                table=sql.Identifier(table.name), keys=_matches(table.keys)
            ),
            {name: row[name] for name in table.keys},
        ).fetchone()
        if again is None:
            return "gone"
        row = again
    return "busy"


def _row_key(keys: Sequence[Fernet], table: _Table, row: dict[str, Any]) -> int | None:
    """The key a row needs: the older of its parts' keys; None if a part is unreadable."""
    numbers = [key_number(keys, bytes(row[column])) for column in table.secrets]
    if any(number is None for number in numbers):
        return None
    return max(number for number in numbers if number is not None)


def _batches(pool: Pool, table: _Table, size: int) -> Iterator[list[dict[str, Any]]]:
    """The table's rows, ``size`` at a time in key order (each batch a query of its own, so
    rows saved meanwhile are seen as they are when their batch is read)."""
    after: list[Any] | None = None
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in (*table.keys, *table.secrets))
    keys = sql.SQL(", ").join(sql.Identifier(name) for name in table.keys)
    while True:
        where: sql.Composable = sql.SQL("")
        if after is not None:
            where = sql.SQL("WHERE ({keys}) > ({values})").format(
                keys=keys, values=sql.SQL(", ").join(sql.Placeholder() * len(after))
            )
        query = sql.SQL("SELECT {columns} FROM {table} {where} ORDER BY {keys} LIMIT {size}")
        with pool.connection() as conn:
            rows = conn.execute(
                query.format(
                    columns=columns,
                    table=sql.Identifier(table.name),
                    where=where,
                    keys=keys,
                    size=sql.Literal(size),
                ),
                after or [],
            ).fetchall()
        if not rows:
            return
        yield rows
        after = [rows[-1][name] for name in table.keys]


def _matches(columns: Sequence[str], prefix: str = "") -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(prefix + c)) for c in columns
    )


def _assignments(columns: Sequence[str], prefix: str) -> sql.Composable:
    return sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(prefix + c)) for c in columns
    )

"""OAuth token pairs in PostgreSQL, encrypted at rest, refreshed under an advisory lock.

Teamleader refresh tokens are single-use and Visma's rotate (docs/architecture.md#tokens): two
processes refreshing at once would lock the connection out, so a refresh holds a PostgreSQL advisory
lock that every process of the connection shares, re-reads the pair under it (another
process may have refreshed already), and saves the new pair before using it.

``KOPPEL_TOKEN_KEY`` may hold several keys, newest first, while keys rotate: the first
encrypts, any decrypts (:func:`cipher`), and ``koppel keys rotate`` (``store/key_rotation.py``)
re-encrypts what is stored under the first, so the old key can go without a new connect.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from clients.tokens import TokenPair
from config.errors import NeedsPerson
from config.settings import split_token_keys
from store.db import Pool


class TokenKeyError(NeedsPerson):
    """The token key is missing or cannot decrypt what is stored: a person must set the key
    or connect again (a consumer dead-letters at once, requeued after the fix)."""


def cipher(key: str) -> MultiFernet:
    """What ``KOPPEL_TOKEN_KEY`` (``key``: one key, or several comma-separated, newest first)
    encrypts with (its first key) and decrypts with (any of them)."""
    return MultiFernet(list(fernets(key)))


@lru_cache(maxsize=8)
def fernets(key: str) -> tuple[Fernet, ...]:
    """Each key of ``KOPPEL_TOKEN_KEY`` on its own, newest first (made once per value: the
    webhook receiver needs them for every request)."""
    keys = split_token_keys(key)
    if not keys:
        raise TokenKeyError(
            "KOPPEL_TOKEN_KEY is not set: tokens are stored encrypted. Make a key with "
            "`koppel keygen` and set it for every Koppel process."
        )
    made = []
    for number, one in enumerate(keys, start=1):
        try:
            made.append(Fernet(one.encode()))
        except ValueError as error:  # the message names no part of the key
            which = f"'s key {number} (of {len(keys)})" if len(keys) > 1 else ""
            raise TokenKeyError(
                f"KOPPEL_TOKEN_KEY{which} is not a valid Fernet key: {error}"
            ) from None
    return tuple(made)


def key_number(keys: Sequence[Fernet], ciphertext: bytes) -> int | None:
    """Which of ``keys`` (1: the newest) encrypted ``ciphertext``; None: none of them."""
    for number, fernet in enumerate(keys, start=1):
        try:
            fernet.decrypt(ciphertext)
        except InvalidToken:
            continue
        return number
    return None


def new_key() -> str:
    return Fernet.generate_key().decode()


class PgTokenStore:
    """The :class:`clients.tokens.TokenStore` of one connection and service.

    The decrypted pair is kept in memory between calls: reading and decrypting it for every
    API request would cost a query per call. That is safe because the client re-reads under
    the refresh lock (which drops the copy) before it refreshes — at expiry, and after a 401
    should another process have refreshed and revoked the copy's access token."""

    def __init__(self, pool: Pool, connection_id: uuid.UUID, service: str, key: str) -> None:
        self._pool = pool
        self._connection_id = connection_id
        self._service = service
        self._fernet = cipher(key)
        self._copy: TokenPair | None = None

    def load(self) -> TokenPair:
        copy = self._copy
        if copy is not None:
            return copy
        self._copy = self._read()
        return self._copy

    def _read(self) -> TokenPair:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT access_token, refresh_token, expires_at FROM tokens"
                " WHERE connection_id = %s AND service = %s",
                [self._connection_id, self._service],
            ).fetchone()
        if row is None:
            raise TokenKeyError(
                f"no {self._service} tokens stored for connection {self._connection_id}: "
                "run `koppel connect` first"
            )
        try:
            return TokenPair(
                access_token=self._fernet.decrypt(bytes(row["access_token"])).decode(),
                refresh_token=self._fernet.decrypt(bytes(row["refresh_token"])).decode(),
                expires_at=row["expires_at"],
            )
        except InvalidToken as error:
            raise TokenKeyError(
                "the stored tokens cannot be decrypted with KOPPEL_TOKEN_KEY (was the key "
                "changed? keep the old key after the new one, comma-separated, and run "
                "`koppel keys rotate`); or run `koppel connect` again"
            ) from error

    def save(self, pair: TokenPair) -> None:
        self._copy = None
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO tokens (connection_id, service, access_token, refresh_token,"
                " expires_at) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (connection_id, service) DO UPDATE SET"
                " access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token,"
                " expires_at = EXCLUDED.expires_at, updated_at = now()",
                [
                    self._connection_id,
                    self._service,
                    self._fernet.encrypt(pair.access_token.encode()),
                    self._fernet.encrypt(pair.refresh_token.encode()),
                    pair.expires_at,
                ],
            )
        self._copy = pair

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        lock_name = f"tokens:{self._connection_id}:{self._service}"
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [lock_name])
            # Whatever this process holds may be stale now: read what the store says.
            self._copy = None
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [lock_name])


def expiries(pool: Pool, connection_id: uuid.UUID) -> dict[str, tuple[datetime, datetime]]:
    """Service → (access token ``expires_at``, ``updated_at`` of the last save), without
    decrypting anything (``koppel status`` needs no token key for this)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT service, expires_at, updated_at FROM tokens WHERE connection_id = %s",
            [connection_id],
        ).fetchall()
    return {str(row["service"]): (row["expires_at"], row["updated_at"]) for row in rows}

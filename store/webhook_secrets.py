"""Each connection's webhook secret: the token its webhook URL carries
(``/teamleader/<connection id>/<token>``, ``producers/webhook_receiver.py``).

Teamleader signs nothing, so the URL is the proof, and a leaked URL must be revocable on its
own: each connection keeps a secret of its own here, encrypted like the OAuth tokens
(``store/token_store.py``), and ``koppel webhooks rotate`` replaces one.

Before migration 0008 every token was derived from the key (an HMAC of the connection id
under ``KOPPEL_TOKEN_KEY``), and Teamleader still holds those URLs. So a connection without
a row here keeps its derived token (:func:`derived_token`), and its first use (``koppel
webhooks register``, ``koppel keys rotate``) stores that very token as its own secret
(:func:`adopt`): its URL does not change, and from then on no longer depends on the key, so
the key can rotate under it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

from cryptography.fernet import InvalidToken

from config.settings import split_token_keys
from store.db import Pool
from store.token_store import TokenKeyError, cipher

#: Random bytes of a new token: 32 hex characters, the length of the derived ones.
TOKEN_BYTES = 16


def new_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def derived_token(token_key: str, connection_id: uuid.UUID) -> str:
    """The token of a connection with no secret of its own: the HMAC of its id under the
    oldest key of ``KOPPEL_TOKEN_KEY`` (hex, 32 characters).

    The oldest (last), because these URLs were made when the variable held a single key, and
    a rotation adds the new key in front: the old one stays last until ``koppel keys rotate``
    has stored every derived token as the connection's own (:func:`adopt`)."""
    keys = split_token_keys(token_key)
    if not keys:
        cipher(token_key)  # says that the key is missing, as for the tokens
    digest = hmac.new(keys[-1].encode(), b"koppel-webhook:" + connection_id.bytes, hashlib.sha256)
    return digest.hexdigest()[:32]


def token_of(pool: Pool, token_key: str, connection_id: uuid.UUID) -> str:
    """The token the connection's URL carries now: its own secret, or the derived one."""
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT secret FROM webhook_secrets WHERE connection_id = %s", [connection_id]
        ).fetchone()
    if row is None:
        return derived_token(token_key, connection_id)
    try:
        return cipher(token_key).decrypt(bytes(row["secret"])).decode()
    except InvalidToken as error:
        raise TokenKeyError(
            f"the webhook secret of connection {connection_id} cannot be decrypted with "
            "KOPPEL_TOKEN_KEY (was an old key removed before `koppel keys rotate`?); "
            "`koppel webhooks rotate` gives it a new one"
        ) from error


def adopt(pool: Pool, token_key: str, connection_id: uuid.UUID) -> str:
    """Its token, stored as its own secret first if it has none (the derived token: the URL
    Teamleader may hold keeps working)."""
    token = derived_token(token_key, connection_id)
    with pool.connection() as conn:
        # DO NOTHING: a secret stored meanwhile (a rotation) is the one that counts.
        conn.execute(
            "INSERT INTO webhook_secrets (connection_id, secret) VALUES (%s, %s)"
            " ON CONFLICT (connection_id) DO NOTHING",
            [connection_id, cipher(token_key).encrypt(token.encode())],
        )
    return token_of(pool, token_key, connection_id)


def without_secret(pool: Pool) -> list[uuid.UUID]:
    """The connections (not removed) whose URL still derives from the key."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id FROM connections WHERE removed_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM webhook_secrets WHERE connection_id = connections.id)"
            " ORDER BY created_at, id"
        ).fetchall()
    return [row["id"] for row in rows]


def replace(pool: Pool, token_key: str, connection_id: uuid.UUID, token: str) -> None:
    """Make ``token`` the connection's secret: from the commit on, its old URL is refused."""
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO webhook_secrets (connection_id, secret) VALUES (%s, %s)"
            " ON CONFLICT (connection_id) DO UPDATE SET secret = EXCLUDED.secret,"
            " rotated_at = now()",
            [connection_id, cipher(token_key).encrypt(token.encode())],
        )

"""Keys that rotate (issue 15, point 6): ``KOPPEL_TOKEN_KEY=NEW,OLD`` reads what the old key
stored, ``koppel keys rotate`` moves everything to the new key while workers run, and
``koppel webhooks rotate`` revokes one connection's webhook URL alone.

Real PostgreSQL, the real CLI as a process of its own, the simulators over HTTP, and the
webhook receiver as ``koppel webhooks serve``."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from clients.teamleader.client import teamleader_oauth_app
from config import Settings
from ops.connect.connecting import Connected, connect_sandbox
from producers.webhook_receiver import webhook_path
from store.api_clients import ClientCache
from store.token_store import PgTokenStore, TokenKeyError
from tests.conftest import TEST_TOKEN_KEY, TODAY, Sandbox, free_port
from tests.pipeline.support import koppel_cli, start_koppel, wait_for

#: The key the tokens were stored under (every test connection's), and the new one.
OLD = TEST_TOKEN_KEY
NEW = "Uq1YbqO0KxF2xg0qVd3nJ8cJ9H8vQy5l1m2n3o4p5q0="
BOTH = f"{NEW},{OLD}"
SERVICES = ("teamleader", "visma")


def with_key(env: dict[str, str], key: str) -> dict[str, str]:
    return {**env, "KOPPEL_TOKEN_KEY": key}


def stored_bytes(pool: ConnectionPool) -> list[Any]:
    """Every encrypted value Koppel stores, as it is in the database."""
    with pool.connection() as conn:
        tokens = conn.execute(
            "SELECT connection_id, service, access_token, refresh_token FROM tokens ORDER BY 1, 2"
        ).fetchall()
        secrets = conn.execute(
            "SELECT connection_id, secret FROM webhook_secrets ORDER BY 1"
        ).fetchall()
    return [*tokens, *secrets]


@contextmanager
def receiving(env: dict[str, str]) -> Iterator[str]:
    """``koppel webhooks serve`` with these settings, on a free port; its base URL."""
    port = free_port()
    process = start_koppel(env, "webhooks", "serve", "--port", str(port))
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(healthy, timeout_s=30, what="the webhook receiver listening")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def poke(url: str) -> int:
    """The status a Teamleader event sent to ``url`` is answered with."""
    event = {"type": "invoice.booked", "subject": {"type": "invoice", "id": "x"}}
    return httpx.post(url, json=event, timeout=5).status_code


def test_tokens_of_the_old_key_are_read_with_both_keys_and_after_rotate_with_the_new_alone(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    connection_id = connected.connection.id
    pairs = {s: PgTokenStore(pool, connection_id, s, OLD).load() for s in SERVICES}
    # Given tokens stored under the old key: the new key in front reads them
    for service in SERVICES:
        assert PgTokenStore(pool, connection_id, service, BOTH).load() == pairs[service]
    checked = koppel_cli(with_key(koppel_env, BOTH), "keys", "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "tokens: 0 under key 1 (the newest), 2 under key 2" in checked.stdout

    # When `koppel keys rotate` runs, a row per transaction
    rotated = koppel_cli(with_key(koppel_env, BOTH), "keys", "rotate", "--batch-size", "1")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "re-encrypted under key 1 (the newest): 2 tokens" in rotated.stdout
    assert "nothing needs an older key" in rotated.stdout

    # Then the new key alone reads them, and the old one alone no longer does
    for service in SERVICES:
        assert PgTokenStore(pool, connection_id, service, NEW).load() == pairs[service]
        with pytest.raises(TokenKeyError):
            PgTokenStore(pool, connection_id, service, OLD).load()
    alone = with_key(koppel_env, NEW)
    listed = koppel_cli(alone, "webhooks", "list")  # a Teamleader call with the new key alone
    assert listed.returncode == 0, listed.stdout + listed.stderr
    checked = koppel_cli(alone, "keys", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "tokens: 2 under key 1 (the newest)" in checked.stdout

    # And running it again changes nothing
    before = stored_bytes(pool)
    again = koppel_cli(with_key(koppel_env, BOTH), "keys", "rotate")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "re-encrypted under key 1 (the newest): 0 tokens, 0 webhook secrets" in again.stdout
    assert stored_bytes(pool) == before


def test_a_token_refresh_saved_while_keys_rotate_runs_is_kept(
    connected: Connected,
    pool: ConnectionPool,
    settings: Settings,
    koppel_env: dict[str, str],
    sandbox: Sandbox,
) -> None:
    connection_id = connected.connection.id
    spent = PgTokenStore(pool, connection_id, "teamleader", OLD).load()
    row = "connection_id = %s AND service = 'teamleader'"
    worker = psycopg.connect(koppel_env["KOPPEL_DATABASE_URL"])  # one transaction
    try:
        # Given a worker (not yet given the new key) that is saving a refreshed pair
        worker.execute(f"SELECT 1 FROM tokens WHERE {row} FOR UPDATE", [connection_id])
        with ThreadPoolExecutor(max_workers=1) as background:
            # When `koppel keys rotate` has read the old pair meanwhile and comes to write it
            running = background.submit(koppel_cli, with_key(koppel_env, BOTH), "keys", "rotate")
            wait_for(
                lambda: rotation_waits_for_a_row(pool),
                timeout_s=60,
                what="`koppel keys rotate` waiting for the row the worker holds",
            )
            # ... and the worker's refresh (Teamleader's refresh tokens are single-use) commits
            fresh = teamleader_oauth_app(settings.use_sandbox()).refresh(spent.refresh_token)
            old_key = Fernet(OLD.encode())
            worker.execute(
                "UPDATE tokens SET access_token = %s, refresh_token = %s, expires_at = %s,"
                f" updated_at = now() WHERE {row}",
                [
                    old_key.encrypt(fresh.access_token.encode()),
                    old_key.encrypt(fresh.refresh_token.encode()),
                    fresh.expires_at,
                    connection_id,
                ],
            )
            worker.commit()
            rotated = running.result(timeout=120)
    finally:
        worker.close()
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr

    # Then the refreshed pair is what is stored, under the new key
    kept = PgTokenStore(pool, connection_id, "teamleader", NEW).load()
    assert kept.refresh_token == fresh.refresh_token
    # ... and it keeps the connection working: with every access token revoked, the client
    # refreshes with it (the pair before it was spent and would be refused)
    httpx.post(f"{sandbox.teamleader_url}/_sandbox/tokens/expire", timeout=5).raise_for_status()
    clients = ClientCache(settings.model_copy(update={"token_key": SecretStr(NEW)}), pool)
    try:
        assert clients.for_connection(connected.connection).teamleader.me().id
    finally:
        clients.close()


def rotation_waits_for_a_row(pool: ConnectionPool) -> bool:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'koppel-keys' AND wait_event_type = 'Lock'"
        ).fetchone()
    return row is not None and row["n"] > 0


def test_webhooks_rotate_revokes_one_connections_url_and_the_others_keep_working(
    connected: Connected, pool: ConnectionPool, settings: Settings, koppel_env: dict[str, str]
) -> None:
    first = connected.connection
    second = connect_sandbox(
        settings, pool, name="second", sync_from=TODAY - timedelta(days=30)
    ).connection
    with receiving(koppel_env) as receiver:
        # Given both connections' webhooks registered with Teamleader
        registered = koppel_cli(koppel_env, "webhooks", "register", "--base-url", receiver)
        assert registered.returncode == 0, registered.stdout + registered.stderr
        old_url = receiver + webhook_path(OLD, first.id)
        other_url = receiver + webhook_path(OLD, second.id)
        assert poke(old_url) == 202

        # When the first one's URL is rotated
        rotated = koppel_cli(koppel_env, "webhooks", "rotate", "--connection", "test")
        assert rotated.returncode == 0, rotated.stdout + rotated.stderr

        # Then Teamleader sends its events to a new URL, and no longer to the old one
        urls = registered_urls(settings, pool, connected)
        new_urls = [url for url in urls if f"/teamleader/{first.id}/" in url]
        assert len(new_urls) == 1 and new_urls[0] != old_url, urls
        assert other_url in urls
        # ... the old URL is refused and the new one accepted
        assert poke(old_url) == 404
        assert poke(new_urls[0]) == 202
        # ... and the other connection's URL still works
        assert poke(other_url) == 202


def registered_urls(settings: Settings, pool: ConnectionPool, connected: Connected) -> list[str]:
    """The URLs Teamleader sends the account's events to (both connections share it)."""
    clients = ClientCache(settings, pool)
    try:
        hooks = clients.for_connection(connected.connection).teamleader.webhooks()
    finally:
        clients.close()
    return [hook.url for hook in hooks]


def test_a_webhook_url_made_from_the_old_key_keeps_working_after_the_old_key_is_gone(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given a connection whose URL Teamleader holds from before it had a secret of its own
    path = webhook_path(OLD, connected.connection.id)
    # ... it keeps working once the new key is put in front
    with receiving(with_key(koppel_env, BOTH)) as receiver:
        assert poke(receiver + path) == 202
    # When the keys are rotated, and the old key removed
    rotated = koppel_cli(with_key(koppel_env, BOTH), "keys", "rotate")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "1 connection(s) now keep their webhook URL's token" in rotated.stdout
    # Then the same URL still works with the new key alone
    with receiving(with_key(koppel_env, NEW)) as receiver:
        assert poke(receiver + path) == 202
        assert poke(receiver + f"/teamleader/{connected.connection.id}/{'0' * 32}") == 404

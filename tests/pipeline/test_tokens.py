"""Stored grants: an access token the service revoked is refreshed once, under the lock every
process shares, and the new pair is stored (encrypted) for the other processes."""

from __future__ import annotations

import httpx
from psycopg_pool import ConnectionPool

from config import Settings
from ops.connect.connecting import Connected
from store.api_clients import ClientCache
from store.token_store import PgTokenStore
from tests.conftest import Sandbox
from tests.pipeline.conftest import TEST_TOKEN_KEY


def test_a_revoked_access_token_is_refreshed_once_and_the_new_pair_serves_another_process(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, settings: Settings
) -> None:
    connection = connected.connection
    stored = PgTokenStore(pool, connection.id, "teamleader", TEST_TOKEN_KEY)
    before = stored.load()
    # Given two processes whose clients hold the grant in memory
    first = ClientCache(settings, pool)
    second = ClientCache(settings, pool)  # another process, as far as the store can tell
    try:
        assert first.for_connection(connection).teamleader.me().id
        assert second.for_connection(connection).teamleader.me().id
        # When Teamleader revokes every access token
        httpx.post(f"{sandbox.teamleader_url}/_sandbox/tokens/expire", timeout=5)
        # Then the next call refreshes (the 401 is answered once) and succeeds
        assert first.for_connection(connection).teamleader.me().id
        after = PgTokenStore(pool, connection.id, "teamleader", TEST_TOKEN_KEY).load()
        assert after.refresh_token != before.refresh_token
        # And the other process, whose copy is now revoked, takes the stored new pair rather
        # than spending the refresh token again (single-use: Teamleader would refuse it)
        assert second.for_connection(connection).teamleader.me().id
        latest = PgTokenStore(pool, connection.id, "teamleader", TEST_TOKEN_KEY).load()
        assert latest.refresh_token == after.refresh_token
    finally:
        first.close()
        second.close()

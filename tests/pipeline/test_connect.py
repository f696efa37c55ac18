"""Connecting to the simulators stores an encrypted grant and proposes VAT mappings."""

from __future__ import annotations

from datetime import date

from psycopg_pool import ConnectionPool

from config import Settings
from ops.connect.connecting import Connected, connect_sandbox
from store import connections, mappings
from store.token_store import PgTokenStore
from tests.pipeline.conftest import TEST_TOKEN_KEY


def test_connecting_the_sandbox_picks_the_department_in_vismas_country(
    connected: Connected,
) -> None:
    assert connected.department.name == "Koppel Demo B.V."
    assert connected.visma_company == "Koppel Demo B.V."


def test_every_dutch_tax_rate_gets_a_vat_code_and_revenue_account(
    connected: Connected, pool: ConnectionPool
) -> None:
    rows = {row.description: row for row in mappings.vat_rows(pool, connected.connection.id)}
    assert connected.unmapped == []
    assert {name: (row.vat_code, row.revenue_account) for name, row in rows.items()} == {
        "21%": ("1a", 8000),
        "9%": ("1b", 8010),
        "0%": ("1e", 8020),
        "0% verlegd": ("2a", 8030),
        "0% ICL": ("3b", 8040),
    }


def test_tokens_are_stored_encrypted_and_read_back(
    connected: Connected, pool: ConnectionPool
) -> None:
    store = PgTokenStore(pool, connected.connection.id, "teamleader", TEST_TOKEN_KEY)
    pair = store.load()
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT access_token FROM tokens WHERE connection_id = %s AND service = 'teamleader'",
            [connected.connection.id],
        ).fetchone()
    assert row is not None
    assert pair.access_token.encode() not in bytes(row["access_token"])
    assert pair.access_token


def test_connecting_again_under_the_same_name_updates_that_connection(
    connected: Connected, pool: ConnectionPool, settings: Settings
) -> None:
    again = connect_sandbox(
        settings, pool, name=connected.connection.name, sync_from=date(2026, 1, 1)
    )
    assert again.connection.id == connected.connection.id
    assert again.connection.sync_from == date(2026, 1, 1)
    assert [c.id for c in connections.active(pool)] == [connected.connection.id]

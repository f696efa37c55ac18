"""``koppel sync --once``: one poll, consumed in-process until every message has an outcome."""

from __future__ import annotations

import subprocess

from psycopg_pool import ConnectionPool

from ops.connect.connecting import Connected
from store import failures, links
from tests.conftest import Sandbox
from tests.pipeline.support import koppel_cli, set_revenue_account, summary, teamleader_part


def sync_once(koppel_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One sync round as the command line runs it (wide, so no reason is wrapped)."""
    return koppel_cli(koppel_env, "sync", "--once")


def test_sync_once_posts_every_booked_invoice_and_credit_note_once_and_exits_0(
    connected: Connected, pool: ConnectionPool, sandbox: Sandbox, koppel_env: dict[str, str]
) -> None:
    # Given the generated account (seed 7): the department's booked invoices (EUR and USD)
    # and credit notes
    department = connected.department.id
    invoices = [
        i
        for i in teamleader_part()["invoices"]
        if i["department"]["id"] == department and i["status"] != "draft"
    ]
    notes = [n for n in teamleader_part()["creditNotes"] if n["department"]["id"] == department]
    assert invoices and notes
    # When one sync round runs
    result = sync_once(koppel_env)
    # Then it succeeds with nothing left for a person
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert failures.listing(pool, connection_id=connected.connection.id) == [], output
    # And each of those documents is one ledger item in Visma, and nothing else is
    counts = links.counts(pool, connected.connection.id)
    assert (counts.get("invoice"), counts.get("credit_note")) == (len(invoices), len(notes))
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (
        len(invoices) + len(notes),
        0,
    )


def test_sync_once_exits_1_and_prints_the_reason_when_an_invoice_cannot_be_posted(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given the 21 % rate is mapped to revenue account 8150, which Visma does not have
    set_revenue_account(pool, connected, "21%", 8150)
    # When one sync round runs
    result = sync_once(koppel_env)
    # Then it exits 1 and prints each failure still open: an invoice's reason names the
    # account, a credit note of such an invoice names the invoice it waited for
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    still_open = failures.listing(pool, connection_id=connected.connection.id, statuses=("open",))
    invoices = [f for f in still_open if f.document_type == "invoice"]
    notes = [f for f in still_open if f.document_type != "invoice"]
    assert invoices and all("account 8150" in f.reason for f in invoices), output
    assert all("which is not posted in Visma yet" in f.reason for f in notes), output
    printed = [line for line in result.stdout.splitlines() if line.startswith("failed: ")]
    assert sorted(printed) == sorted(f"failed: {f.reason}" for f in still_open), output
    assert f"{len(still_open)} failed, 0 poll errors" in result.stdout
    # (Dramatiq logs the failures' stack traces on stderr; what a person reads has none)
    assert "Traceback" not in result.stdout

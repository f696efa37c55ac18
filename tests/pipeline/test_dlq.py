"""``koppel dlq``: dead letters listed with a reason, shown with their history, requeued after
the cause is fixed (posted once) or coming back when it is not, purged — the ``.XQ`` queues
and the ``failures`` table kept in step. Real RabbitMQ, PostgreSQL and simulators."""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import kombu
import pytest
from amqp.exceptions import NotFound
from click.testing import CliRunner, Result
from psycopg_pool import ConnectionPool

from config import Settings
from consumers.app import get_broker
from contracts import queues
from contracts.broker import dramatiq_message
from contracts.messages import InvoiceChanged
from ops.cli import main
from ops.connect.connecting import Connected
from ops.dlq import actions as dlq_actions
from ops.dlq.queue import fresh_message, peek
from store import document_history, failures, mappings, outcomes
from store.failures import Failure
from tests.conftest import Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    consumers_running,
    dead_letters,
    koppel_cli,
    outcome,
    send,
    set_revenue_account,
    summary,
    wait_for,
    wait_settled,
)

#: The consumers in this process talk through spec-checked clients.
pytestmark = pytest.mark.usefixtures("checked_runtime", "wide_terminal")

#: A revenue account the Visma company does not have.
MISSING_ACCOUNT = 8150


def dlq(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["dlq", *args], input=input, catch_exceptions=False)


def books_to_rate(invoice: dict[str, Any], rate_id: str) -> bool:
    """A line of this tax rate books to the rate's revenue account (a line with a product
    category books to the category's)."""
    return any(
        line["tax"]["id"] == rate_id and line.get("product_category") is None
        for group in invoice["grouped_lines"]
        for line in group["line_items"]
    )


@pytest.fixture
def original_21(pool: ConnectionPool, connected: Connected) -> mappings.VatRow:
    """The 21 % rate's mapping as proposed (a revenue account Visma has)."""
    rows = mappings.vat_rows(pool, connected.connection.id)
    return next(row for row in rows if row.description == "21%")


@pytest.fixture
def dead_invoice(
    pool: ConnectionPool, connected: Connected, original_21: mappings.VatRow
) -> Iterator[InvoiceChanged]:
    """A booked invoice with 21 % lines, dead-lettered because 21 % books to account 8150."""
    set_revenue_account(pool, connected, "21%", MISSING_ACCOUNT)
    invoice = next(i for i in booked(connected) if books_to_rate(i, original_21.tax_rate_id))
    message = changed(connected, invoice)
    with consumers_running(queues.INVOICES):
        send(pool, message)
        wait_settled(pool)
        wait_for(lambda: dead_letters(queues.INVOICES) == 1, what="the dead letter in the XQ")
    assert outcome(pool, message) == "failed"
    yield message


def listed_ids(output: str) -> list[int]:
    """The ids in the first column of ``dlq list --wide``'s table."""
    return [int(found) for found in re.findall(r"^│\s*(\d+)\s*│", output, re.MULTILINE)]


def row_line(output: str, failure_id: int) -> str:
    return next(line for line in output.splitlines() if re.match(rf"│\s*{failure_id}\s*│", line))


def open_rows(pool: ConnectionPool) -> list[Failure]:
    return failures.listing(pool, statuses=("open",))


def events_of(pool: ConnectionPool, connected: Connected, message: InvoiceChanged) -> list[str]:
    timeline = document_history.timeline(
        pool, connected.connection.id, "invoice", message.document_id
    )
    return [event.event for event in timeline]


def only_open(pool: ConnectionPool) -> Failure:
    rows = open_rows(pool)
    assert len(rows) == 1, rows
    return rows[0]


def fix_account(pool: ConnectionPool, connected: Connected, row: mappings.VatRow) -> None:
    set_revenue_account(pool, connected, "21%", row.revenue_account)


def test_list_shows_the_dead_letter_with_the_reason_naming_the_missing_account(
    pool: ConnectionPool, connected: Connected, dead_invoice: InvoiceChanged
) -> None:
    failure = only_open(pool)
    result = dlq("list", "--wide")
    assert result.exit_code == 0, result.output
    line = row_line(result.output, failure.id)
    assert str(MISSING_ACCOUNT) in line
    assert "test" in line and "invoices" in line and dead_invoice.document_id in line
    assert "open" in line and "yes" in line  # the status, and its message is in the XQ
    # --reason filters by substring, in any case; --connection by name
    chosen = dlq("list", "--wide", "--reason", "ACCOUNT 8150", "--connection", "test")
    assert listed_ids(chosen.output) == [failure.id]
    assert "No dead letters." in dlq("list", "--reason", "no such reason at all").output


def test_show_prints_the_message_and_the_documents_history(
    pool: ConnectionPool, dead_invoice: InvoiceChanged
) -> None:
    failure = only_open(pool)
    result = dlq("show", str(failure.id))
    assert result.exit_code == 0, result.output
    assert str(MISSING_ACCOUNT) in result.output
    assert dead_invoice.dedupe_key in result.output
    assert failure.message["message_id"] in result.output  # the envelope
    assert "History" in result.output and "failed" in result.output


def test_show_of_an_unknown_id_says_so_and_exits_2(pool: ConnectionPool) -> None:
    result = dlq("show", "999999")
    assert result.exit_code == 2
    assert "no dead letter with id 999999" in result.output


def test_a_requeued_dead_letter_whose_cause_was_fixed_posts_once(
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    dead_invoice: InvoiceChanged,
    original_21: mappings.VatRow,
) -> None:
    failure = only_open(pool)
    # Given the bookkeeper mapped 21 % to an account Visma has
    fix_account(pool, connected, original_21)
    with consumers_running(queues.INVOICES):
        # When the dead letter is requeued
        result = dlq("requeue", str(failure.id))
        assert result.exit_code == 0, result.output
        assert "1 requeued" in result.output
        wait_settled(pool)
    # Then it is posted once, nothing is left in the XQ or the list
    assert outcome(pool, dead_invoice) == "posted"
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (1, 0)
    assert dead_letters(queues.INVOICES) == 0
    assert failures.get(pool, failure.id).status == "requeued"  # type: ignore[union-attr]
    assert open_rows(pool) == []
    assert "No dead letters." in dlq("list").output
    events = events_of(pool, connected, dead_invoice)
    assert events == ["failed", "requeued", "posted"]


def test_a_requeue_makes_workers_reread_a_fix_their_cache_cannot_see(
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    dead_invoice: InvoiceChanged,
    original_21: mappings.VatRow,
) -> None:
    failure = only_open(pool)
    # Given the workers' cache was reloaded moments ago, when the invoice failed (a failing
    # translation forces no other reload for MIN_RELOAD_S, 30 s),
    with consumers_running(queues.INVOICES):
        # and a fix made where no Koppel command sees it (as an account created in Visma)
        with pool.connection() as conn:
            conn.execute(
                "UPDATE vat_mappings SET revenue_account = %s"
                " WHERE connection_id = %s AND tax_rate_id = %s",
                [original_21.revenue_account, connected.connection.id, original_21.tax_rate_id],
            )
        # When the bookkeeper requeues the dead letter at once
        assert dlq("requeue", str(failure.id)).exit_code == 0
        wait_settled(pool)
    # Then the worker reloaded before translating, and the invoice is posted
    assert outcome(pool, dead_invoice) == "posted"
    assert summary(sandbox)["duplicate_ledger_items"] == 0
    assert open_rows(pool) == []


def test_a_requeued_dead_letter_whose_cause_remains_comes_back_to_the_list(
    pool: ConnectionPool, sandbox: Sandbox, dead_invoice: InvoiceChanged
) -> None:
    failure = only_open(pool)
    with consumers_running(queues.INVOICES):
        # When it is requeued with 21 % still booking to 8150
        result = dlq("requeue", "--all")
        assert result.exit_code == 0, result.output
        wait_for(lambda: len(open_rows(pool)) == 1, what="the dead letter coming back")
        wait_for(lambda: dead_letters(queues.INVOICES) == 1, what="one dead letter in the XQ")
    # Then it is a new open row with the same reason, and the old one is marked requeued
    back = only_open(pool)
    assert back.id != failure.id and back.dedupe_key == failure.dedupe_key
    assert str(MISSING_ACCOUNT) in back.reason and back.attempts >= 1
    assert back.message["message_id"] != failure.message["message_id"]
    assert failures.get(pool, failure.id).status == "requeued"  # type: ignore[union-attr]
    # and the XQ holds exactly that one message, listed under the new id
    assert [letter.message_id for letter in peek(pool_settings())] == [back.message["message_id"]]
    assert outcome(pool, dead_invoice) == "failed"
    assert summary(sandbox)["ledger_items"] == 0
    assert listed_ids(dlq("list", "--wide").output) == [back.id]


def test_a_requeued_message_starts_with_no_retries_and_a_fresh_timestamp() -> None:
    # Given a dead letter that used up its retries and is two days old
    two_days_ms = 2 * 24 * 3600 * 1000
    old = {
        "queue_name": "invoices.XQ",
        "actor_name": "invoices",
        "args": [{"document_id": "abc"}],
        "kwargs": {},
        "options": {"retries": 20, "max_retries": 20},
        "message_id": "old-id",
        "message_timestamp": int(time.time() * 1000) - two_days_ms,
    }
    # When it is made fresh for a requeue
    fresh = fresh_message(queues.INVOICES, old).asdict()
    # Then its retry count and age start again, for the same actor and body
    assert fresh["options"].get("retries", 0) == 0
    assert abs(fresh["message_timestamp"] - time.time() * 1000) < 60_000
    assert fresh["message_id"] != "old-id"
    assert (fresh["queue_name"], fresh["actor_name"]) == (queues.INVOICES, "invoices")
    assert list(fresh["args"]) == old["args"]


def pool_settings() -> Settings:
    from config import get_settings

    return get_settings()


def test_a_dry_run_requeue_prints_what_it_would_do_and_changes_nothing(
    pool: ConnectionPool, dead_invoice: InvoiceChanged
) -> None:
    failure = only_open(pool)
    result = dlq("requeue", "--reason", "8150", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"would requeue: {failure.id} " in result.output
    assert only_open(pool) == failure
    assert dead_letters(queues.INVOICES) == 1
    assert dead_letters_main_queue() == 0
    assert outcome(pool, dead_invoice) == "failed"


def dead_letters_main_queue() -> int:
    """Messages waiting in the invoices queue and its delay queue (what a requeue adds)."""
    total = 0
    with kombu.Connection(pool_settings().broker_url) as connection:
        for name in (queues.INVOICES, queues.delay_queue(queues.INVOICES)):
            # A queue never declared has had nothing published to it.
            with contextlib.suppress(NotFound):
                declared = connection.channel().queue_declare(queue=name, passive=True)
                total += declared.message_count
    return total


def test_purge_empties_the_xq_and_the_list_and_keeps_the_story(
    pool: ConnectionPool, connected: Connected, dead_invoice: InvoiceChanged
) -> None:
    failure = only_open(pool)
    # Without --yes it asks, and "no" changes nothing
    assert "Nothing purged." in dlq("purge", input="n\n").output
    assert dead_letters(queues.INVOICES) == 1
    result = dlq("purge", "--yes")
    assert result.exit_code == 0, result.output
    assert "1 purged" in result.output
    assert dead_letters(queues.INVOICES) == 0
    assert failures.get(pool, failure.id).status == "purged"  # type: ignore[union-attr]
    assert "No dead letters." in dlq("list").output
    events = events_of(pool, connected, dead_invoice)
    assert events[-1] == "purged"


def test_a_dead_letter_whose_row_was_never_written_is_adopted_and_can_be_requeued(
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    dead_invoice: InvoiceChanged,
    original_21: mappings.VatRow,
) -> None:
    # Given the XQ holds the message but the table lost its row (the write had failed)
    with pool.connection() as conn:
        conn.execute("DELETE FROM failures")
    # When the list is read, the dead letter is adopted as an open row
    result = dlq("list")
    assert result.exit_code == 0, result.output
    assert "Adopted 1 dead letter" in result.output
    adopted = only_open(pool)
    assert adopted.dedupe_key == dead_invoice.dedupe_key and adopted.error_class == "Unrecorded"
    # And once the cause is fixed, requeueing it posts once and empties the XQ
    fix_account(pool, connected, original_21)
    with consumers_running(queues.INVOICES):
        assert dlq("requeue", str(adopted.id)).exit_code == 0
        wait_settled(pool)
    assert outcome(pool, dead_invoice) == "posted"
    assert (summary(sandbox)["ledger_items"], dead_letters(queues.INVOICES)) == (1, 0)


def test_a_dead_letter_gone_from_the_xq_is_requeued_from_its_stored_envelope(
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    settings: Settings,
    dead_invoice: InvoiceChanged,
    original_21: mappings.VatRow,
) -> None:
    # Given someone emptied the XQ by hand
    broker = get_broker()

    broker.channel.queue_purge(queues.dead_letter_queue(queues.INVOICES))
    failure = only_open(pool)
    line = row_line(dlq("list", "--wide").output, failure.id)
    assert "no (stored)" in line
    # When the cause is fixed and it is requeued, it posts once from the table's copy
    fix_account(pool, connected, original_21)
    with consumers_running(queues.INVOICES):
        assert dlq("requeue", str(failure.id)).exit_code == 0
        wait_settled(pool)
    assert outcome(pool, dead_invoice) == "posted"
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (1, 0)


def test_requeue_and_purge_refuse_a_row_that_is_not_open_and_exit_1(
    pool: ConnectionPool, dead_invoice: InvoiceChanged
) -> None:
    failure = only_open(pool)
    assert dlq("requeue").exit_code == 2  # nothing chosen: a usage error
    assert dlq("purge", "--yes", str(failure.id)).exit_code == 0
    result = dlq("requeue", str(failure.id))
    assert result.exit_code == 1
    assert f"not requeued: {failure.id} is purged already" in result.output
    assert dead_letters_main_queue() == 0
    # Purging it again is refused the same way: exit 1, not success
    again = dlq("purge", "--yes", str(failure.id))
    assert again.exit_code == 1, again.output
    assert f"not purged: {failure.id} is purged already" in again.output


def test_a_document_needing_attention_is_listed_as_such_and_never_requeued(
    pool: ConnectionPool, connected: Connected
) -> None:
    # Given a posted invoice that changed in Teamleader afterwards (a person must decide)
    message = changed(connected, booked(connected)[0])
    detail = "Teamleader invoice changed after it was posted; correct it in Visma by hand."
    envelope = dramatiq_message(message).asdict()
    needs = outcomes.Failure("NeedsAttention", detail, envelope, status="attention")
    outcomes.record(pool, message, "attention", detail, {}, needs)
    [row] = failures.listing(pool, statuses=("attention",))
    # Then the list marks it, and neither an id nor --all requeues it
    line = row_line(dlq("list", "--wide").output, row.id)
    assert "needs attention" in line and "NeedsAttention" in line
    refused = dlq("requeue", str(row.id))
    assert refused.exit_code == 1 and "needs attention in Visma or Teamleader" in refused.output
    assert "Nothing to requeue." in dlq("requeue", "--all").output
    assert failures.get(pool, row.id).status == "attention"  # type: ignore[union-attr]
    assert dead_letters_main_queue() == 0


def test_a_reason_holding_square_brackets_is_printed_verbatim(
    pool: ConnectionPool, connected: Connected
) -> None:
    # Given a dead letter whose reason quotes names with brackets (rich markup would eat "[b]"
    # and raise on "[/]")
    message = changed(connected, booked(connected)[0])
    reason = "Visma has no account [b]8150 for article Widget [/] 5"
    envelope = dramatiq_message(message).asdict()
    outcomes.record(
        pool, message, "failed", reason, {}, outcomes.Failure("DataError", reason, envelope)
    )
    [row] = open_rows(pool)
    # Then list and show print it as it is
    listed = dlq("list", "--wide", "--reason", "widget")
    assert listed.exit_code == 0, listed.output
    assert reason in row_line(listed.output, row.id)
    shown = dlq("show", str(row.id))
    assert shown.exit_code == 0, shown.output
    assert reason in shown.output


def test_a_requeue_interrupted_before_its_publish_is_reopened_not_lost(
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    dead_invoice: InvoiceChanged,
    original_21: mappings.VatRow,
) -> None:
    # Given a requeue that marked its row and then died before publishing
    failure = only_open(pool)
    assert failures.mark_requeued(pool, failure)
    # While it could still be under way, the list leaves it alone
    assert listed_ids(dlq("list", "--wide").output) == []
    # After the grace period, the dead letter still in the XQ is open again, same reason;
    # retrying the requeue by the old id says which row to requeue instead
    monkeypatch.setattr(dlq_actions, "REQUEUE_GRACE_S", 0.0)
    retried = dlq("requeue", str(failure.id))
    back = only_open(pool)
    assert back.id != failure.id and str(MISSING_ACCOUNT) in back.reason
    assert retried.exit_code == 1, retried.output
    assert f"adopted from .XQ: ids {back.id}" in retried.output
    assert f"open again as {back.id}" in retried.output
    assert listed_ids(dlq("list", "--wide").output) == [back.id]
    assert outcome(pool, dead_invoice) == "failed"
    # And fixed and requeued, it posts once
    fix_account(pool, connected, original_21)
    with consumers_running(queues.INVOICES):
        assert dlq("requeue", str(back.id)).exit_code == 0
        wait_settled(pool)
    visma = summary(sandbox)
    assert (visma["ledger_items"], visma["duplicate_ledger_items"]) == (1, 0)
    assert dead_letters(queues.INVOICES) == 0


def test_an_old_dead_letter_a_requeue_left_in_the_xq_is_dropped_once_it_came_back(
    pool: ConnectionPool, settings: Settings, dead_invoice: InvoiceChanged
) -> None:
    failure = only_open(pool)
    with consumers_running(queues.INVOICES):
        assert dlq("requeue", str(failure.id)).exit_code == 0
        wait_for(lambda: len(open_rows(pool)) == 1, what="the dead letter coming back")
        wait_for(lambda: dead_letters(queues.INVOICES) == 1, what="one dead letter in the XQ")
    back = only_open(pool)
    # Given the old message is in the XQ again (the requeue died before taking it out)
    with kombu.Connection(settings.broker_url) as connection:
        kombu.Producer(connection.default_channel).publish(
            json.dumps(failure.message), exchange="", routing_key="invoices.XQ"
        )
    wait_for(lambda: dead_letters(queues.INVOICES) == 2, what="the old dead letter back")
    # When the list is read, the old one is dropped (a newer failure of it is listed)
    result = dlq("list", "--wide")
    assert "Removed 1 stale dead letter" in result.output
    assert listed_ids(result.output) == [back.id]
    assert [letter.message_id for letter in peek(settings)] == [back.message["message_id"]]


# -- output that fits where operators read it (issue 11) ---------------------------------------
#: A reason as long as Koppel's longest, with brackets rich must not eat.
LONG_REASON = (
    "Visma has no ledger account 8150 [b] for the revenue of tax rate 21% (mapping of"
    " connection 'test'); create the account in Visma, or map 21% to an account Visma has"
    " with `koppel mappings set --tax-rate 21% --account NNNN`, then `koppel dlq requeue ID`;"
    " until then every invoice with a 21% line lands here."
)


def record_failure(
    pool: ConnectionPool, message: InvoiceChanged, reason: str, status: str = "open"
) -> int:
    envelope = dramatiq_message(message).asdict()
    recorded = outcomes.record(
        pool,
        message,
        "attention" if status == "attention" else "failed",
        reason,
        {},
        outcomes.Failure("DataError", reason, envelope, status=status),
    )
    assert recorded is not None
    return recorded


def too_long(output: str, columns: int = 80) -> list[str]:
    return [line for line in output.splitlines() if len(line) > columns]


def test_list_fits_80_columns_and_wide_and_json_show_every_value_whole(
    pool: ConnectionPool, connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given an open dead letter with a long reason and one needing attention, both of
    # documents with 36-character ids
    first, second = (changed(connected, invoice) for invoice in booked(connected)[:2])
    dead = record_failure(pool, first, LONG_REASON)
    attention = record_failure(pool, second, "Changed after posting. " * 8, status="attention")
    # When the list is read by the real CLI at 80 columns (a pipe, cron mail)
    narrow = koppel_cli(koppel_env, "dlq", "list", columns=80)
    # Then every line fits, the ids are short and each reason is cut to one line
    assert narrow.returncode == 0, narrow.stdout + narrow.stderr
    assert too_long(narrow.stdout) == [], narrow.stdout
    lines = narrow.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(f"{dead} "))
    assert f"invoice {first.document_id[:8]}…" in lines[row] and "open" in lines[row]
    assert lines[row + 1].strip().startswith("Visma has no ledger account 8150 [b]")
    assert lines[row + 1].endswith("…") and "lands here" not in narrow.stdout
    assert any(line.startswith(f"{attention} ") and "attention" in line for line in lines)
    # And --wide holds every value whole (on the row's line, given the width)
    wide = koppel_cli(koppel_env, "dlq", "list", "--wide", columns=500)
    assert LONG_REASON in row_line(wide.stdout, dead)
    assert first.document_id in row_line(wide.stdout, dead)
    # And --json parses and holds the full reason, for scripts
    as_json = koppel_cli(koppel_env, "dlq", "list", "--json", columns=80)
    assert as_json.returncode == 0, as_json.stderr
    rows = {row["id"]: row for row in json.loads(as_json.stdout)}
    assert rows.keys() == {dead, attention}
    assert rows[dead]["reason"] == LONG_REASON
    assert rows[dead]["document_id"] == first.document_id
    assert rows[dead]["connection"] == "test" and rows[dead]["orphan"] is False
    assert rows[attention]["status"] == "attention"


def test_reason_matches_percent_underscore_and_backslash_literally(
    pool: ConnectionPool, connected: Connected
) -> None:
    # Given dead letters whose reasons hold LIKE's wildcards, its escape character, or none
    reasons = {
        "percent": "tax rate 21% has no VAT code",
        "underscore": "account_8150 is missing",
        "backslash": r"article C:\widgets is unknown",
        "plain": "customer has no postal code",
    }
    invoices = booked(connected)[: len(reasons)]
    ids = {
        name: record_failure(pool, changed(connected, invoice), reason)
        for (name, reason), invoice in zip(reasons.items(), invoices, strict=True)
    }

    def matching(text: str) -> set[int]:
        result = dlq("list", "--json", "--reason", text)
        assert result.exit_code == 0, result.output
        return {row["id"] for row in json.loads(result.output)}

    # Then each is matched as text, not as a pattern
    assert matching("%") == {ids["percent"]}
    assert matching("1%") == {ids["percent"]}
    assert matching("_") == {ids["underscore"]}
    assert matching("\\") == {ids["backslash"]}
    assert matching("%%") == set()
    assert matching("code") == {ids["percent"], ids["plain"]}
    # And requeue and purge choose by the same rule
    dry = dlq("requeue", "--reason", "%", "--dry-run")
    assert f"would requeue: {ids['percent']} " in dry.output and "1 would be" in dry.output


def publish_dead_letter(settings: Settings, message: InvoiceChanged) -> str:
    """``message`` straight into the invoices ``.XQ``, as Dramatiq dead-letters it (its
    envelope unchanged); its Dramatiq message id."""
    envelope = dramatiq_message(message)
    with kombu.Connection(settings.broker_url) as connection:
        kombu.Producer(connection.default_channel).publish(
            envelope.encode(), exchange="", routing_key=queues.dead_letter_queue(queues.INVOICES)
        )
    return envelope.message_id


def test_a_dead_letter_of_a_connection_not_in_the_database_is_an_orphan_that_purge_removes(
    pool: ConnectionPool, connected: Connected, settings: Settings, koppel_env: dict[str, str]
) -> None:
    # Given a dead letter in the XQ naming a connection this database does not have (it was
    # removed, or the database recreated, while the message waited in RabbitMQ)
    gone = uuid.uuid4()
    invoice = booked(connected)[0]
    message = InvoiceChanged(
        connection_id=gone,
        teamleader_id=invoice["id"],
        updated_at=datetime.fromisoformat(invoice["updated_at"]),
    )
    message_id = publish_dead_letter(settings, message)
    # (read with kombu, as `koppel dlq` reads: this process's Dramatiq broker may hold a
    # channel an earlier test's reconnect closed)
    wait_for(lambda: len(peek(settings, [queues.INVOICES])) == 1, what="the orphan in the XQ")
    # When the list is read by the real CLI
    listed = koppel_cli(koppel_env, "dlq", "list", columns=80)
    # Then it is listed as an orphan naming its connection, without a traceback
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Traceback" not in listed.stderr and "Error" not in listed.stderr, listed.stderr
    assert f"orphan {str(gone)[:8]}…" in listed.stdout, listed.stdout
    assert too_long(listed.stdout) == [], listed.stdout
    [row] = json.loads(koppel_cli(koppel_env, "dlq", "list", "--json").stdout)
    assert (row["orphan"], row["connection_id"], row["connection"]) == (True, str(gone), None)
    assert row["message_id"] == message_id and row["in_xq"] is True
    assert str(gone) in row["reason"]
    # And a requeue is refused (nothing could process it), exit 1
    refused = koppel_cli(koppel_env, "dlq", "requeue", str(row["id"]))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"not requeued: {row['id']} names connection {gone}" in refused.stdout
    # And `dlq purge --orphans` removes it from the XQ and the list
    purged = koppel_cli(koppel_env, "dlq", "purge", "--orphans", "--yes")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert "1 purged" in purged.stdout
    assert peek(settings, [queues.INVOICES]) == []
    assert failures.get(pool, row["id"]).status == "purged"  # type: ignore[union-attr]
    assert "No dead letters." in koppel_cli(koppel_env, "dlq", "list").stdout

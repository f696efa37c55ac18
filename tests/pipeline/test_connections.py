"""``koppel connections list | pause | resume | remove`` through the real CLI: the real
poller (a ``koppel poll`` process, or its round function), consumers in this process on the
real broker posting to the Visma simulator."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from psycopg_pool import ConnectionPool

from config import Settings
from consumers.app import get_broker
from consumers.runtime import Runtime
from contracts import queues
from ops.connect.connecting import Connected, connect_sandbox
from producers.pokes import poke
from producers.poller import CONTACTS, INVOICES, VISMA_LEDGER_ITEMS, poll_connection
from store import connections, cursors, document_history, links
from tests.conftest import ROOT, TODAY, Sandbox
from tests.pipeline.support import (
    booked,
    changed,
    connection_clients,
    consumers_running,
    koppel_cli,
    pay_in_visma,
    send,
    start_koppel,
    summary,
    teamleader_part,
    wait_for,
    wait_settled,
)

#: The consumers in this process talk through spec-checked clients that record Visma calls.
pytestmark = pytest.mark.usefixtures("checked_runtime")


def koppel(env: dict[str, str], *args: str, columns: int = 250) -> subprocess.CompletedProcess[str]:
    return koppel_cli(env, *args, timeout_s=120, columns=columns)


def second_connection(
    settings: Settings, pool: ConnectionPool, connected: Connected, name: str = "other"
) -> Connected:
    """A connection of the account's other department, on the same simulators."""
    other = next(
        d["id"] for d in teamleader_part()["departments"] if d["id"] != connected.department.id
    )
    return connect_sandbox(
        settings, pool, name=name, department=other, sync_from=TODAY - timedelta(days=800)
    )


def poll_and_consume(
    settings: Settings,
    pool: ConnectionPool,
    connected: Connected,
    stream: str = INVOICES,
    queue: str = queues.INVOICES,
) -> int:
    """One round of ``stream`` by the real poller, consumed until settled; what it published."""
    broker = get_broker()

    with (
        consumers_running(queue),
        connection_clients(settings, pool, connected.connection) as clients,
    ):
        report = poll_connection(
            settings, pool, broker, connected.connection, clients, streams=(stream,)
        )
        assert not report.failed, report
        wait_settled(pool, timeout_s=120)
    return report.published


def published_for(pool: ConnectionPool, connected: Connected) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM messages WHERE connection_id = %s",
            [connected.connection.id],
        ).fetchone()
    assert row is not None
    return int(row["n"])


def visma_writes(runtime: Runtime) -> list[tuple[str, str]]:
    requests = runtime.clients.visma_requests  # type: ignore[attr-defined]
    return [(method, path) for method, path in requests if method != "GET"]


def koppel_without_terminal(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``koppel ARGS`` with nothing to ask on (as from cron or a pipe)."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def tokens_of(pool: ConnectionPool, connected: Connected) -> int:
    with pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM tokens WHERE connection_id = %s", [connected.connection.id]
        ).fetchone()
    assert row is not None
    return int(row["n"])


def on_terminal(env: dict[str, str], *args: str, answer: str) -> tuple[int, str]:
    """``koppel ARGS`` on a pseudo-terminal: wait for its question, answer it; the exit
    status and everything it wrote."""
    main_fd, sub_fd = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=sub_fd,
        stdout=sub_fd,
        stderr=sub_fd,
        start_new_session=True,
    )
    os.close(sub_fd)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:  # the terminal closed: the process ended
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"[y/N]" in output:
                os.write(main_fd, answer.encode() + b"\n")
                answered = True
        return process.wait(timeout=60), output.decode(errors="replace")
    finally:
        os.close(main_fd)
        if process.poll() is None:
            process.kill()


# -- list ------------------------------------------------------------------------------------
def test_list_fits_80_columns_and_json_and_wide_give_every_value_whole(
    settings: Settings, pool: ConnectionPool, connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given two connections, one paused, the other with a long name
    long_name = "the webshop's connection for the Belgian department, booked since 2024"
    other = second_connection(settings, pool, connected, name=long_name)
    connections.pause(pool, connected.connection.id)
    # When they are listed at 80 columns
    listed = koppel(koppel_env, "connections", "list", columns=80)
    # Then no line is longer than 80, and each shows its short id and state on one row
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, listed.stdout
    first = next(line for line in lines if str(connected.connection.id)[:8] in line)
    second = next(line for line in lines if str(other.connection.id)[:8] in line)
    assert "paused" in first and "test" in first
    assert "active" in second and "the webshop" in second
    assert long_name not in listed.stdout
    assert str(connected.connection.id) not in listed.stdout
    # And --json is a JSON array with every value whole
    as_json = koppel(koppel_env, "connections", "list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = {row["id"]: row for row in json.loads(as_json.stdout)}
    assert rows[str(other.connection.id)]["name"] == long_name
    assert rows[str(other.connection.id)]["state"] == "active"
    assert rows[str(connected.connection.id)]["state"] == "paused"
    assert rows[str(connected.connection.id)]["paused_at"] is not None
    assert rows[str(other.connection.id)]["teamleader_department_id"] == other.department.id
    assert rows[str(other.connection.id)]["poll_interval_s"] == other.connection.poll_interval_s
    # And --wide shows the whole id and name
    wide = koppel(koppel_env, "connections", "list", "--wide")
    assert str(other.connection.id) in wide.stdout and long_name in wide.stdout


# -- pause and resume ------------------------------------------------------------------------
def test_a_paused_connection_is_not_polled_while_another_still_syncs_and_status_says_paused(
    settings: Settings, pool: ConnectionPool, connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given two connections, and "test" paused by the start of its id
    other = second_connection(settings, pool, connected)
    short = str(connected.connection.id)[:8] + "…"
    paused = koppel(koppel_env, "connections", "pause", short)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    assert "Paused connection 'test'" in paused.stdout
    # When the poller runs a round of every connection
    round_ = koppel(koppel_env, "poll", "--once")
    # Then it publishes nothing for the paused one and the other's documents as usual
    assert round_.returncode == 0, round_.stdout + round_.stderr
    assert "paused, not polled" in round_.stdout
    assert published_for(pool, connected) == 0
    assert cursors.all_for(pool, connected.connection.id) == []
    assert published_for(pool, other) > 0
    # And status says it is paused, without calling its silence a problem
    status = koppel(koppel_env, "status")
    assert "test: paused, not polled" in status.stdout, status.stdout
    assert "'test'" not in status.stderr, status.stderr
    # And pausing it again changes nothing and says so
    again = koppel(koppel_env, "connections", "pause", "test")
    assert again.returncode == 0 and "already" in again.stdout, again.stdout + again.stderr


def test_a_running_poller_ignores_a_webhook_poke_for_a_paused_connection(
    settings: Settings, pool: ConnectionPool, connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given a running `koppel poll`, "test" paused and "other" polled once
    other = second_connection(settings, pool, connected)
    connections.pause(pool, connected.connection.id)
    poller = start_koppel(koppel_env, "poll")
    try:
        wait_for(
            lambda: len(cursors.all_for(pool, other.connection.id)) == 5,
            timeout_s=60,
            what="a first round of the other connection",
        )
        before = cursors.get(pool, other.connection.id, CONTACTS).last_success_at
        assert before is not None
        # When webhooks poke the paused connection, then the other one
        poke(pool, connected.connection.id, CONTACTS)
        poke(pool, other.connection.id, CONTACTS)
        # Then the other one is polled at once (its interval is 15 minutes) ...
        wait_for(
            lambda: (
                (cursors.get(pool, other.connection.id, CONTACTS).last_success_at or before)
                > before
            ),
            timeout_s=30,
            what="the poke's round of the other connection",
        )
    finally:
        poller.terminate()
        poller.wait(timeout=30)
    # ... and the paused one, poked first, not at all
    assert published_for(pool, connected) == 0
    assert cursors.all_for(pool, connected.connection.id) == []


def test_a_queued_message_of_a_paused_connection_is_skipped_without_effect_and_read_again_on_resume(
    settings: Settings,
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    checked_runtime: Runtime,
    koppel_env: dict[str, str],
) -> None:
    broker = get_broker()

    # Given the booked invoices polled (the cursor moved past them) but not consumed yet
    with connection_clients(settings, pool, connected.connection) as clients:
        report = poll_connection(
            settings, pool, broker, connected.connection, clients, streams=(INVOICES,)
        )
    assert report.published >= len(booked(connected)) > 0
    # When the connection is paused and the consumers get its messages
    assert koppel(koppel_env, "connections", "pause", "test").returncode == 0
    with consumers_running(queues.INVOICES):
        wait_settled(pool, timeout_s=120)
    # Then each is acknowledged without effect: no Visma write, "skipped" in its history
    assert visma_writes(checked_runtime) == []
    assert summary(sandbox)["ledger_items"] == 0
    invoice = booked(connected)[0]
    events = document_history.timeline(pool, connected.connection.id, "invoice", invoice["id"])
    assert [(e.event, e.detail.get("detail")) for e in events] == [
        ("queued", None),
        ("skipped", "connection paused"),
    ]
    # When it is resumed
    resumed = koppel(koppel_env, "connections", "resume", "test")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"reads again the {report.published} documents" in resumed.stdout
    # Then the next round publishes them again and they are posted, once each
    assert poll_and_consume(settings, pool, connected) == report.published
    for each in booked(connected):
        assert links.get(pool, connected.connection.id, "invoice", each["id"]) is not None
    assert summary(sandbox)["ledger_items"] >= len(booked(connected))
    assert summary(sandbox)["duplicate_ledger_items"] == 0
    # And resuming an active connection changes nothing
    again = koppel(koppel_env, "connections", "resume", "test")
    assert again.returncode == 0 and "is not paused" in again.stdout


def test_payments_skipped_while_paused_reach_teamleader_after_resume(
    settings: Settings,
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    koppel_env: dict[str, str],
) -> None:
    broker = get_broker()

    # No overlap: a round reads only from the newest change seen, so what the first payment
    # needs after the second moved the cursor is the resume's rewind.
    exact = settings.model_copy(update={"poll_overlap_s": 0})

    def poll_ledger_items() -> int:
        with connection_clients(settings, pool, connected.connection) as clients:
            report = poll_connection(
                exact, pool, broker, connected.connection, clients, streams=(VISMA_LEDGER_ITEMS,)
            )
        assert not report.failed, report
        return report.published

    # Given two posted invoices paid in part in Visma, a poll apart, polled but not consumed
    poll_and_consume(settings, pool, connected)
    first, second = [i for i in booked(connected) if i["status"] == "outstanding"][:2]
    paid = []
    for invoice in (first, second):
        link = links.get(pool, connected.connection.id, "invoice", invoice["id"])
        assert link is not None
        paid.append(link.visma_id.lower())
        time.sleep(1.1)  # the second payment's ledger item changes in a later second
        pay_in_visma(sandbox, link.visma_id, Decimal("10.00"))
        assert poll_ledger_items() == 1
    # When the connection is paused and the payments consumer gets them
    assert koppel(koppel_env, "connections", "pause", "test").returncode == 0
    with consumers_running(queues.PAYMENTS):
        wait_settled(pool, timeout_s=60)
    # Then they are skipped: nothing registered in Teamleader
    for item in paid:
        events = document_history.timeline(pool, connected.connection.id, "payment", item)
        assert [e.event for e in events] == ["queued", "skipped"]
    # When it is resumed and the ledger items are polled again
    resumed = koppel(koppel_env, "connections", "resume", "test")
    assert "reads again the 2 documents" in resumed.stdout, resumed.stdout + resumed.stderr
    with consumers_running(queues.PAYMENTS):
        assert poll_ledger_items() == 2
        wait_settled(pool, timeout_s=60)
    # Then both payments are registered on their Teamleader invoices, once
    for invoice in (first, second):
        events = document_history.timeline(pool, connected.connection.id, "invoice", invoice["id"])
        assert [e.event for e in events].count("payment registered") == 1, invoice["id"]


# -- remove ----------------------------------------------------------------------------------
def test_remove_asks_first_then_stops_for_good_deletes_tokens_and_keeps_history(
    settings: Settings,
    pool: ConnectionPool,
    connected: Connected,
    sandbox: Sandbox,
    checked_runtime: Runtime,
    koppel_env: dict[str, str],
) -> None:
    # Given the connection's invoices posted
    poll_and_consume(settings, pool, connected)
    invoice = booked(connected)[0]
    assert links.get(pool, connected.connection.id, "invoice", invoice["id"]) is not None
    assert tokens_of(pool, connected) == 2
    # When remove runs without a terminal and without --yes
    blind = koppel_without_terminal(koppel_env, "connections", "remove", "test")
    # Then it says it needs --yes, exits 2 and removes nothing
    assert blind.returncode == 2, blind.stdout + blind.stderr
    assert "--yes" in blind.stderr and "Traceback" not in blind.stderr
    assert len(blind.stderr.strip().splitlines()) == 1
    assert connections.get(pool, connected.connection.id).state == "active"
    # When it asks on a terminal and is told no
    status, said = on_terminal(koppel_env, "connections", "remove", "test", answer="n")
    # Then it asked, and nothing is removed
    assert status == 1, said
    assert "Remove connection 'test'" in said and "Nothing removed" in said
    assert tokens_of(pool, connected) == 2
    # When it is told yes
    status, said = on_terminal(koppel_env, "connections", "remove", "test", answer="y")
    assert status == 0, said
    assert "Removed connection 'test'" in said
    # Then its tokens and cursors are gone, and it is not listed (but is with --all)
    assert tokens_of(pool, connected) == 0
    assert cursors.all_for(pool, connected.connection.id) == []
    listed = koppel(koppel_env, "connections", "list", "--json")
    assert json.loads(listed.stdout) == []
    everything = json.loads(koppel(koppel_env, "connections", "list", "--all", "--json").stdout)
    assert [(row["name"], row["state"]) for row in everything] == [("test", "removed")]
    # And its history is readable: the posted invoice's timeline
    story = koppel(
        koppel_env,
        "history",
        invoice["invoice_number"],
        "--connection",
        str(connected.connection.id),
        columns=300,
    )
    assert story.returncode == 0, story.stdout + story.stderr
    assert "posted" in story.stdout
    # And it is never polled again
    round_ = koppel(koppel_env, "poll", "--once", "--connection", str(connected.connection.id))
    assert round_.returncode == 0, round_.stdout + round_.stderr
    assert "removed, not polled" in round_.stdout
    # And a message of it still queued is acknowledged without effect
    written = len(visma_writes(checked_runtime))
    late = changed(connected, invoice).model_copy(
        update={"updated_at": datetime(2026, 6, 14, 12, tzinfo=UTC)}
    )
    send(pool, late)
    with consumers_running(queues.INVOICES):
        wait_settled(pool, timeout_s=60)
    events = document_history.timeline(pool, connected.connection.id, "invoice", invoice["id"])
    assert (events[-1].event, events[-1].detail.get("detail")) == ("skipped", "connection removed")
    assert len(visma_writes(checked_runtime)) == written
    # And it cannot be resumed; removing it again says it was removed
    refused = koppel(koppel_env, "connections", "resume", "test")
    assert refused.returncode == 1 and "was removed" in refused.stderr, refused.stderr
    again = koppel(koppel_env, "connections", "remove", str(connected.connection.id), "--yes")
    assert again.returncode == 0 and "already" in again.stdout, again.stdout + again.stderr


def test_a_removed_connections_name_can_be_connected_again_as_a_new_connection(
    settings: Settings, pool: ConnectionPool, connected: Connected, koppel_env: dict[str, str]
) -> None:
    # Given "test" removed
    removed = koppel(koppel_env, "connections", "remove", "test", "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    # When `koppel connect` makes a connection named "test" again
    again = connect_sandbox(settings, pool, name="test", sync_from=TODAY)
    # Then it is a new one, active, and the name means it from now on
    assert again.connection.id != connected.connection.id
    assert again.connection.state == "active"
    assert connections.find(pool, "test").id == again.connection.id
    assert connections.get(pool, connected.connection.id).state == "removed"


def test_an_unknown_connection_is_one_line_naming_the_connections_and_exit_2(
    connected: Connected, koppel_env: dict[str, str]
) -> None:
    result = koppel(koppel_env, "connections", "pause", "nope")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "koppel connections: there is no connection named 'nope' or with such an id"
        " (connections: test)"
    ]

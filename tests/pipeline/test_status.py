"""``koppel status`` on the running system: a real ``koppel poll`` process, real RabbitMQ
queues, the stored grants called at the simulators."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from clients.tokens import TokenPair
from config import Settings
from ops.connecting import Connected
from ops.status import gather
from producers.poller import STREAMS
from store import connections, cursors, health
from store.tokens import PgTokenStore
from tests.conftest import TEST_TOKEN_KEY
from tests.pipeline.support import booked, changed, koppel_cli, send, start_koppel, wait_for

#: The test connection's poll interval (s): silent after twice that.
INTERVAL_S = 4


def koppel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return koppel_cli(env, *args, timeout_s=120)


def all_streams_polled_after(pool: ConnectionPool, connected: Connected, moment: datetime) -> bool:
    polled = cursors.all_for(pool, connected.connection.id)
    return len(polled) == len(STREAMS) and all(
        c.last_success_at is not None and c.last_success_at > moment for c in polled
    )


def test_status_exits_0_while_the_poller_runs_and_1_naming_the_silent_connection_once_it_stopped(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given a connection polled every 4 s by a running `koppel poll`
    connections.update(pool, connected.connection.id, poll_interval_s=INTERVAL_S)
    started = datetime.now(UTC)
    poller = start_koppel(koppel_env, "poll")
    try:
        wait_for(
            lambda: all_streams_polled_after(pool, connected, started),
            timeout_s=60,
            what="a first successful poll of every stream",
        )
        # (a second round, so the poller is past the first round's backlog of the account)
        second = datetime.now(UTC)
        wait_for(
            lambda: all_streams_polled_after(pool, connected, second),
            timeout_s=30,
            what="a second round",
        )
        # When status is asked while it runs
        running = koppel(koppel_env, "status")
        # Then it is healthy
        assert running.returncode == 0, running.stdout + running.stderr
        assert "healthy" in running.stdout
        assert running.stderr == ""
    finally:
        # When the poller stops
        os.killpg(poller.pid, signal.SIGTERM)
        poller.wait(timeout=30)
    polled = cursors.all_for(pool, connected.connection.id)
    last = max(c.last_success_at for c in polled if c.last_success_at)
    # ... and more than twice its interval passes (status says so within that, plus a margin
    # for starting `koppel status` itself)
    answers: list[subprocess.CompletedProcess[str]] = []

    def status_exits_1() -> bool:
        answers.append(koppel(koppel_env, "status"))
        return answers[-1].returncode == 1

    wait_for(
        status_exits_1,
        timeout_s=2 * INTERVAL_S + 10,
        interval_s=0.5,
        what="koppel status exiting 1 for the stopped poller",
    )
    silent = answers[-1]
    # Then status exits 1 with one line naming the connection and since when it is silent
    assert silent.returncode == 1, silent.stdout + silent.stderr
    lines = silent.stderr.strip().splitlines()
    assert len(lines) == 1, silent.stderr
    assert lines[0].startswith("koppel status: connection 'test': no successful poll")
    assert f"since {last.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" in lines[0]
    assert f"twice its {INTERVAL_S} s poll interval" in lines[0]
    # And --json says the same for a machine
    as_json = koppel(koppel_env, "status", "--json")
    assert as_json.returncode == 1
    body = json.loads(as_json.stdout)
    assert body["healthy"] is False
    assert [s["silent"] for s in body["connections"][0]["streams"]] == [True] * len(STREAMS)


def test_a_connection_never_polled_is_healthy_until_twice_its_interval_after_creation(
    connected: Connected, pool: ConnectionPool, settings: Settings
) -> None:
    # Given a connection nobody has polled yet, polled every 60 s
    connection = connections.update(pool, connected.connection.id, poll_interval_s=60)
    created = health.created_at(pool, connection.id)
    # Then it is healthy 119 s after it was created
    young = gather(settings, pool, now=created + timedelta(seconds=119))
    assert young.healthy, young.problems
    # And silent 121 s after, in one line for the whole connection
    old = gather(settings, pool, now=created + timedelta(seconds=121))
    assert old.problems == [
        "connection 'test': no successful poll of any stream since it was created"
        f" {created.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC (2 min, more than twice its 60 s"
        " poll interval); is `koppel poll` running?"
    ]


def test_one_stream_failing_past_twice_the_interval_is_named_with_its_last_error(
    connected: Connected, pool: ConnectionPool, settings: Settings
) -> None:
    # Given every stream polled just now, but the Visma stream's last success 10 min ago and
    # an error since
    connection = connections.update(pool, connected.connection.id, poll_interval_s=60)
    for stream in STREAMS:
        cursors.advance(pool, connection.id, stream, None)
    with pool.connection() as conn:
        conn.execute(
            "UPDATE cursors SET last_success_at = now() - interval '10 minutes'"
            " WHERE connection_id = %s AND stream = 'visma_ledger_items'",
            [connection.id],
        )
    cursors.record_error(pool, connection.id, "visma_ledger_items", "Reading Visma failed: 503")
    # Then only that stream is reported, with its error
    status = gather(settings, pool)
    assert len(status.problems) == 1, status.problems
    assert "stream visma_ledger_items: no successful poll since" in status.problems[0]
    assert "last error: Reading Visma failed: 503" in status.problems[0]


def test_a_refused_grant_makes_status_exit_1_naming_the_service_with_check_auth(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given every stream polled just now
    for stream in STREAMS:
        cursors.advance(pool, connected.connection.id, stream, None)
    # Then the grants work when called
    fine = koppel(koppel_env, "status", "--check-auth")
    assert fine.returncode == 0, fine.stdout + fine.stderr
    # When the Teamleader grant is one Teamleader does not know (revoked, say)
    PgTokenStore(pool, connected.connection.id, "teamleader", TEST_TOKEN_KEY).save(
        TokenPair("revoked", "revoked", datetime.now(UTC) - timedelta(hours=1))
    )
    # Then without a call status cannot know it, and with one it exits 1 naming Teamleader
    assert koppel(koppel_env, "status").returncode == 0
    refused = koppel(koppel_env, "status", "--check-auth")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "koppel status: connection 'test': cannot authenticate with Teamleader"
        " (authorisation refused (invalid_grant); run `koppel connect` again);"
        " authorise it again with `koppel connect`"
    ]


def test_the_poller_recording_a_refused_grant_is_an_authentication_problem(
    connected: Connected, pool: ConnectionPool, settings: Settings
) -> None:
    connection = connected.connection
    for stream in STREAMS:
        cursors.advance(pool, connection.id, stream, None)
    cursors.record_error(
        pool,
        connection.id,
        "visma_ledger_items",
        "Visma refused the authorisation of connection 'test' (invalid_grant); authorise it"
        " again with koppel connect.",
    )
    status = gather(settings, pool)
    assert status.problems == [
        "connection 'test': cannot authenticate with Visma (the last poll was refused);"
        " authorise it again with `koppel connect`"
    ]


def test_queue_depths_count_waiting_messages_and_dead_letters_do_not_fail_the_check(
    connected: Connected, pool: ConnectionPool, settings: Settings
) -> None:
    # Given every stream polled just now and two invoices published with no consumer running
    for stream in STREAMS:
        cursors.advance(pool, connected.connection.id, stream, None)
    send(pool, *(changed(connected, invoice) for invoice in booked(connected)[:2]))
    # And an open dead letter
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO failures (connection_id, queue, document_type, document_id, dedupe_key,"
            " message, error_class, reason) VALUES (%s, 'invoices', 'invoice', 'x', 'k', '{}',"
            " 'DataError', 'no account 8150')",
            [connected.connection.id],
        )
    status = gather(settings, pool)
    # Then the invoices queue holds the two, and they wait for an outcome
    invoices = next(q for q in status.queues if q.queue.name == "invoices")
    assert (invoices.queue.ready, invoices.delayed.ready, invoices.dead.ready) == (2, 0, 0)
    row = status.connections[0]
    assert (row.waiting, row.failures_open, row.failures_attention) == (2, 1, 0)
    # And the dead letter is shown, not an outage
    assert status.healthy, status.problems


def test_status_exits_2_in_one_line_when_rabbitmq_cannot_be_reached(
    connected: Connected, koppel_env: dict[str, str]
) -> None:
    nowhere = "amqp://guest:guest@127.0.0.1:1/"
    result = koppel({**koppel_env, "KOPPEL_BROKER_URL": nowhere}, "status")
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("koppel status: "), result.stderr
    assert "RabbitMQ" in lines[0]


def test_a_stream_error_holding_square_brackets_is_printed_verbatim(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given a stream whose last error quotes names with brackets (rich markup would eat "[b]"
    # and raise on "[/]")
    connection = connections.update(pool, connected.connection.id, poll_interval_s=60)
    for stream in STREAMS:
        cursors.advance(pool, connection.id, stream, None)
    error = "Reading Visma failed: account [b]8150, article Widget [/] 5"
    cursors.record_error(pool, connection.id, "visma_ledger_items", error)
    # Then status prints the table with the error as it is
    result = koppel(koppel_env, "status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert error in result.stdout

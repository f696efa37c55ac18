"""``koppel status`` on the running system: a real ``koppel poll`` process, real RabbitMQ
queues, the stored grants called at the simulators."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from datetime import UTC, datetime, timedelta

from psycopg_pool import ConnectionPool

from clients.tokens import TokenPair
from config import Settings
from ops.connect.connecting import Connected
from ops.status.gather import gather
from producers.poller import STREAMS
from store import connections, cursors, document_history, health
from store.token_store import PgTokenStore
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
    started = document_history.database_now(pool)  # the clock last_success_at is stamped by
    poller = start_koppel(koppel_env, "poll")
    try:
        wait_for(
            lambda: all_streams_polled_after(pool, connected, started),
            timeout_s=60,
            what="a first successful poll of every stream",
        )
        # (a second round, so the poller is past the first round's backlog of the account)
        second = document_history.database_now(pool)
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


# -- the interval really used, columns named for what they measure (issue 11) -----------------
def normalised(text: str) -> str:
    """Words one space apart: a table title wraps where the terminal ends."""
    return " ".join(text.split())


def test_status_shows_the_interval_koppel_poll_runs_at_and_judges_silence_by_it(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given a connection configured for a 900 s interval, polled by `koppel poll --interval-s 2`
    connections.update(pool, connected.connection.id, poll_interval_s=900)
    started = document_history.database_now(pool)  # the clock last_success_at is stamped by
    poller = start_koppel(koppel_env, "poll", "--interval-s", "2")
    try:
        wait_for(
            lambda: all_streams_polled_after(pool, connected, started),
            timeout_s=60,
            what="a first successful poll of every stream",
        )
        second = document_history.database_now(pool)
        wait_for(
            lambda: all_streams_polled_after(pool, connected, second),
            timeout_s=30,
            what="a second round",
        )
        # When status is asked while it runs (at 80 columns)
        running = koppel_cli(koppel_env, "status", columns=80)
        as_json = koppel(koppel_env, "status", "--json")
    finally:
        os.killpg(poller.pid, signal.SIGTERM)
        poller.wait(timeout=30)
    # Then it names the interval the poller uses, and the configured one beside it
    assert running.returncode == 0, running.stdout + running.stderr
    assert "polls every 2 s (as koppel poll runs; configured 900 s); silent after 4 s" in (
        normalised(running.stdout)
    )
    # And its columns say what they measure: a stream polled just now is not "behind",
    # however old the newest change it has seen
    assert "behind" not in running.stdout
    header = next(line for line in running.stdout.splitlines() if "stream" in line)
    assert "last polled" in header and "newest change seen" in header
    for stream in STREAMS:
        row = next(line for line in running.stdout.splitlines() if line.startswith(f"│ {stream}"))
        polled = re.search(r"│ (\d+) s ago", row)
        assert polled is not None and int(polled.group(1)) < 30, row
    body = json.loads(as_json.stdout)["connections"][0]
    assert (body["interval_s"], body["interval_from"], body["configured_interval_s"]) == (
        2,
        "poller",
        900,
    )
    assert all(s["interval_s"] == 2 and s["silent_for_s"] < 30 for s in body["streams"])
    # And once the poller stopped, silence is judged by its 2 s, not the configured 900 s
    answers: list[subprocess.CompletedProcess[str]] = []

    def status_exits_1() -> bool:
        answers.append(koppel(koppel_env, "status"))
        return answers[-1].returncode == 1

    wait_for(status_exits_1, timeout_s=30, interval_s=0.5, what="koppel status exiting 1")
    assert "more than twice its 2 s poll interval" in answers[-1].stderr


def test_a_one_off_round_keeps_the_interval_the_poller_recorded(
    connected: Connected, pool: ConnectionPool, settings: Settings
) -> None:
    # Given every stream polled by a poller running every 30 s
    connection = connected.connection
    cursors.advance_many(pool, connection.id, [(stream, None) for stream in STREAMS], 30)
    # When a one-off round (`poll --once`, `sync --once`) polls it again
    cursors.advance_many(pool, connection.id, [(stream, None) for stream in STREAMS])
    # Then status still judges it by the poller's 30 s
    row = gather(settings, pool).connections[0]
    assert (row.interval_s, row.interval_from) == (30, "poller")
    # And a connection no poller recorded an interval for is judged by its configured one
    with pool.connection() as conn:
        conn.execute("UPDATE cursors SET interval_s = NULL")
    row = gather(settings, pool).connections[0]
    assert (row.interval_s, row.interval_from) == (connection.poll_interval_s, "configured")


#: An error as long as the poller's longest explanations.
LONG_ERROR = (
    "Reading Visma customer ledger items failed: Visma answered 503 Service Unavailable"
    " (the service is down for maintenance until 06:00 CET; try again later) after 5"
    " attempts over 120 s; the next round tries again."
)


def test_status_fits_80_columns_and_json_holds_every_error_whole(
    connected: Connected, pool: ConnectionPool, koppel_env: dict[str, str]
) -> None:
    # Given every stream polled (a watermark each), two of them failing with long errors
    connection = connections.update(pool, connected.connection.id, poll_interval_s=60)
    newest = datetime(2026, 6, 15, 9, 30, tzinfo=UTC)
    cursors.advance_many(pool, connection.id, [(stream, newest) for stream in STREAMS], 60)
    for stream in ("credit_notes", "visma_ledger_items"):
        cursors.record_error(pool, connection.id, stream, LONG_ERROR)
    # When status is read by the real CLI at 80 columns
    narrow = koppel_cli(koppel_env, "status", columns=80)
    # Then every line fits, each error cut to one line
    assert narrow.returncode == 0, narrow.stdout + narrow.stderr
    assert [line for line in narrow.stdout.splitlines() if len(line) > 80] == [], narrow.stdout
    for stream in STREAMS:
        assert any(line.startswith(f"│ {stream}") for line in narrow.stdout.splitlines())
    assert "Reading Visma" in narrow.stdout and "the next round tries again" not in narrow.stdout
    # And --json parses and holds each error whole; --wide shows it whole too
    body = json.loads(koppel_cli(koppel_env, "status", "--json", columns=80).stdout)
    errors = {s["stream"]: s["last_error"] for s in body["connections"][0]["streams"]}
    assert errors["visma_ledger_items"] == LONG_ERROR == errors["credit_notes"]
    wide = koppel_cli(koppel_env, "status", "--wide", columns=500)
    assert LONG_ERROR in wide.stdout

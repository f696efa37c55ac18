"""``koppel webhooks serve`` faces the internet: half-sent requests, huge or trickling bodies,
malformed requests and floods of valid events must not starve it, fill its memory or its log,
or spend Teamleader's call budget (issue 15, point 5).

Each test runs the real server as a process of its own on a free loopback port and talks to
it over raw sockets where a well-behaved client (httpx) would not misbehave enough."""

from __future__ import annotations

import json
import logging
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from psycopg_pool import ConnectionPool

from config import Settings
from config.logging import SERVER_LOGGERS, OneLine
from config.logging import setup as setup_logging
from contracts import queues
from ops.connect.connecting import Connected
from producers.pokes import PokeGap
from producers.poller import STREAMS
from producers.webhook_receiver import webhook_path
from store import connections, cursors, document_history, links
from tests.conftest import ROOT, TEST_TOKEN_KEY, TODAY, Sandbox, free_port
from tests.pipeline.support import booked, consumers_running, start_koppel, wait_for, wait_settled

MIB = 1024 * 1024
#: The header timeout while 300 half-sent requests are held (s): long enough that a loaded
#: machine answers a valid event well before any of them times out.
HALF_SENT_TIMEOUT_S = 6.0


@dataclass
class Receiver:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def status(self, field: str) -> int:
        """A ``/proc/<pid>/status`` figure of the server process, in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.process.pid}/status")

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


@contextmanager
def receiver(
    env: dict[str, str], log: Path, max_open_files: int | None = None, **settings: str
) -> Iterator[Receiver]:
    """``koppel webhooks serve`` with these ``KOPPEL_*`` settings, its stderr in ``log``, in
    a process allowed ``max_open_files`` open files (when given)."""
    port = free_port()

    def limit_files() -> None:
        if max_open_files is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_open_files, hard))

    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "webhooks", "serve", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, **env, **settings},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=limit_files,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(healthy, timeout_s=30, what="the webhook receiver listening")
        yield Receiver(url, port, process, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def event(kind: str = "invoice.booked") -> dict[str, object]:
    return {
        "type": kind,
        "subject": {"type": "invoice", "id": str(uuid.uuid4())},
        "account": {"type": "account", "id": str(uuid.uuid4())},
    }


def closed_by_server(sockets: list[socket.socket], until: float) -> int:
    """Waits until the server closed every socket or ``until`` (monotonic) passed; how
    many it closed."""
    open_ = list(sockets)
    while open_ and time.monotonic() < until:
        readable, _, _ = select.select(open_, [], [], max(until - time.monotonic(), 0))
        for sock in readable:
            try:
                ended = sock.recv(4096) == b""
            except ConnectionError:
                ended = True
            if ended:
                open_.remove(sock)
    return len(sockets) - len(open_)


def send_body(sock: socket.socket, total: int, chunked: bool) -> int:
    """Sends up to ``total`` bytes of body in 1 MiB pieces until the server cuts the
    connection; how many bytes the socket took."""
    piece = b"x" * MIB
    sent = 0
    try:
        while sent < total:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:  # reset, broken pipe, or a server that stopped reading (timeout)
        pass
    return sent


def test_half_sent_requests_neither_lock_out_a_valid_event_nor_stay_open(
    connected: Connected, koppel_env: dict[str, str], tmp_path: Path
) -> None:
    path = webhook_path(TEST_TOKEN_KEY, connected.connection.id)
    # Given a receiver in a process allowed 256 open files (the attack exhausted 1,024)
    with receiver(
        koppel_env,
        tmp_path / "receiver.log",
        max_open_files=256,
        KOPPEL_WEBHOOK_HEADER_TIMEOUT_S=str(HALF_SENT_TIMEOUT_S),
    ) as server:
        # When 300 senders each send half a request and wait
        half_sent = []
        try:
            for _ in range(300):
                sock = server.connect()
                sock.sendall(b"POST /teamleader/x/y HTTP/1.1\r\nHost: koppel\r\nContent-Le")
                half_sent.append(sock)
            opened = time.monotonic()
            # Then a valid event is answered within half their header timeout, long before
            # a timeout could have freed a place for it (the server closes the oldest
            # half-sent one instead); 3 s, so that a loaded machine does not fail it
            answer = httpx.post(server.url + path, json=event(), timeout=HALF_SENT_TIMEOUT_S / 2)
            assert answer.status_code == 202, answer.text
            # ... and every half-sent request is closed within the header timeout
            closed = closed_by_server(half_sent, until=opened + HALF_SENT_TIMEOUT_S + 1.5)
            assert closed == len(half_sent)
        finally:
            for sock in half_sent:
                sock.close()
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_a_body_over_the_cap_is_refused_413_without_being_read(
    connected: Connected, koppel_env: dict[str, str], tmp_path: Path
) -> None:
    path = webhook_path(TEST_TOKEN_KEY, connected.connection.id)
    with receiver(koppel_env, tmp_path / "receiver.log") as server:
        assert httpx.post(server.url + path, json=event(), timeout=5).status_code == 202
        peak_before = server.status("VmHWM")
        # When a sender with a valid token announces 50 MB
        sock = server.connect()
        head = f"POST {path} HTTP/1.1\r\nHost: koppel\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {50 * MIB}\r\n\r\n".encode())
        # Then it is refused 413 before it sends a byte of it, and cut off when it sends anyway
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
        assert send_body(sock, 50 * MIB, chunked=False) < 50 * MIB
        sock.close()
        # When another sends 50 MB without a Content-Length (chunked)
        sock = server.connect()
        sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        # Then it is cut off too
        assert send_body(sock, 50 * MIB, chunked=True) < 50 * MIB
        sock.close()
        # ... and the server's memory never held either body
        grown_kib = server.status("VmHWM") - peak_before
        assert grown_kib < 10 * 1024, f"peak RSS grew by {grown_kib} KiB"
        assert httpx.post(server.url + path, json=event(), timeout=5).status_code == 202


def test_malformed_requests_are_answered_and_logged_in_one_json_line_each_without_a_traceback(
    connected: Connected, koppel_env: dict[str, str], tmp_path: Path
) -> None:
    connection_id = connected.connection.id
    path = webhook_path(TEST_TOKEN_KEY, connection_id)
    token = path.rsplit("/", 1)[1]
    with receiver(koppel_env, tmp_path / "receiver.log", KOPPEL_LOG_FORMAT="json") as server:
        raw_answers = []
        for request in (
            b"\x00\x01\x02 garbage\r\n\r\n",
            f"POST /teamleader/{connection_id}/\u00e9 HTTP/1.1\r\nHost: k\r\n\r\n".encode(),
            f"POST {path} HTTP/1.1\r\nHost: k\r\nContent-Length: 12x\r\n\r\n".encode(),
        ):
            sock = server.connect()
            sock.sendall(request)
            raw_answers.append(sock.recv(4096).split(b"\r\n", 1)[0])
            sock.close()
        # A sender that leaves in the middle of its body
        sock = server.connect()
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: k\r\nContent-Length: 100\r\n\r\n{{".encode())
        sock.close()
        with httpx.Client(base_url=server.url, timeout=5) as client:
            non_ascii_token = client.post(
                f"/teamleader/{connection_id}/%C3%A9{'0' * 30}", json=event()
            )
            not_json = client.post(path, content=b"\xff\xfe{not json")
            not_an_event = client.post(path, json=[1, 2])
            not_a_connection = client.post("/teamleader/\u2028/x", json=event())
            wrong_method = client.get(path)
    log = server.log.read_text()

    assert all(line.startswith(b"HTTP/1.1 400 ") for line in raw_answers), raw_answers
    assert non_ascii_token.status_code == 404
    assert (not_json.status_code, not_an_event.status_code) == (400, 400)
    assert not_a_connection.status_code == 404
    assert wrong_method.status_code == 405
    assert "Traceback" not in log
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert not [entry for entry in lines if "exception" in entry]
    assert any("Invalid HTTP request" in entry["message"] for entry in lines)
    assert token not in log
    assert len(lines) < 30, log


def test_a_burst_of_valid_events_costs_a_handful_of_polls_and_still_delivers_its_booking(
    connected: Connected,
    pool: ConnectionPool,
    koppel_env: dict[str, str],
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    connection_id = connected.connection.id
    path = webhook_path(TEST_TOKEN_KEY, connection_id)
    # Given a connection polled only hourly, a running poller past its first round, consumers
    connections.update(pool, connection_id, poll_interval_s=3600)
    started = document_history.database_now(pool)
    poller = start_koppel(koppel_env, "poll")
    try:
        with (
            receiver(
                koppel_env, tmp_path / "receiver.log", KOPPEL_WEBHOOK_POKE_GAP_S="2"
            ) as server,
            consumers_running(queues.CONTACTS, queues.INVOICES, queues.CREDIT_NOTES),
        ):
            wait_for(
                lambda: (
                    len(rounds := cursors.all_for(pool, connection_id)) == len(STREAMS)
                    and all(c.last_success_at and c.last_success_at > started for c in rounds)
                ),
                timeout_s=60,
                what="the poller's first round",
            )
            wait_settled(pool, timeout_s=120)
            httpx.delete(f"{sandbox.teamleader_url}/_sandbox/stats", timeout=5).raise_for_status()

            # When 100 valid invoice events arrive over 5 s, an invoice booked among them
            invoice_id = None
            with httpx.Client(base_url=server.url, timeout=5) as client:
                for number in range(100):
                    if number == 50:
                        invoice_id = book_invoice(connected, sandbox)
                    assert client.post(path, json=event()).status_code == 202
                    time.sleep(0.05)

            # Then the booking reaches Visma within the gap and the poller's settle time
            wait_for(
                lambda: links.get(pool, connection_id, "invoice", invoice_id) is not None,
                timeout_s=15,
                what="the invoice booked during the burst posted in Visma",
            )
            calls = httpx.get(f"{sandbox.teamleader_url}/_sandbox/stats", timeout=5).json()
    finally:
        os.killpg(poller.pid, signal.SIGTERM)
        poller.wait(timeout=30)
    # ... with one invoice poll per 2 s gap, not one per event (or per poller wake-up)
    polls = calls["by_endpoint"].get("invoices.list", 0)
    assert 1 <= polls <= 5, calls["by_endpoint"]


def book_invoice(connected: Connected, sandbox: Sandbox) -> str:
    """Books a one-line invoice in Teamleader; its id."""
    template = booked(connected)[0]
    line = template["grouped_lines"][0]["line_items"][0]
    response = httpx.post(
        f"{sandbox.teamleader_url}/_sandbox/invoices",
        json={
            "department_id": connected.department.id,
            "customer": template["invoicee"]["customer"],
            "lines": [
                {
                    "description": "Booked during a burst of events",
                    "quantity": 1,
                    "unit_price": 80,
                    "tax_rate_id": line["tax"]["id"],
                }
            ],
            "book_on": TODAY.isoformat(),
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def test_pokes_within_the_gap_become_one_trailing_poke_at_its_end() -> None:
    now = [100.0]
    gap = PokeGap(2.0, clock=lambda: now[0])
    key = (uuid.uuid4(), "invoices")
    other = (key[0], "contacts")
    # The first poke goes at once; the next within the gap waits for the gap's end
    assert gap.ask(key) == 0
    now[0] = 100.5
    assert gap.ask(key) == 1.5
    # ... every further one joins it, and another stream has a gap of its own
    assert gap.ask(key) is None
    assert gap.ask(other) == 0
    # Once the waiting poke went, the next gap starts from it
    now[0] = 102.0
    gap.sent(key)
    now[0] = 103.0
    assert gap.ask(key) == 1.0
    now[0] = 104.0
    gap.sent(key)
    now[0] = 106.5
    assert gap.ask(key) == 0


def test_a_traceback_on_the_servers_loggers_is_folded_into_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = setup_logging(Settings(log_format="text", log_level="INFO"))
    try:
        try:
            raise ValueError("no such thing")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    finally:
        logging.getLogger().removeHandler(handler)
        for name in SERVER_LOGGERS:
            for folding in [f for f in logging.getLogger(name).filters if isinstance(f, OneLine)]:
                logging.getLogger(name).removeFilter(folding)
    logged = capsys.readouterr().err.strip()
    assert "Traceback" not in logged
    assert len(logged.splitlines()) == 1, logged
    assert "Exception in ASGI application (ValueError: no such thing at " in logged

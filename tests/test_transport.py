"""The http.client transport under ApiSession, over real sockets (clients/transport.py).

A small HTTP/1.1 server in a thread answers by path, so that each test can make the server
do what real ones do: keep a connection alive, close it while idle, drop a request without
answering, answer slowly, chunk or compress the body, speak TLS.
"""

from __future__ import annotations

import datetime
import gzip
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clients.errors import AmbiguousWrite, TransientError
from clients.http import ApiSession, RetryPolicy
from clients.ratelimit import SlidingWindowLimiter
from clients.transport import StdlibTransport
from tests.conftest import free_port


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless a path says otherwise

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle holds the body until
        # the client's delayed ACK (40 ms a call).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.connections += 1  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, body: bytes, *, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Transfer-Encoding" not in (headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        received = self._body()
        echo = json.dumps({"path": self.path, "body": received.decode()}).encode()
        if self.path == "/drop":
            # Read the request, then hang up without a status line.
            self.close_connection = True
            return
        if self.path == "/slow":
            time.sleep(1.0)
        if self.path == "/close-after":
            # Answer as if the connection stays open, then close it: as a server does when
            # its keep-alive timer fires between two requests.
            self._answer(echo)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/chunked":
            self._answer(b"", headers={"Transfer-Encoding": "chunked"})
            for part in (echo[:10], echo[10:]):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/gzip":
            self._answer(gzip.compress(echo), headers={"Content-Encoding": "gzip"})
            return
        self._answer(echo)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.connections = 0
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    thread = threading.Thread(target=running.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield running
    running.shutdown()
    running.server_close()


def client(server_url: str, transport: StdlibTransport) -> httpx.Client:
    return httpx.Client(base_url=server_url, transport=transport, timeout=5.0)


def session(server_url: str, transport: StdlibTransport) -> ApiSession:
    return ApiSession(
        service="Test API",
        base_url=server_url,
        error_for=lambda response: TransientError("Test API", f"HTTP {response.status_code}"),
        limiter=SlidingWindowLimiter(1000, 1.0),
        limit_key=lambda request: "test",
        retry=RetryPolicy(max_attempts=2, backoff_base_ms=1, backoff_max_ms=1),
        timeout_s=0.5,
        transport=transport,
    )


def test_calls_one_after_another_share_one_kept_alive_connection(server: Server) -> None:
    transport = StdlibTransport()
    with client(server.url, transport) as http:
        answers = [http.post("/echo", json={"n": n}).json() for n in range(20)]
    assert [json.loads(a["body"])["n"] for a in answers] == list(range(20))
    assert transport.connections_opened == 1
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_used_for_the_next_write(
    server: Server,
) -> None:
    transport = StdlibTransport()
    with client(server.url, transport) as http:
        assert http.post("/close-after", json={"n": 1}).status_code == 200
        time.sleep(0.2)  # the server's FIN has arrived; the connection sits idle in the pool
        # Sent on the closed connection, this write would get no answer and be ambiguous.
        answer = http.post("/echo", json={"n": 2})
    assert json.loads(answer.json()["body"]) == {"n": 2}
    assert transport.connections_opened == 2


def test_a_connection_idle_longer_than_the_keepalive_expiry_is_replaced(server: Server) -> None:
    transport = StdlibTransport(keepalive_expiry_s=0.1)
    with client(server.url, transport) as http:
        http.get("/echo")
        http.get("/echo")
        time.sleep(0.2)
        http.get("/echo")
    assert transport.connections_opened == 2


def test_nothing_listening_is_a_connect_error_which_is_safe_to_retry() -> None:
    with (
        client(f"http://127.0.0.1:{free_port()}", StdlibTransport()) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.post("/echo", json={})


def test_a_request_the_server_hangs_up_on_is_a_remote_protocol_error(server: Server) -> None:
    with client(server.url, StdlibTransport()) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post("/drop", json={})


def test_a_write_the_server_hangs_up_on_is_ambiguous_and_not_sent_again(server: Server) -> None:
    api = session(server.url, StdlibTransport())
    with pytest.raises(AmbiguousWrite, match="no answer"):
        api.call("POST", "/drop", body={"id": 1}, read=False)
    assert api.calls_sent == 1


def test_a_read_the_server_hangs_up_on_is_retried_then_reported_as_transient(
    server: Server,
) -> None:
    api = session(server.url, StdlibTransport())
    with pytest.raises(TransientError, match="RemoteProtocolError"):
        api.call("POST", "/drop", body={"id": 1}, read=True)
    assert api.calls_sent == 2


def test_an_answer_slower_than_the_read_timeout_is_a_read_timeout(server: Server) -> None:
    with (
        httpx.Client(base_url=server.url, transport=StdlibTransport(), timeout=0.2) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.get("/slow")


def test_a_chunked_and_a_gzipped_answer_arrive_whole(server: Server) -> None:
    with client(server.url, StdlibTransport()) as http:
        chunked = http.post("/chunked", content=b"abc").json()
        zipped = http.post("/gzip", content=b"xyz").json()
    assert chunked == {"path": "/chunked", "body": "abc"}
    assert zipped == {"path": "/gzip", "body": "xyz"}


def test_threads_sharing_one_client_each_get_their_own_answer(server: Server) -> None:
    transport = StdlibTransport()
    with client(server.url, transport) as http:

        def one(n: int) -> int:
            return int(json.loads(http.post("/echo", json={"n": n}).json()["body"])["n"])

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(200)))
    assert answers == list(range(200))
    assert transport.connections_opened <= 8


# -- TLS ------------------------------------------------------------------------------------


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "koppel test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Wide: OpenSSL checks it by the machine's clock, which bin/test-on-dates leaves
        # as it is while it moves Python's by up to two years.
        .not_valid_before(now - datetime.timedelta(days=1000))
        .not_valid_after(now + datetime.timedelta(days=1000))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    cert_path, key_path = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    running = Server(tls=context)
    thread = threading.Thread(target=running.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield running, cert_path
    running.shutdown()
    running.server_close()


def test_https_goes_through_the_given_tls_context_and_keeps_the_connection(
    tls_server: tuple[Server, Path],
) -> None:
    server, cert_path = tls_server
    trusting = ssl.create_default_context(cafile=str(cert_path))
    transport = StdlibTransport(ssl_context=trusting)
    url = server.url.replace("http://", "https://")
    with client(url, transport) as http:
        answers = [http.post("/echo", json={"n": n}).json()["body"] for n in range(3)]
    assert answers == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert transport.connections_opened == 1


def test_a_certificate_the_context_does_not_trust_is_a_connect_error_before_anything_is_sent(
    tls_server: tuple[Server, Path],
) -> None:
    server, _ = tls_server
    url = server.url.replace("http://", "https://")
    with (
        client(url, StdlibTransport(ssl_context=ssl.create_default_context())) as http,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        http.post("/echo", json={})

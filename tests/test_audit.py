"""bin/audit checks every pin of the lock against PyPI's advisories, over real HTTP: here a
small server on this machine plays PyPI's JSON API (pages it is not given answer 404)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.deps.audit import main, read_ignores

HASH = "--hash=sha256:" + "0" * 64


class FakePyPI:
    """PyPI's JSON API with the pages a test puts in ``pages`` (path → JSON body)."""

    def __init__(self) -> None:
        self.pages: dict[str, dict[str, Any]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page = pages.get(self.path)
                body = json.dumps(page).encode() if page is not None else b""
                self.send_response(200 if page is not None else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pypi"

    def release(self, name: str, version: str, *advisories: dict[str, Any]) -> None:
        """The page of one release: the source pip-audit asks."""
        self.pages[f"/pypi/{name}/{version}/json"] = {
            "info": {"version": version},
            "vulnerabilities": list(advisories),
        }

    def project(self, name: str, latest: str, *advisories: dict[str, Any]) -> None:
        """The project's page: its latest release and that release's advisories."""
        self.pages[f"/pypi/{name}/json"] = {
            "info": {"version": latest},
            "vulnerabilities": list(advisories),
        }


def advisory(
    id: str, *aliases: str, fixed_in: str = "", withdrawn: str | None = None
) -> dict[str, Any]:
    return {
        "id": id,
        "aliases": list(aliases),
        "fixed_in": [fixed_in] if fixed_in else [],
        "summary": "Request smuggling\nin the parser",
        "withdrawn": withdrawn,
    }


@pytest.fixture
def pypi() -> Iterator[FakePyPI]:
    fake = FakePyPI()
    # A short poll: shutdown() waits for the next one.
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def lock(tmp_path: Path, *pins: str) -> Path:
    path = tmp_path / "lock.txt"
    path.write_text("".join(f"{pin} \\\n    {HASH}\n    # via koppel\n" for pin in pins))
    return path


def audit(tmp_path: Path, source: str, *pins: str, ignore: str = "") -> int:
    ignore_file = tmp_path / "audit-ignore.txt"
    ignore_file.write_text(ignore)
    return main(
        ["--lock", str(lock(tmp_path, *pins)), "--ignore", str(ignore_file), "--source", source]
    )


def test_a_pinned_release_with_a_known_vulnerability_fails_the_audit_naming_both(
    tmp_path: Path, pypi: FakePyPI, capsys: pytest.CaptureFixture[str]
) -> None:
    pypi.release("h11", "0.16.0")
    pypi.release("vine", "5.1.0", advisory("GHSA-aaaa", "CVE-2026-1", fixed_in="5.1.1"))

    status = audit(tmp_path, pypi.url, "h11==0.16.0", "Vine==5.1.0")

    assert status == 1
    assert capsys.readouterr().out.splitlines() == [
        "audit: VULNERABLE vine 5.1.0: GHSA-aaaa (CVE-2026-1), fixed in 5.1.1: "
        "Request smuggling in the parser",
        "audit: 2 of 2 pinned packages checked against PyPI's advisories: 1 known vulnerability",
    ]


def test_an_advisory_ignored_by_an_alias_with_a_reason_passes_and_is_still_shown(
    tmp_path: Path, pypi: FakePyPI, capsys: pytest.CaptureFixture[str]
) -> None:
    pypi.release("vine", "5.1.0", advisory("GHSA-aaaa", "CVE-2026-1"))

    status = audit(
        tmp_path,
        pypi.url,
        "vine==5.1.0",
        ignore="# why each may pass\ncve-2026-1   Koppel never parses untrusted input (#15)\n",
    )

    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        "audit: ignored GHSA-aaaa in vine 5.1.0: Koppel never parses untrusted input (#15)",
        "audit: 1 of 1 pinned packages checked against PyPI's advisories: no known vulnerability",
    ]


def test_a_withdrawn_advisory_does_not_fail_the_audit(
    tmp_path: Path, pypi: FakePyPI, capsys: pytest.CaptureFixture[str]
) -> None:
    pypi.release("vine", "5.1.0", advisory("GHSA-aaaa", withdrawn="2026-05-01T00:00:00Z"))

    assert audit(tmp_path, pypi.url, "vine==5.1.0") == 0
    assert "no known vulnerability" in capsys.readouterr().out


def test_where_pypi_answers_only_for_the_latest_release_a_pin_behind_it_is_shown_unchecked(
    tmp_path: Path, pypi: FakePyPI, capsys: pytest.CaptureFixture[str]
) -> None:
    # No release pages: only the project pages answer, as on this project's machines.
    pypi.project("vine", "5.1.0", advisory("GHSA-aaaa"))
    pypi.project("h11", "0.17.0", advisory("GHSA-bbbb"))

    status = audit(tmp_path, pypi.url, "vine==5.1.0", "h11==0.16.0", "gone==1.0")

    assert status == 1
    assert capsys.readouterr().out.splitlines() == [
        "audit: VULNERABLE vine 5.1.0: GHSA-aaaa: Request smuggling in the parser",
        "audit: not checked, PyPI answers here only for a project's latest release: "
        "h11 0.16.0 (latest 0.17.0)",
        "audit: not checked, not on PyPI: gone 1.0",
        "audit: 1 of 3 pinned packages checked against PyPI's advisories: 1 known vulnerability",
    ]


def test_an_unreachable_source_says_the_audit_could_not_run_and_does_not_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/pypi"

    status = audit(tmp_path, nobody, "vine==5.1.0", "h11==0.16.0")

    assert status == 0
    assert capsys.readouterr().out.splitlines() == [
        f"audit: could not run: {nobody} answered for none of the 2 pinned packages "
        "(no answer: vine 5.1.0 (ConnectError)…), so none was checked for known "
        "vulnerabilities"
    ]


def test_an_ignored_advisory_without_a_reason_is_refused_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/pypi"

    status = audit(tmp_path, nobody, "vine==5.1.0", ignore="\nGHSA-aaaa  \n")

    assert status == 2
    assert capsys.readouterr().err == (
        "audit: audit-ignore.txt line 2: 'GHSA-aaaa' has no reason; write after the id why "
        "it may pass.\n"
    )


def test_the_committed_ignore_file_gives_every_advisory_a_reason() -> None:
    assert all(reason for reason in read_ignores().values())

"""docs/sandbox.md, run: every curl example in it, in document order, against simulators
started here, answers as the document shows; and every control has an example.

The document's format (its section "How the examples read" says the same to a reader):

* An example is a fenced ``sh`` block holding one ``curl`` command (continued over lines
  with ``\\``), directly followed by a fenced ``json`` block with the answer. A status after
  the word (```` ```json 400 ````) expects that status; otherwise the answer is a 2xx.
* ``$TEAMLEADER`` and ``$VISMA`` are the simulators' base URLs.
* ``$NAME`` (capitals, digits, ``_``) in an answer stands for a value that differs from run
  to run: where it first appears it is captured (as the whole string or the part of one it
  stands for), and later commands (as a shell variable) and answers use that value.
* Answers are trimmed: an object shows some of its keys, a list its first items. Numbers
  compare by value (``125`` equals ``125.00``).
* The ``sh`` block starting ``koppel sandbox`` gives the options the simulators start with
  (here on free ports).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox.options import SandboxOptions
from tests.conftest import ROOT, Sandbox, sandbox_running, skip_unless_strict

DOC = ROOT / "docs" / "sandbox.md"
FENCE = re.compile(r"^```(\w*)[ \t]*([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
PLACEHOLDER = re.compile(r"\$([A-Z][A-Z0-9_]*)")
#: Where each simulator's base URL comes from in a command.
SERVICES = ("TEAMLEADER", "VISMA")


@dataclass(frozen=True)
class Example:
    line: int
    command: str
    answer: Any
    status: int | None

    def __str__(self) -> str:
        return f"docs/sandbox.md line {self.line}: {' '.join(self.command.split())[:100]}"


def blocks(text: str) -> Iterator[tuple[int, str, str, str]]:
    """Every fenced block: (line it starts on, language, rest of the info string, body)."""
    for found in FENCE.finditer(text):
        line = text.count("\n", 0, found.start()) + 1
        yield line, found.group(1), found.group(2).strip(), found.group(3)


def examples(text: str) -> list[Example]:
    found: list[Example] = []
    pending: tuple[int, str] | None = None
    for line, language, info, body in blocks(text):
        if pending is not None:
            assert language == "json", f"line {pending[0]}: a curl example needs a json answer"
            status = int(info) if info else None
            answer = json.loads(body, parse_float=Decimal)
            found.append(Example(pending[0], pending[1], answer, status))
            pending = None
        elif language == "sh" and body.lstrip().startswith("curl "):
            pending = (line, body.strip())
    assert pending is None, f"line {pending[0]}: a curl example needs a json answer"
    return found


def sandbox_options(text: str) -> list[str]:
    """The options of the document's ``koppel sandbox`` command, its ports left out."""
    for _, language, _, body in blocks(text):
        if language == "sh" and body.startswith("koppel sandbox"):
            words = shlex.split(body.splitlines()[0], comments=True)[2:]
            return [w for w in words if not w.startswith(("--teamleader-port", "--visma-port"))]
    raise AssertionError("docs/sandbox.md has no `koppel sandbox` command")


# -- comparing an answer with the document ---------------------------------------------------
def matches(expected: Any, actual: Any, where: str, values: dict[str, str]) -> None:
    """Assert ``actual`` shows what ``expected`` shows (trimmed, with placeholders); capture
    placeholders seen for the first time into ``values``."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: no key {key!r} in {sorted(actual)}"
            matches(value, actual[key], f"{where}.{key}", values)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) >= len(expected), f"{where}: {len(actual)} items, shown {expected}"
        for index, value in enumerate(expected):
            matches(value, actual[index], f"{where}[{index}]", values)
    elif isinstance(expected, str) and PLACEHOLDER.search(expected):
        assert isinstance(actual, str), f"{where}: expected text, got {actual!r}"
        captured = placeholder_match(expected, actual, values)
        assert captured is not None, f"{where}: {actual!r} does not read {expected!r}"
        values.update(captured)
    elif isinstance(expected, (int, Decimal)) and not isinstance(expected, bool):
        assert isinstance(actual, (int, Decimal)) and not isinstance(actual, bool), (
            f"{where}: expected the number {expected}, got {actual!r}"
        )
        assert Decimal(actual) == Decimal(expected), f"{where}: {actual} is not {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} is not {expected!r}"


def placeholder_match(expected: str, actual: str, values: dict[str, str]) -> dict[str, str] | None:
    """The new values ``actual`` gives the placeholders of ``expected`` (known ones must be
    equal), or None when it does not read as ``expected``."""
    pattern, new = "", []
    position = 0
    for found in PLACEHOLDER.finditer(expected):
        pattern += re.escape(expected[position : found.start()])
        name = found.group(1)
        if name in values:
            pattern += re.escape(values[name])
        elif name in new:
            pattern += f"(?P={name})"
        else:
            pattern += f"(?P<{name}>.+?)"
            new.append(name)
        position = found.end()
    pattern += re.escape(expected[position:])
    matched = re.fullmatch(pattern, actual, re.S)
    return None if matched is None else {name: matched.group(name) for name in new}


# -- running a command -----------------------------------------------------------------------
def run(example: Example, env: dict[str, str], headers: Path) -> tuple[int, Any]:
    """The example's command through bash, as a reader would paste it: its status (from the
    headers curl dumps) and its output as JSON."""
    script = f"set -u\n{example.command} --dump-header {shlex.quote(str(headers))}"
    done = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{example}: exit {done.returncode}: {done.stderr}"
    statuses = re.findall(r"^HTTP/\S+ (\d{3})", headers.read_text(), re.M)
    assert statuses, f"{example}: no HTTP answer"
    try:
        body = json.loads(done.stdout, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{example}: the answer is not JSON: {done.stdout[:300]!r}") from exc
    return int(statuses[-1]), body


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def doc_sandbox(doc: str) -> Iterator[Sandbox]:
    with sandbox_running(*sandbox_options(doc)) as sandbox:
        yield sandbox


def test_every_curl_example_in_the_sandbox_doc_answers_as_shown(
    doc: str, doc_sandbox: Sandbox, tmp_path: Path
) -> None:
    # Given the simulators started as the document starts them, and curl
    if shutil.which("curl") is None:
        skip_unless_strict("the sandbox doc's examples need curl: apt-get install curl")
    found = examples(doc)
    assert len(found) >= 20, "the document lost its examples"
    values: dict[str, str] = {
        "TEAMLEADER": doc_sandbox.teamleader_url,
        "VISMA": doc_sandbox.visma_url,
    }
    # When each example runs in document order (each may use what earlier ones answered)
    for example in found:
        status, body = run(example, {**os.environ, **values}, tmp_path / "headers")
        # Then it answers with the status and the keys and values the document shows
        if example.status is None:
            assert 200 <= status < 300, f"{example}: status {status}: {body}"
        else:
            assert status == example.status, f"{example}: status {status}: {body}"
        matches(example.answer, body, str(example), values)


def documented_requests(doc: str) -> set[tuple[str, str, str]]:
    """(service, method, path) of every example's request."""
    requests = set()
    for example in examples(doc):
        words = shlex.split(example.command.replace("\\\n", " "))
        url = next(w for w in words if w.startswith(tuple(f"${s}" for s in SERVICES)))
        service, _, path = url[1:].partition("/")
        method = next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "-X"), None)
        has_body = any(w in ("-d", "--data") or w.startswith("--data") for w in words)
        requests.add((service, method or ("POST" if has_body else "GET"), "/" + path))
    return requests


def control_routes() -> set[tuple[str | None, str, str]]:
    """(service, method, path pattern) of every ``/_sandbox/`` control of both simulators;
    the fault injector's, the same in both, with service None (either will do)."""
    from sandbox.teamleader.app import create_app as teamleader_app
    from sandbox.visma.app import create_app as visma_app

    routes: set[tuple[str | None, str, str]] = set()
    for service, app in (("TEAMLEADER", teamleader_app), ("VISMA", visma_app)):
        for route in app({}, SandboxOptions()).app.routes:  # type: ignore[attr-defined]
            if route.path.startswith("/_sandbox/"):
                for method in route.methods - {"HEAD"}:
                    routes.add((service, method, route.path))
    # The fault injector's own controls (sandbox/faults.py), outside the routes.
    for method in ("GET", "POST", "DELETE"):
        routes.add((None, method, "/_sandbox/faults"))
    for method in ("GET", "DELETE"):
        routes.add((None, method, "/_sandbox/stats"))
    return routes


def test_every_sandbox_control_has_an_example_in_the_doc(doc: str) -> None:
    # Given the requests the document's examples make
    requests = documented_requests(doc)
    # Then each control of each simulator is among them (a new control needs an example)
    missing = []
    for service, method, path in sorted(control_routes(), key=str):
        pattern = re.sub(r"\\\{\w+\\\}", r"[^/?]+", re.escape(path)) + r"(\?.*)?"
        if not any(
            service in (None, s) and m == method and re.fullmatch(pattern, p)
            for s, m, p in requests
        ):
            missing.append(f"{method} ${service or 'TEAMLEADER or $VISMA'}{path}")
    assert not missing, f"controls without an example in docs/sandbox.md: {missing}"

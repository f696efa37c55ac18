"""Check every pin of requirements/lock.txt against the advisories PyPI publishes.

``bin/audit`` runs this; CI runs it before the tests (``.ci/run``). Exit status: 1 when a
pinned release has a known vulnerability that requirements/audit-ignore.txt does not let
pass, 2 when the lock or the ignore file cannot be read, else 0. A source that does not
answer is not a failure, but the output says so in as many words.

The source is PyPI's JSON API, the one pip-audit's default service asks. pip-audit asks only
``/pypi/NAME/VERSION/json``; where that is not served (on the machines this project runs on
it answers 404 for every release) pip-audit skips every package and still prints "No known
vulnerabilities found" with exit 0. So this asks the same address first and, on a 404, the
project's ``/pypi/NAME/json``, whose advisories are those of the latest release: they apply
when the lock pins that release, and a pin behind it is reported as not checked.
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from packaging.version import InvalidVersion, Version

from tests.deps.lock import LOCK, ROOT, LockError, Pin, read_lock

DEFAULT_SOURCE = "https://pypi.org/pypi"
IGNORE = ROOT / "requirements" / "audit-ignore.txt"
TIMEOUT_S = 10.0
#: Parallel requests: about 60 pins, two requests each where only the project page answers.
WORKERS = 8
BEHIND_LATEST = "PyPI answers here only for a project's latest release"


class AuditError(Exception):
    """Bad input (the ignore file); the message is one sentence."""


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]
    summary: str

    def matches(self, ignored: Mapping[str, str]) -> str | None:
        """The ignore file's reason when it names this advisory by its id or an alias."""
        for name in (self.id, *self.aliases):
            if name.upper() in ignored:
                return ignored[name.upper()]
        return None


@dataclass(frozen=True)
class Answer:
    """What the source said about one pin: its advisories, or why it could not be checked."""

    pin: Pin
    advisories: tuple[Advisory, ...] = ()
    # Set when the pin was not checked: the short reason, and what it belongs under.
    unchecked: str | None = None
    group: str = ""
    # No answer at all (network error, 5xx, not JSON): the source may be unreachable.
    silent: bool = False


@dataclass
class Outcome:
    checked: int = 0
    vulnerable: list[tuple[Pin, Advisory]] = field(default_factory=list)
    ignored: list[tuple[Pin, Advisory, str]] = field(default_factory=list)
    unchecked: dict[str, list[str]] = field(default_factory=dict)


def read_ignores(path: Path = IGNORE) -> dict[str, str]:
    """Advisory id (upper case) → why it may pass. Each line: an id, then the reason."""
    if not path.exists():
        return {}
    ignored: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        # A reason may hold a # ("see issue #15"): only whole lines are comments.
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        advisory, *rest = text.split(None, 1)
        reason = rest[0] if rest else ""
        if not reason:
            raise AuditError(
                f"{path.name} line {number}: {advisory!r} has no reason; write after the id "
                "why it may pass."
            )
        ignored[advisory.upper()] = reason
    return ignored


def advisories(payload: Mapping[str, Any]) -> tuple[Advisory, ...]:
    """The advisories of a PyPI JSON answer, without the withdrawn ones."""
    found = []
    for entry in payload.get("vulnerabilities") or ():
        if entry.get("withdrawn"):
            continue
        summary = entry.get("summary") or entry.get("details") or ""
        found.append(
            Advisory(
                id=str(entry["id"]),
                aliases=tuple(str(a) for a in entry.get("aliases") or ()),
                fixed_in=tuple(str(v) for v in entry.get("fixed_in") or ()),
                summary=" ".join(str(summary).split())[:100],
            )
        )
    return tuple(found)


def _same_version(one: str, other: str) -> bool:
    try:
        return Version(one) == Version(other)
    except InvalidVersion:
        return one == other


def _no_answer(pin: Pin, why: str) -> Answer:
    return Answer(pin, unchecked=why, group="no answer", silent=True)


def ask(client: httpx.Client, source: str, pin: Pin) -> Answer:
    """The advisories for exactly this pin, from the release's page or the project's."""
    try:
        release = client.get(f"{source}/{pin.name}/{pin.version}/json")
        if release.status_code == 200:
            return Answer(pin, advisories(release.json()))
        if release.status_code != 404:
            return _no_answer(pin, f"HTTP {release.status_code}")
        project = client.get(f"{source}/{pin.name}/json")
        if project.status_code == 404:
            return Answer(pin, unchecked="", group="not on PyPI")
        if project.status_code != 200:
            return _no_answer(pin, f"HTTP {project.status_code}")
        payload = project.json()
        latest = str(payload["info"]["version"])
        if not _same_version(latest, pin.version):
            return Answer(pin, unchecked=f"latest {latest}", group=BEHIND_LATEST)
        return Answer(pin, advisories(payload))
    except httpx.HTTPError as error:
        return _no_answer(pin, type(error).__name__)
    except (ValueError, KeyError, TypeError, AttributeError):
        return _no_answer(pin, "not PyPI's JSON")


def collect(answers: Sequence[Answer], ignored: Mapping[str, str]) -> Outcome:
    outcome = Outcome()
    for answer in answers:
        if answer.unchecked is not None:
            detail = f" ({answer.unchecked})" if answer.unchecked else ""
            shown = f"{answer.pin.name} {answer.pin.version}{detail}"
            outcome.unchecked.setdefault(answer.group, []).append(shown)
            continue
        outcome.checked += 1
        for advisory in answer.advisories:
            reason = advisory.matches(ignored)
            if reason is None:
                outcome.vulnerable.append((answer.pin, advisory))
            else:
                outcome.ignored.append((answer.pin, advisory, reason))
    return outcome


def report(outcome: Outcome, total: int, source: str) -> list[str]:
    """The lines bin/audit prints: few, one per finding, then one summary line."""
    lines = []
    for pin, advisory in outcome.vulnerable:
        aliases = f" ({', '.join(advisory.aliases)})" if advisory.aliases else ""
        fixed = f", fixed in {', '.join(advisory.fixed_in)}" if advisory.fixed_in else ""
        lines.append(
            f"audit: VULNERABLE {pin.name} {pin.version}: {advisory.id}{aliases}{fixed}: "
            f"{advisory.summary}"
        )
    for pin, advisory, reason in outcome.ignored:
        lines.append(f"audit: ignored {advisory.id} in {pin.name} {pin.version}: {reason}")
    if outcome.checked == 0:
        # One line, not sixty names: the reason is the source, not the packages.
        why = "; ".join(f"{group}: {pins[0]}…" for group, pins in outcome.unchecked.items())
        lines.append(
            f"audit: could not run: {source} answered for none of the {total} pinned packages "
            f"({why}), so none was checked for known vulnerabilities"
        )
        return lines
    for group, pins in outcome.unchecked.items():
        lines.append(f"audit: not checked, {group}: {', '.join(pins)}")
    found = len(outcome.vulnerable)
    verdict = (
        f"{found} known vulnerabilit{'y' if found == 1 else 'ies'}"
        if found
        else "no known vulnerability"
    )
    lines.append(
        f"audit: {outcome.checked} of {total} pinned packages checked against PyPI's "
        f"advisories: {verdict}"
    )
    return lines


def audit(pins: Sequence[Pin], source: str) -> list[Answer]:
    """Every pin's answer. The first is asked alone: when it gets none, nor will the rest."""
    # The machine's trust store, as pip and curl use here.
    with httpx.Client(timeout=TIMEOUT_S, verify=ssl.create_default_context()) as client:
        first = ask(client, source, pins[0])
        if first.silent:
            return [first, *(_no_answer(pin, "") for pin in pins[1:])]
        with ThreadPoolExecutor(WORKERS) as pool:
            return [first, *pool.map(lambda pin: ask(client, source, pin), pins[1:])]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bin/audit",
        description="Check requirements/lock.txt against PyPI's advisories.",
    )
    parser.add_argument("--lock", type=Path, default=LOCK, help="the lock to check")
    parser.add_argument(
        "--ignore", type=Path, default=IGNORE, help="the advisories that may pass, with why"
    )
    parser.add_argument(
        "--source", default=DEFAULT_SOURCE, help=f"PyPI's JSON API (default {DEFAULT_SOURCE})"
    )
    args = parser.parse_args(argv)
    try:
        ignored = read_ignores(args.ignore)
        pins = list(read_lock(args.lock).values())
    except (AuditError, LockError) as error:
        print(f"audit: {error}", file=sys.stderr)
        return 2
    if not pins:
        print(f"audit: {args.lock} pins nothing", file=sys.stderr)
        return 2
    source = args.source.rstrip("/")
    outcome = collect(audit(pins, source), ignored)
    for line in report(outcome, len(pins), source):
        print(line)
    return 1 if outcome.vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())

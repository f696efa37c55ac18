"""Read requirements/lock.txt (written by ``bin/lock``) and pyproject.toml's pins.

The lock is the output of ``uv pip compile --generate-hashes``: one ``name==version`` line a
package at the start of a line, its ``--hash=sha256:…`` options on the indented lines below.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
#: The image's lock: the dependencies without the extras (the Dockerfile installs it).
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
PYPROJECT = ROOT / "pyproject.toml"
#: The extras bin/lock resolves with the dependencies, so bin/setup installs them; the others
#: (bench) are installed by hand.
LOCKED_EXTRAS = ("test", "dev")

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
_HASH = re.compile(r"--hash=(?P<hash>sha256:[0-9a-f]{64})")


class LockError(Exception):
    """The lock or pyproject.toml cannot be read as pins; the message is one sentence."""


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503): lower case, runs of -_. as one -
    version: str
    hashes: tuple[str, ...]


def read_lock(path: Path = LOCK) -> dict[str, Pin]:
    """Canonical name → its pin, in the lock's order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise LockError(f"cannot read the lock {path}: {error.strerror}") from None
    found: list[tuple[str, str, list[str]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            match = _PIN.match(line)
            if match is None:
                raise LockError(f"{path} line {number} is not a name==version pin: {line!r}")
            found.append((canonicalize_name(match["name"]), match["version"], []))
        elif found:
            found[-1][2].extend(m["hash"] for m in _HASH.finditer(line))
    return {name: Pin(name, version, tuple(hashes)) for name, version, hashes in found}


def pyproject_pins(
    path: Path = PYPROJECT, extras: tuple[str, ...] = LOCKED_EXTRAS
) -> dict[str, str]:
    """Canonical name → pinned version, for the dependencies and ``extras``."""
    project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    declared = list(project["dependencies"])
    for extra in extras:
        declared += optional.get(extra, [])
    pins: dict[str, str] = {}
    for text in declared:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            raise LockError(f"pyproject.toml: {text!r} is not a requirement") from None
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise LockError(f"pyproject.toml: {text!r} is not pinned with == to one version")
        pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins


def disagreements(pins: dict[str, str], lock: dict[str, Pin]) -> list[str]:
    """One sentence per pyproject.toml pin that the lock lacks or holds at another version."""
    found = []
    for name, version in sorted(pins.items()):
        locked = lock.get(name)
        if locked is None:
            found.append(f"{name}=={version} is pinned in pyproject.toml but not in the lock")
        elif locked.version != version:
            found.append(
                f"{name} is pinned at {version} in pyproject.toml and at {locked.version} "
                "in the lock"
            )
    return found

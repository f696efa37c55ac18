"""requirements/lock.txt, which bin/setup installs with --require-hashes, is what
pyproject.toml pins: bin/lock writes it, and these tests fail when a pin changed without it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.deps.lock import (
    LOCK,
    PYPROJECT,
    ROOT,
    RUNTIME_LOCK,
    disagreements,
    pyproject_pins,
    read_lock,
)


def test_every_pin_in_pyproject_is_in_the_lock_at_the_same_version() -> None:
    problems = disagreements(pyproject_pins(), read_lock())
    assert not problems, "; ".join(problems) + ": run bin/lock"


def test_a_pin_changed_in_pyproject_alone_is_reported_by_name(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        PYPROJECT.read_text(encoding="utf-8").replace('"click==8.5.1"', '"click==8.6.0"'),
        encoding="utf-8",
    )

    problems = disagreements(pyproject_pins(pyproject), read_lock())

    assert problems == [
        f"click is pinned at 8.6.0 in pyproject.toml and at {read_lock()['click'].version} "
        "in the lock"
    ]


def test_every_package_in_the_lock_carries_a_sha256_for_pip_to_check() -> None:
    lock = read_lock()

    assert len(lock) > len(pyproject_pins()), "the lock holds no transitive dependency"
    assert [pin.name for pin in lock.values() if not pin.hashes] == []


def test_the_lock_names_the_command_that_writes_it() -> None:
    header = LOCK.read_text(encoding="utf-8").splitlines()[:2]

    assert header[1].strip("# ") == "bin/lock"


def test_the_locked_setuptools_is_one_the_build_system_accepts() -> None:
    # bin/setup builds Koppel with --no-build-isolation, and pip then checks no range.
    build = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["build-system"]
    (requirement,) = [Requirement(r) for r in build["requires"] if r.startswith("setuptools")]

    assert requirement.specifier.contains(read_lock()["setuptools"].version)


def test_the_image_lock_has_every_dependency_at_the_suite_lock_version_and_no_test_tool() -> None:
    runtime = read_lock(RUNTIME_LOCK)
    lock = read_lock()

    assert disagreements(pyproject_pins(extras=()), runtime) == []
    assert {name: pin.version for name, pin in runtime.items()} == {
        name: lock[name].version for name in runtime
    }
    assert {"pytest", "mypy", "ruff"}.isdisjoint(runtime)
    assert [pin.name for pin in runtime.values() if not pin.hashes] == []


def test_the_image_installs_the_runtime_lock_with_hashes_checked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")

    assert "COPY requirements/runtime.txt" in dockerfile
    assert "--require-hashes" in dockerfile

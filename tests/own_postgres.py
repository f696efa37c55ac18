"""A PostgreSQL server of a test's own (``bench/own_postgres.py``, which the chaos suite
uses too): skips the test (fails it under ``KOPPEL_TESTS_STRICT=1``) when this machine
cannot run one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench import own_postgres as cluster
from bench.own_postgres import OwnPostgres
from tests.conftest import skip_unless_strict

__all__ = ["OwnPostgres", "own_postgres"]


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    """A running cluster with an empty ``koppel`` database, removed afterwards."""
    try:
        context = cluster.own_postgres()
        running = context.__enter__()
    except cluster.MissingServer as missing:
        skip_unless_strict(str(missing))
        raise  # not reached: skip_unless_strict raises
    try:
        yield running
    finally:
        context.__exit__(None, None, None)

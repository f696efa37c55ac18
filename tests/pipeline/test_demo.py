"""The main job, as the README's first command runs it: the whole sync on the simulators."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from sandbox.generate import generate_dataset
from tests.conftest import ROOT, free_port
from tests.pipeline.conftest import SESSION, drop_database


@pytest.fixture
def demo_database(database_url: str) -> Iterator[str]:
    """The database the demo makes next to the one it is given (``<database>_demo``, see
    ``ops.demo.demo_database_url``), dropped afterwards."""
    name = f"{SESSION}_demo"
    yield name
    drop_database(database_url, name)


def test_the_demo_syncs_every_booked_document_once_with_no_duplicates_and_nothing_failed(
    database_url: str, broker_url: str, demo_database: str
) -> None:
    # Given the data set seed 1 generates (the demo's default)
    teamleader = generate_dataset(1, "small")["teamleader"]
    department = next(d["id"] for d in teamleader["departments"] if d["name"] == "Koppel Demo B.V.")
    booked = [
        i
        for i in teamleader["invoices"]
        if i["status"] != "draft" and i["department"]["id"] == department
    ]
    notes = [n for n in teamleader["creditNotes"] if n["department"]["id"] == department]
    # When the demo runs on ports, a database and a virtual host of its own
    env = {
        **os.environ,
        "KOPPEL_DATABASE_URL": database_url,
        "KOPPEL_BROKER_URL": broker_url,
        "KOPPEL_SANDBOX_TEAMLEADER_PORT": str(free_port()),
        "KOPPEL_SANDBOX_VISMA_PORT": str(free_port()),
    }
    env.pop("KOPPEL_TOKEN_KEY", None)  # the demo makes its own
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Then it ends with the promised line: the generated documents plus the week's new
    # invoice and credit note, every customer, the payments, no duplicate, nothing failed
    assert result.returncode == 0, result.stdout + result.stderr
    closing = [line for line in result.stdout.splitlines() if line.startswith("demo:")]
    assert closing, result.stdout
    match = re.fullmatch(
        r"demo: (\d+) invoices, (\d+) credit notes, (\d+) customers, (\d+) payments synced; "
        r"0 duplicates; 0 failed",
        closing[-1].strip(),
    )
    assert match, closing[-1]
    invoices, credit_notes, customers, payments = (int(g) for g in match.groups())
    assert (invoices, credit_notes) == (len(booked) + 1, len(notes) + 1)
    assert customers == len(teamleader["contacts"]) + len(teamleader["companies"])
    # The demo pays the first 8 posted invoices with something left (by Visma number) in
    # Visma; Teamleader already shows 2 of those paid, so their payments are skipped. Seed 1's
    # data and that order are fixed, so this is the same number every run.
    assert payments == 6
    # And it worked in the database the fixture drops
    with psycopg.connect(database_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", [demo_database]
        ).fetchone()
    assert found == (1,)

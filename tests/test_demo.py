"""The main job, as the README's first command runs it, on its own ports."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from sandbox.generate import generate_dataset
from tests.conftest import ROOT, free_port


def test_the_demo_shows_through_the_clients_exactly_what_the_generated_data_holds() -> None:
    # Given the data set that seed 2 generates
    expected = generate_dataset(2, "small")["teamleader"]
    invoices = len(expected["invoices"])
    credit_notes = len(expected["creditNotes"])
    customers = len(expected["contacts"]) + len(expected["companies"])
    # When the demo runs the simulators with that seed and reads them through the clients
    env = {
        **os.environ,
        "KOPPEL_SANDBOX_TEAMLEADER_PORT": str(free_port()),
        "KOPPEL_SANDBOX_VISMA_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", "demo", "--seed", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then it succeeds and its closing line counts what Teamleader and Visma hold
    assert result.returncode == 0, result.stderr
    closing = [line for line in result.stdout.splitlines() if line.startswith("demo:")]
    assert closing, result.stdout
    match = re.search(
        r"Teamleader holds (\d+) invoices .* (\d+) credit notes, (\d+) customers; "
        r"Visma holds (\d+) accounts and 0 ledger items",
        closing[-1],
    )
    assert match, closing[-1]
    assert [int(g) for g in match.groups()[:3]] == [invoices, credit_notes, customers]
    assert int(match.group(4)) > 0

"""``koppel --help`` lists every command from ops/cli.py's table, importing none of them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ops.cli import COMMANDS, load_command
from tests.conftest import ROOT


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_listed_line_is_the_commands_own_short_help(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert COMMANDS[name][1] == command.get_short_help_str(limit=1000)


def test_koppel_help_lists_every_command_without_importing_one() -> None:
    probe = (
        "import json, sys\n"
        "from ops.cli import main\n"
        "try:\n"
        "    main(['--help'], prog_name='koppel')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    *help_lines, modules_line = result.stdout.splitlines()
    loaded = json.loads(modules_line)
    heavy = [m for m in loaded if m.split(".")[0] in ("psycopg", "httpx", "dramatiq", "pydantic")]
    commands = [m for m in loaded if m.startswith("ops.") and m != "ops.cli"]
    assert (heavy, commands) == ([], [])
    listed = {line.split()[0] for line in help_lines if line.startswith("  ") and line.split()}
    assert set(COMMANDS) <= listed

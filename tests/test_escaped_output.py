"""What Koppel prints and logs shows control characters and bidi overrides from remote text
as escapes (``ops/console.py``, ``config/logging.py``); the command line as a whole is
tested in ``tests/pipeline/test_hostile_text.py``."""

from __future__ import annotations

import io
import json
import logging

import pytest
from rich.table import Table
from rich.text import Text

from config.logging import EscapeControls, JsonFormatter, RedactSecrets
from ops.console import echo_json, new_console, one_line

#: A name as an attacker types it: clear the screen, an OSC 8 link, an OSC 52 clipboard
#: write, a right-to-left override and a C1 CSI.
HOSTILE = (
    "Acme\x1b[2J \x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\"
    " \x1b]52;c;aGk=\x07 \u202eBV\x9b31m"
)
UNSAFE = ("\x1b", "\x07", "\u202e", "\x9b")


def unsafe_in(text: str) -> list[str]:
    return [char for char in UNSAFE if char in text]


def test_a_console_prints_strings_texts_tables_and_json_with_escapes_instead_of_controls() -> None:
    console = new_console(200)
    console.file = io.StringIO()
    table = Table()
    table.add_column("name")
    table.add_row(HOSTILE)
    table.add_row(one_line(HOSTILE))
    console.print(HOSTILE)
    console.print(Text(HOSTILE, style="red"))
    console.print(table)
    console.print_json(json.dumps({"name": HOSTILE}))
    printed = console.file.getvalue()
    assert unsafe_in(printed) == [], printed
    assert "Acme\\x1b[2J" in printed and "\\u202eBV" in printed


def test_json_output_escapes_them_and_still_reads_back_as_the_same_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    echo_json([{"name": HOSTILE}])
    printed = capsys.readouterr().out
    assert unsafe_in(printed) == []
    assert json.loads(printed) == [{"name": HOSTILE}]


def logged(formatter: logging.Formatter, msg: str, *args: object) -> str:
    entry = logging.LogRecord("koppel", logging.INFO, __file__, 1, msg, args, None)
    for step in (RedactSecrets(), EscapeControls()):
        assert step.filter(entry)
    return formatter.format(entry)


@pytest.mark.parametrize(
    "formatter",
    [logging.Formatter("%(levelname)s %(message)s"), JsonFormatter()],
    ids=["text", "json"],
)
def test_a_newline_in_a_logged_id_stays_inside_its_line_and_escapes_are_shown(
    formatter: logging.Formatter,
) -> None:
    line = logged(formatter, "poked %s for %s", "abc\nERROR forged line", HOSTILE)
    assert "\n" not in line
    assert unsafe_in(line) == []
    message = json.loads(line)["message"] if isinstance(formatter, JsonFormatter) else line
    assert "poked abc\\x0aERROR forged line for Acme\\x1b[2J" in message


def test_a_traceback_keeps_its_lines_with_the_controls_in_it_escaped() -> None:
    try:
        raise ValueError(f"refused {HOSTILE}")
    except ValueError as error:
        entry = logging.LogRecord(
            "koppel", logging.ERROR, __file__, 1, "failed", (), (ValueError, error, None)
        )
    assert EscapeControls().filter(entry)
    text = logging.Formatter("%(message)s").format(entry)
    assert text.splitlines()[0] == "failed"
    assert "ValueError: refused Acme\\x1b[2J" in text
    assert unsafe_in(text) == []

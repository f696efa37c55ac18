"""The one rule for characters remote text may not carry into Koppel, Visma or a terminal.

Teamleader's names and descriptions are typed by anyone; in them a NUL byte makes PostgreSQL
refuse the row (text and JSONB alike), an ESC starts a terminal escape sequence (clear the
screen, set the window title, write the clipboard with OSC 52, hide a link with OSC 8) and a
bidi override (U+202E…) shows text in another order than it is stored. So:

* :func:`clean` removes them from text Koppel stores or sends to Visma (for PostgreSQL and
  for Visma's fields, which are meant for people);
* :func:`clean_json` does the same to every string in a JSON value (JSONB refuses
  ``\\u0000`` inside a string too);
* :func:`visible` shows them as escapes (``\\x1b``, ``\\u202e``) in what is printed or logged,
  where text must stay recognisable rather than be edited.

Unsafe: C0 controls (U+0000–U+001F), DEL and the C1 controls (U+007F–U+009F), the bidi
embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), and lone surrogates (a
JSON ``\\ud800`` that no UTF-8 encoder, PostgreSQL's or a terminal's, can write). A tab and a
newline are kept where a text may have lines.
"""

from __future__ import annotations

import re
from typing import Any

_CONTROLS = "\x00-\x1f\x7f-\x9f"
_BIDI = "\u202a-\u202e\u2066-\u2069"
_SURROGATES = "\ud800-\udfff"

#: Every unsafe character, tab and newline included (a one-line text keeps neither).
_UNSAFE = re.compile(f"[{_CONTROLS}{_BIDI}{_SURROGATES}]")
#: The unsafe characters of a text that may have lines: all but tab and newline.
_UNSAFE_IN_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]")
#: Controls that separate words (Python's whitespace among them): a space on one line, so
#: "Jan\nJansen" stays two words.
_SPACING = frozenset("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85")


def clean(text: str, *, lines: bool = False) -> str:
    """``text`` without unsafe characters: a spacing control becomes a space, the others
    (NUL, ESC, bidi overrides…) are dropped, a lone surrogate becomes U+FFFD.

    ``lines``: the text may have lines (a note, a reason): tab and newline stay, and a
    carriage return is dropped (so Windows' CRLF becomes a newline)."""
    if lines:
        return _UNSAFE_IN_LINES.sub(_cleaned_in_lines, text)
    return _UNSAFE.sub(_cleaned, text)


def _cleaned(match: re.Match[str]) -> str:
    char = match.group()
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return " " if char in _SPACING else ""


def _cleaned_in_lines(match: re.Match[str]) -> str:
    return "" if match.group() == "\r" else _cleaned(match)


def clean_json(value: Any) -> Any:
    """``value`` (parsed JSON: dicts, lists, strings, numbers…) with every string, keys too,
    cleaned as text that may have lines; anything else as it is."""
    if isinstance(value, str):
        return clean(value, lines=True)
    if isinstance(value, dict):
        return {
            (clean(k, lines=True) if isinstance(k, str) else k): clean_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [clean_json(item) for item in value]
    return value


def visible(text: str, *, lines: bool = True) -> str:
    """``text`` with each unsafe character shown as an escape: ``\\x1b``, ``\\x00``,
    ``\\u202e``. ``lines``: newlines and tabs stay (a table cell, a traceback); otherwise a
    newline is ``\\x0a`` too, so one log record is one line."""
    return (_UNSAFE_IN_LINES if lines else _UNSAFE).sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\t":
        return char  # harmless anywhere, and tracebacks and tables use it
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible_in_json(text: str) -> str:
    """JSON text (``json.dumps``' output, which escapes C0 controls itself) with each other
    unsafe character as a ``\\uXXXX`` escape: the same JSON value, safe to print."""
    return _UNSAFE_IN_LINES.sub(lambda match: f"\\u{ord(match.group()):04x}", text)

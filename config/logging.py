"""Log setup for every Koppel process: text or JSON lines on stderr, secrets redacted.

``setup(settings)`` gives the root logger one handler (``KOPPEL_LOG_FORMAT`` text|json,
``KOPPEL_LOG_LEVEL``) carrying :class:`RedactSecrets`, so no record — ours, httpx's at DEBUG,
Dramatiq's — reaches a line with a bearer token, an ``Authorization`` header, an OAuth
access/refresh token or authorization code, a client secret, a URL's password or the Fernet
token key. :class:`EscapeControls` follows it: remote text in a message (a Teamleader name,
an id from a webhook) cannot forge a log line with a newline, nor reach the terminal that
reads the log with an escape sequence. The handler writes to whatever ``sys.stderr`` is at
the time of the record, so in Dramatiq's worker processes (which point ``sys.stderr`` at a
pipe to the main process) lines stay whole and in order. uvicorn's loggers (``koppel webhooks
serve``) go through the same handler, each record one line (:class:`OneLine`) unless at DEBUG.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import TextIO

from config.settings import Settings
from translation.clean_text import visible

REDACTED = "[redacted]"

#: One character of a token, a secret or a base64 value.
_TOKEN = r"[A-Za-z0-9\-._~+/=%]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer x / Basic x, as a header line, a dict item or a (b'..', b'..')
    # pair (httpcore's DEBUG form).
    (
        re.compile(
            r"(?i)(\bauthorization['\"]?\s*[:=,]\s*(?:b?['\"])?)(?:(?:bearer|basic)\s+)?"
            + _TOKEN
            + "+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)(\bbearer\s+)" + _TOKEN + "{8,}"), rf"\1{REDACTED}"),
    # OAuth fields in JSON bodies, form bodies, query strings and reprs.
    (
        re.compile(
            r"(?i)(\b(?:access_token|refresh_token|id_token|client_secret|token_key|password"
            r"|KOPPEL_TOKEN_KEY)['\"]?\s*[:=]\s*(?:SecretStr\()?['\"]?)[^\s'\"&,;)}]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"([?&]code=)[^\s&'\"#]+"), rf"\1{REDACTED}"),
    # The OAuth authorization code as a quoted key (a dict's repr, JSON): only quoted, so a
    # line such as "status code: 429" keeps its number.
    (re.compile(r"""(['"]code['"]\s*:\s*['"])[^'"]+"""), rf"\1{REDACTED}"),
    # The password in a URL (postgresql://user:password@host, amqp://...).
    (re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@"), rf"\1{REDACTED}@"),
)


class RedactSecrets(logging.Filter):
    """Redacts secrets from a record's message, arguments and traceback before any handler
    formats it; ``secrets`` are literal values always redacted (the token key, client
    secrets), whatever surrounds them."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole; short values
        # (an empty or test setting) would redact ordinary words, so they are left to the
        # patterns.
        self.secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, still redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters print exc_text when set and never format exc_info again.
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class EscapeControls(logging.Filter):
    """Shows control characters and bidi overrides of a record as escapes (``\\x1b``,
    ``\\x0a``, ``\\u202e``): the message stays one line; a traceback keeps its lines (its
    other controls escaped). Placed after :class:`RedactSecrets`, which renders the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, still escaped
            message = f"{record.msg!s} {record.args!r}"
        record.msg = visible(message, lines=False)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = visible(record.exc_text)
        if record.stack_info:
            record.stack_info = visible(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process,
    thread, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
            "thread": record.threadName,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


class StderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler on the current ``sys.stderr`` (looked up per record)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always sys.stderr


#: Libraries whose INFO lines are one per HTTP request: shown at DEBUG only.
HTTP_LOGGERS = ("httpx", "httpcore")

#: The loggers of the HTTP server under ``koppel webhooks serve`` and of its event loop.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "asyncio")


class OneLine(logging.Filter):
    """Folds a record's traceback into its message: the exception and where it was raised,
    on the same line. For a server that faces the internet, where a request that makes it
    raise once can make it raise 100,000 times (108,142 tracebacks, 48 MB in 30 s)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            frames = traceback.extract_tb(error.__traceback__)
            where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {error!s:.200}{where})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """The configured secrets a log line must never show."""
    # The whole KOPPEL_TOKEN_KEY (a comma list while keys rotate) and each key in it alone.
    return tuple(
        secret.get_secret_value()
        for secret in (
            settings.token_key,
            *settings.token_keys,
            settings.teamleader_client_secret,
            settings.visma_client_secret,
            settings.sandbox_client_secret,
        )
    )


def setup(settings: Settings) -> logging.Handler:
    """Configure the root logger from ``settings`` (again: replaces the handler it added)."""
    handler = StderrHandler()
    handler.set_name("koppel")
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets(secrets_of(settings)))
    handler.addFilter(EscapeControls())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "koppel"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    http_level = logging.NOTSET if settings.log_level == "DEBUG" else logging.WARNING
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(http_level)
    # pika logs every AMQP frame at DEBUG, every connection at INFO and a refused one with
    # a traceback at ERROR: Koppel answers that itself in one line (ServiceUnreachable), as
    # Dramatiq's workers do (they set pika to CRITICAL too).
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    # uvicorn (run with log_config=None) logs through this handler, redacted, text or JSON,
    # one line a record unless at DEBUG.
    for name in SERVER_LOGGERS:
        server = logging.getLogger(name)
        server.handlers.clear()
        server.propagate = True
        for folding in [f for f in server.filters if isinstance(f, OneLine)]:
            server.removeFilter(folding)
        if settings.log_level != "DEBUG":
            server.addFilter(OneLine())
    return handler

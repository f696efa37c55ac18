"""The ``koppel`` command line.

Commands are loaded lazily (click's documented ``LazyGroup`` pattern): :data:`COMMANDS`
names the module each lives in and the line ``koppel --help`` shows for it, so listing the
commands imports none of them and ``koppel --help`` starts in a fraction of the time a full
import takes (bench/RESULTS.md, "CLI start-up"). ``tests/test_cli_lazy.py`` checks that each
line here is the command's own short help.

Every command runs inside :class:`KoppelGroup`, which turns the errors an operator fixes
outside Koppel (PostgreSQL or RabbitMQ down, the token key, an unknown connection, a
service's refusal) into their one-sentence message on stderr and exit status 2, so a
command added to :data:`COMMANDS` gets the same answers without a line of its own.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

#: name → ("module:attribute", the one line ``koppel --help`` shows).
COMMANDS: dict[str, tuple[str, str]] = {
    "backfill": (
        "ops.backfill_command:backfill_command",
        "Export booked invoices and credit notes from a date to Visma, after a preview.",
    ),
    "check": (
        "ops.migrate_command:check_command",
        "Check that PostgreSQL and RabbitMQ answer (exit 2 naming the one that does not).",
    ),
    "connect": (
        "ops.connect_command:connect_command",
        "Link a Teamleader department to a Visma company.",
    ),
    "connections": (
        "ops.connections_command:connections_command",
        "Connections: list, pause, resume, or remove one (its history stays).",
    ),
    "demo": (
        "ops.demo:demo_command",
        "Sync generated Teamleader data into the Visma simulator, end to end.",
    ),
    "dlq": (
        "ops.dlq_command:dlq_command",
        "Dead letters: list, show, requeue after fixing the cause, or purge.",
    ),
    "history": (
        "ops.history_command:history_command",
        'The timeline of one document, by Teamleader id or number ("2026 / 17", "2026/17", "17").',
    ),
    "keygen": ("ops.keygen_command:keygen_command", "Print a new Fernet key for KOPPEL_TOKEN_KEY."),
    "mappings": (
        "ops.mappings_command:mappings_command",
        "Show, set, propose or check how a connection books into Visma.",
    ),
    "migrate": (
        "ops.migrate_command:migrate_command",
        "Apply the database migrations that are missing (safe to run twice).",
    ),
    "poll": (
        "ops.poll_command:poll_command",
        "Publish what changed in Teamleader and Visma; exit 1 after --once if a stream failed.",
    ),
    "sandbox": (
        "ops.sandbox_command:sandbox_command",
        "Serve the Teamleader and Visma simulators over HTTP until interrupted.",
    ),
    "status": (
        "ops.status_command:status_command",
        "Last poll per stream, queue depths, failures, tokens; exit 1 when silent or refused.",
    ),
    "sync": (
        "ops.sync_command:sync_command",
        "Poll every connection once and process what it found; exit 1 if anything failed.",
    ),
    "webhooks": (
        "ops.webhooks_command:webhooks_command",
        "Teamleader webhooks: changes within seconds instead of at the next poll.",
    ),
    "work": (
        "ops.work_command:work_command",
        "Consume the given queues until stopped (SIGTERM finishes the messages in hand).",
    ),
}

#: The exit status of a command stopped by an answered error (like click's usage errors:
#: the command cannot do its job until a person acts).
EXIT_NEEDS_OPERATOR = 2


def answered_errors() -> tuple[type[Exception], ...]:
    """Errors whose message already says what is wrong and what to do: no stack trace.

    Imported when a command fails, not at start-up: they pull in psycopg, httpx and the
    clients, which ``koppel --help`` does not need."""
    from clients.errors import ApiError
    from config.unreachable import ServiceRefused, ServiceUnreachable, ServiceUrlInvalid
    from ops.connecting import ConnectError
    from store.connections import UnknownConnection
    from store.migrate import SchemaNotCurrent
    from store.tokens import TokenKeyError

    return (
        ServiceUnreachable,
        ServiceRefused,
        ServiceUrlInvalid,
        SchemaNotCurrent,
        TokenKeyError,
        UnknownConnection,
        ConnectError,
        ApiError,
    )


def load_command(name: str) -> click.Command:
    """The command ``name`` of :data:`COMMANDS`, imported now."""
    module_name, attribute = COMMANDS[name][0].split(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name][0]} is not a click command")
    return command


class KoppelGroup(click.Group):
    """A click group whose commands load on first use and answer :func:`answered_errors`
    in one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name) if cmd_name in COMMANDS else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The stored lines, so that help imports no command module.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            if not isinstance(error, answered_errors()):
                raise
            command = ctx.invoked_subcommand or ctx.info_name or "koppel"
            click.echo(f"koppel {command}: {error}", err=True)
            ctx.exit(EXIT_NEEDS_OPERATOR)


@click.group(cls=KoppelGroup)
def main() -> None:
    """Koppel: Teamleader Focus → Visma eAccounting, exactly once."""
    from config import get_settings
    from config.logging import setup as setup_logging

    # Every command logs alike: KOPPEL_LOG_FORMAT/KOPPEL_LOG_LEVEL, secrets redacted.
    setup_logging(get_settings())


if __name__ == "__main__":
    main()

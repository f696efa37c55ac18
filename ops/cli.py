"""The ``koppel`` command line.

Commands are loaded lazily (click's documented ``LazyGroup`` pattern): :data:`COMMANDS`
names the module each lives in and the line ``koppel --help`` shows for it, so listing the
commands imports none of them and ``koppel --help`` starts in a fraction of the time a full
import takes (bench/RESULTS.md, "CLI start-up"). ``tests/test_cli_lazy.py`` checks that each
line here is the command's own short help.

Every command runs inside :class:`KoppelGroup`, which turns every Koppel error
(config/errors.py: PostgreSQL or RabbitMQ down, the token key, an unknown connection, a
service's refusal, ...) into its one-sentence message on stderr and exit status 2, so a
command added to :data:`COMMANDS`, or an error class added anywhere, gets the same answers
without a line of its own.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

#: name → ("module:attribute", the one line ``koppel --help`` shows).
COMMANDS: dict[str, tuple[str, str]] = {
    "backfill": (
        "ops.backfill.command:backfill_command",
        "Export booked invoices and credit notes from a date to Visma, after a preview.",
    ),
    "check": (
        "ops.admin:check_command",
        "Check that PostgreSQL and RabbitMQ answer (exit 2 naming the one that does not).",
    ),
    "connect": (
        "ops.connect.command:connect_command",
        "Link a Teamleader department to a Visma company.",
    ),
    "connections": (
        "ops.connections.command:connections_command",
        "Connections: list, pause, resume, or remove one (its history stays).",
    ),
    "demo": (
        "ops.dev.demo:demo_command",
        "Sync generated Teamleader data into the Visma simulator, end to end.",
    ),
    "dlq": (
        "ops.dlq.command:dlq_command",
        "Dead letters: list, show, requeue after fixing the cause, or purge.",
    ),
    "history": (
        "ops.history.command:history_command",
        'The timeline of one document, by Teamleader id or number ("2026 / 17", "2026/17", "17").',
    ),
    "keygen": ("ops.admin:keygen_command", "Print a new Fernet key for KOPPEL_TOKEN_KEY."),
    "keys": (
        "ops.admin:keys_command",
        "Move the stored tokens to a new KOPPEL_TOKEN_KEY: rotate, check.",
    ),
    "mappings": (
        "ops.mappings.command:mappings_command",
        "Show, set, propose or check how a connection books into Visma.",
    ),
    "migrate": (
        "ops.admin:migrate_command",
        "Apply the database migrations that are missing (safe to run twice).",
    ),
    "poll": (
        "ops.processes.poll:poll_command",
        "Publish what changed in Teamleader and Visma; exit 1 after --once if a stream failed.",
    ),
    "reconcile": (
        "ops.reconcile.command:reconcile_command",
        "Compare Teamleader and Visma per document, to the cent; exit 1 when anything differs.",
    ),
    "sandbox": (
        "ops.dev.sandbox_command:sandbox_command",
        "Serve the Teamleader and Visma simulators over HTTP until interrupted.",
    ),
    "status": (
        "ops.status.command:status_command",
        "Last poll per stream, queue depths, failures, tokens; exit 1 when silent or refused.",
    ),
    "sync": (
        "ops.processes.sync:sync_command",
        "Poll every connection once and process what it found; exit 1 if anything failed.",
    ),
    "webhooks": (
        "ops.processes.webhooks:webhooks_command",
        "Teamleader webhooks: changes within seconds instead of at the next poll.",
    ),
    "work": (
        "ops.processes.work:work_command",
        "Consume the given queues until stopped (SIGTERM finishes the messages in hand).",
    ),
}

#: The exit status of a command stopped by an answered error (like click's usage errors:
#: the command cannot do its job until a person acts).
EXIT_NEEDS_OPERATOR = 2


def is_answered(error: BaseException) -> bool:
    """True for an error whose message already says what is wrong and what to do: every
    Koppel error (config/errors.py), whatever its marker, since at the command line the
    operator acts on each. Click answers its own exceptions (a ClickException that is a
    Koppel error too keeps click's "Error: ..." line).

    Imported when a command fails, not at start-up (``koppel --help`` needs none of it)."""
    from config.errors import KoppelError

    return isinstance(error, KoppelError) and not isinstance(error, click.ClickException)


def load_command(name: str) -> click.Command:
    """The command ``name`` of :data:`COMMANDS`, imported now."""
    module_name, attribute = COMMANDS[name][0].split(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name][0]} is not a click command")
    return command


class KoppelGroup(click.Group):
    """A click group whose commands load on first use and answer :func:`is_answered` errors
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
            if not is_answered(error):
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

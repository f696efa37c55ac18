"""The ``koppel`` command line.

Every command runs inside :class:`KoppelGroup`, which turns the errors an operator fixes
outside Koppel (PostgreSQL or RabbitMQ down, the token key, an unknown connection, a
service's refusal) into their one-sentence message on stderr and exit status 2, so a
command added with ``main.add_command`` gets the same answers without a line of its own.
"""

from __future__ import annotations

from typing import Any

import click

from clients.errors import ApiError
from config import get_settings
from config.logging import setup as setup_logging
from config.unreachable import ServiceUnreachable
from ops.backfill_command import backfill_command
from ops.connect_command import connect_command
from ops.connecting import ConnectError
from ops.demo import demo_command
from ops.dlq_command import dlq_command
from ops.history_command import history_command
from ops.keygen_command import keygen_command
from ops.mappings_command import mappings_command
from ops.migrate_command import check_command, migrate_command
from ops.poll_command import poll_command
from ops.sandbox_command import sandbox_command
from ops.status_command import status_command
from ops.sync_command import sync_command
from ops.webhooks_command import webhooks_command
from ops.work_command import work_command
from store.connections import UnknownConnection
from store.tokens import TokenKeyError

#: Errors whose message already says what is wrong and what to do: no stack trace.
ANSWERED_ERRORS: tuple[type[Exception], ...] = (
    ServiceUnreachable,
    TokenKeyError,
    UnknownConnection,
    ConnectError,
    ApiError,
)

#: The exit status of a command stopped by one of them (like click's usage errors: the
#: command cannot do its job until a person acts).
EXIT_NEEDS_OPERATOR = 2


class KoppelGroup(click.Group):
    """A click group whose commands answer :data:`ANSWERED_ERRORS` in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ANSWERED_ERRORS as error:
            command = ctx.invoked_subcommand or ctx.info_name or "koppel"
            click.echo(f"koppel {command}: {error}", err=True)
            ctx.exit(EXIT_NEEDS_OPERATOR)


@click.group(cls=KoppelGroup)
def main() -> None:
    """Koppel: Teamleader Focus → Visma eAccounting, exactly once."""
    # Every command logs alike: KOPPEL_LOG_FORMAT/KOPPEL_LOG_LEVEL, secrets redacted.
    setup_logging(get_settings())


main.add_command(sandbox_command)
main.add_command(demo_command)
main.add_command(migrate_command)
main.add_command(check_command)
main.add_command(keygen_command)
main.add_command(connect_command)
main.add_command(mappings_command)
main.add_command(poll_command)
main.add_command(sync_command)
main.add_command(work_command)
main.add_command(dlq_command)
main.add_command(backfill_command)
main.add_command(status_command)
main.add_command(history_command)
main.add_command(webhooks_command)

if __name__ == "__main__":
    main()

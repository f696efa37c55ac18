"""``koppel migrate`` (the schema), ``koppel check`` (are PostgreSQL and RabbitMQ there?) and
``koppel keygen`` (a key for the tokens Koppel stores encrypted): setting a machine up."""

from __future__ import annotations

import click
import psycopg

from config import get_settings
from config.unreachable import address_of
from contracts import broker
from store import db
from store.migrate import migrate
from store.token_store import new_key


@click.command("migrate")
def migrate_command() -> None:
    """Apply the database migrations that are missing (safe to run twice)."""
    settings = get_settings()
    # Says which server is down and how to start it, instead of psycopg's traceback.
    db.check_reachable(settings.database_url)
    with psycopg.connect(settings.database_url) as conn:
        applied = migrate(conn)
    where = address_of(settings.database_url)
    if applied:
        click.echo(f"migrate: applied {', '.join(applied)} to the database at {where}")
    else:
        click.echo(f"migrate: the database at {where} is up to date")


@click.command("check")
def check_command() -> None:
    """Check that PostgreSQL and RabbitMQ answer (exit 2 naming the one that does not)."""
    settings = get_settings()
    db.check_reachable(settings.database_url)
    click.echo(f"PostgreSQL at {address_of(settings.database_url)}: OK")
    broker.check_reachable(settings.broker_url)
    click.echo(f"RabbitMQ at {address_of(settings.broker_url)}: OK")


@click.command("keygen")
def keygen_command() -> None:
    """Print a new Fernet key for KOPPEL_TOKEN_KEY."""
    key = new_key()
    # The key alone on the first line, so `koppel keygen | head -1` can feed a secret store.
    click.echo(key)
    click.echo(
        "\nSet it for every Koppel process (poller, workers, CLI), e.g.\n"
        f"  export KOPPEL_TOKEN_KEY={key}\n"
        "Keep it secret and keep it: the tokens stored with it cannot be read without it "
        "(after a new key, run `koppel connect` again).",
        err=True,
    )

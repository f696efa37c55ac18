"""``koppel migrate`` (the schema), ``koppel check`` (are PostgreSQL and RabbitMQ there?),
``koppel keygen`` (a key for the tokens Koppel stores encrypted) and ``koppel keys`` (moving
what is stored to a new key): setting a machine up and keeping it."""

from __future__ import annotations

import click
import psycopg

from config import get_settings
from config.unreachable import address_of
from contracts import broker
from store import db, key_rotation
from store.key_rotation import Census
from store.migrate import migrate
from store.token_store import fernets, new_key


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
        "Keep it secret and keep it: the tokens stored with it cannot be read without it. "
        "To replace a key in use, see `koppel keys --help`.",
        err=True,
    )


#: How to replace KOPPEL_TOKEN_KEY, in the help of ``keys`` and ``keys rotate`` (``\b``:
#: click keeps the lines as written).
ROTATION_STEPS = """\b
Replacing KOPPEL_TOKEN_KEY without connecting again:
1. `koppel keygen`; set KOPPEL_TOKEN_KEY=NEW,OLD for every Koppel process
   (newest first: the first key encrypts, any decrypts) and restart them
2. `koppel keys rotate`: everything stored is re-encrypted under NEW
   (in batches; safe to run twice, and while workers run)
3. when `koppel keys check` exits 0, set KOPPEL_TOKEN_KEY=NEW everywhere"""


@click.group(
    "keys",
    help="Move the stored tokens to a new KOPPEL_TOKEN_KEY: rotate, check.\n\n" + ROTATION_STEPS,
)
def keys_command() -> None:
    pass


@keys_command.command(
    "rotate",
    help="Re-encrypt every stored token and webhook secret under the first key of"
    " KOPPEL_TOKEN_KEY; exit 1 while something still needs an older key.\n\n" + ROTATION_STEPS,
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=key_rotation.BATCH_ROWS,
    show_default=True,
    help="Rows re-encrypted per transaction.",
)
def rotate_command(batch_size: int) -> None:
    settings = get_settings()
    key = settings.token_key.get_secret_value()
    fernets(key)  # a missing or malformed key is said before the database is opened
    pool = db.open_pool(settings, name="koppel-keys")
    try:
        done = key_rotation.rotate(pool, key, batch_size)
    finally:
        pool.close()
    moved = ", ".join(f"{n} {what}" for what, n in done.reencrypted.items())
    click.echo(f"keys rotate: re-encrypted under key 1 (the newest): {moved}")
    if done.adopted:
        click.echo(
            f"keys rotate: {done.adopted} connection(s) now keep their webhook URL's token as"
            " their own secret (the URL is unchanged and no longer depends on the key)"
        )
    if done.busy:
        click.echo(f"keys rotate: {done.busy} row(s) kept changing during the run", err=True)
    _verdict("keys rotate", done.after)


@keys_command.command("check")
def keys_check_command() -> None:
    """Count what each key can read (exit 1 while something still needs an older key)."""
    settings = get_settings()
    key = settings.token_key.get_secret_value()
    fernets(key)
    pool = db.open_pool(settings, name="koppel-keys")
    try:
        found = key_rotation.census(pool, key)
    finally:
        pool.close()
    for count in found.counts:
        parts = [f"{n} under key {i}" for i, n in enumerate(count.under, start=1)]
        parts[0] += " (the newest)"
        if count.unreadable:
            parts.append(f"{count.unreadable} readable with none of the keys")
        click.echo(f"{count.what}: {', '.join(parts)}")
    click.echo(f"webhook URLs derived from the oldest key: {found.derived_urls}")
    _verdict("keys check", found)


def _verdict(command: str, found: Census) -> None:
    """The line that says whether the older keys can go; exit 1 when not."""
    unreadable = sum(count.unreadable for count in found.counts)
    if unreadable:
        click.echo(
            f"{command}: {unreadable} stored secret(s) cannot be read with any key of"
            " KOPPEL_TOKEN_KEY: add the key they were stored with, or connect again",
            err=True,
        )
    if not found.needs_old_key:
        if found.keys > 1:
            click.echo(f"{command}: nothing needs an older key: KOPPEL_TOKEN_KEY=<key 1> will do")
        else:
            click.echo(f"{command}: everything is under the one key")
        return
    old = sum(count.on_old_keys for count in found.counts)
    derived = found.derived_urls if found.keys > 1 else 0
    if old or derived:
        click.echo(
            f"{command}: {old} stored secret(s) and {derived} webhook URL(s) still need an"
            " older key: run `koppel keys rotate` once every process has the new"
            " KOPPEL_TOKEN_KEY",
            err=True,
        )
    raise SystemExit(1)

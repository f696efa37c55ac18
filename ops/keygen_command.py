"""``koppel keygen``: a fresh key for the OAuth tokens Koppel stores encrypted."""

from __future__ import annotations

import click

from store.tokens import new_key


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

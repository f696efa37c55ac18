"""A place of its own for each ``koppel demo`` run: a database and a RabbitMQ virtual host,
both named ``koppel_demo_<random>``, and free ports for the simulators.

Two demos on one machine, or a demo next to a real install, then never share a table, a
queue or a port. Both are removed when the run ends, on an error or Ctrl-C too, unless the
run keeps them for inspection.
"""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import click
import psycopg
from psycopg import sql

from config import Settings

#: Every demo's database and virtual host start with this (so leftovers are easy to find).
PREFIX = "koppel_demo_"


@dataclass(frozen=True)
class DemoPlace:
    name: str
    database_url: str
    broker_url: str


def new_name() -> str:
    """``koppel_demo_<8 hex digits>``: random, so runs started in the same second (or in
    containers with the same pids) still differ."""
    return f"{PREFIX}{secrets.token_hex(4)}"


def database_url_named(url: str, name: str) -> str:
    parts = psycopg.conninfo.conninfo_to_dict(url)
    parts["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **parts)


def broker_url_with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rabbitmqctl(*args: str) -> None:
    """Run ``rabbitmqctl`` (the broker's own tool: no management plugin needed); a failure
    becomes one sentence."""
    try:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)
    except FileNotFoundError as exc:
        raise click.ClickException(
            "the demo makes a RabbitMQ virtual host of its own with rabbitmqctl, which is not "
            "on PATH: run the demo on the machine RabbitMQ runs on"
        ) from exc
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise click.ClickException(
            f"rabbitmqctl {' '.join(args)} failed: {said[0] if said else exc.returncode}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise click.ClickException(f"rabbitmqctl {' '.join(args)} did not answer in 60 s") from exc


@contextmanager
def demo_place(base: Settings, *, keep: bool, say: Callable[[str], None]) -> Iterator[DemoPlace]:
    """A new virtual host (the database is the caller's to create, under ``place.name``),
    removed with the database when the block ends unless ``keep``."""
    name = new_name()
    place = DemoPlace(
        name=name,
        database_url=database_url_named(base.database_url, name),
        broker_url=broker_url_with_vhost(base.broker_url, name),
    )
    user = unquote(urlsplit(base.broker_url).username or "guest")
    vhost_made = False
    try:
        rabbitmqctl("add_vhost", name)
        vhost_made = True
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        yield place
    finally:
        if keep:
            # Names only: the URLs may carry passwords.
            say(
                f"kept for inspection: database {name} and virtual host {name} (point "
                "KOPPEL_DATABASE_URL and KOPPEL_BROKER_URL at them to look); remove them with "
                f"`DROP DATABASE {name}` and `rabbitmqctl delete_vhost {name}`"
            )
        else:
            _remove(base, name, vhost_made, say)


def _remove(base: Settings, name: str, vhost_made: bool, say: Callable[[str], None]) -> None:
    # A second Ctrl-C while removing would leave half a demo behind; it takes a second.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        left = []
        try:
            with psycopg.connect(base.database_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        except psycopg.Error:
            left.append(f"database {name}")
        if vhost_made:
            try:
                rabbitmqctl("delete_vhost", name)
            except click.ClickException:
                left.append(f"virtual host {name}")
        if left:
            say(f"could not remove {' and '.join(left)}: remove by hand")
        else:
            say(f"removed database and virtual host {name}")
    finally:
        signal.signal(signal.SIGINT, previous)

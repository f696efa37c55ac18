"""``koppel work``: run consumers, one Dramatiq worker process per invocation by default.

It hands over to Dramatiq's own command line (``python -m dramatiq``), so signals, graceful
shutdown and exit codes are Dramatiq's; containers scale by running more of these.
"""

from __future__ import annotations

import os
import sys

import click

from config import get_settings
from contracts import queues
from contracts.broker import check_reachable as check_broker
from store.db import check_reachable as check_database


@click.command("work")
@click.option(
    "--queues",
    "queue_names",
    multiple=True,
    type=click.Choice(queues.ALL),
    help="Queues to consume (repeatable); all by default.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Worker threads (KOPPEL_WORKER_THREADS).",
)
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True)
def work_command(queue_names: tuple[str, ...], threads: int | None, processes: int) -> None:
    """Consume the given queues until stopped (SIGTERM finishes the messages in hand)."""
    settings = get_settings()
    check_database(settings.database_url)
    check_broker(settings.broker_url)
    names = list(queue_names or queues.ALL)
    args = [
        sys.executable,
        "-m",
        "dramatiq",
        *(f"consumers.{name}" for name in names),
        "--queues",
        *names,
        "--processes",
        str(processes),
        "--threads",
        str(threads or settings.worker_threads),
    ]
    click.echo(f"koppel work: consuming {', '.join(names)}", err=True)
    os.execv(sys.executable, args)

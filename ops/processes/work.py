"""``koppel work``: run consumers, one Dramatiq worker process per invocation by default.

It hands over to Dramatiq's own command line (run by this module as ``python -m
ops.processes.work``, which first sets up Koppel's logging so Dramatiq's processes inherit it),
so signals, graceful shutdown and exit codes are Dramatiq's; containers scale by running
more of these. With ``KOPPEL_METRICS_PORT`` set, Dramatiq's Prometheus middleware serves
the metrics of all its worker processes on that port.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from config import get_settings
from config.logging import setup as setup_logging
from consumers.middleware.metrics import worker_environment
from contracts import queues
from contracts.broker import check_reachable as check_broker
from store.db import check_ready

logger = logging.getLogger(__name__)


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
    # Refuses a database without the newest migration: consumers would otherwise start and
    # fail each message on a table or column that is not there.
    check_ready(settings.database_url)
    check_broker(settings.broker_url)
    names = list(queue_names or queues.ALL)
    # Inherited through exec by Dramatiq's processes, before any imports prometheus_client.
    os.environ.update(worker_environment(settings))
    args = [
        sys.executable,
        "-m",
        "ops.processes.work",
        # Dramatiq calls it and takes the broker it sets, every actor declared on it.
        "consumers.app:get_broker",
        "--queues",
        *names,
        "--processes",
        str(processes),
        "--threads",
        str(threads or settings.worker_threads),
    ]
    logger.info("koppel work: consuming %s", ", ".join(names))
    os.execv(sys.executable, args)


def run_dramatiq(argv: list[str]) -> int:
    """Dramatiq's command line with Koppel's logging: its basicConfig finds the root handler
    set and changes nothing, and forked worker processes inherit it."""
    setup_logging(get_settings())
    from dramatiq.cli import main, make_argument_parser

    return int(main(make_argument_parser().parse_args(argv)) or 0)


if __name__ == "__main__":
    sys.exit(run_dramatiq(sys.argv[1:]))

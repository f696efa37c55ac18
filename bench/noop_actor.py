"""A Dramatiq actor that does nothing, on Koppel's broker setup (the cost benchmark's
baseline: what RabbitMQ + Dramatiq alone cost per message on this machine).

    dramatiq bench.noop_actor:setup --queues bench_noop --processes 1 --threads 8

Dramatiq's command line calls :func:`setup`, which makes the broker and declares the actor
on it: importing this module makes neither.
"""

from __future__ import annotations

import dramatiq

from config import get_settings
from contracts.broker import make_broker

QUEUE = "bench_noop"


def noop(payload: str) -> None:
    """Nothing: the message is received, decoded, acknowledged."""


def setup() -> None:
    """Make the broker, set it as Dramatiq's global one, and declare the actor on it."""
    broker = make_broker(get_settings(), check=False)
    dramatiq.set_broker(broker)
    dramatiq.actor(queue_name=QUEUE, actor_name=QUEUE, max_retries=0, broker=broker)(noop)

"""The consumers' broker: imported first by every consumer module, so actors bind to it.

Run one queue per process (as the containers do) with either of::

    koppel work --queues invoices
    dramatiq consumers.invoices --queues invoices --processes 1 --threads 8
"""

from __future__ import annotations

import dramatiq
import pika

from config import get_settings
from consumers.middleware.failures import RecordFailures
from consumers.middleware.metrics import worker_middleware
from contracts.broker import make_broker

broker = make_broker(get_settings(), [RecordFailures(), *worker_middleware()], check=False)
dramatiq.set_broker(broker)


def reconnect(url: str) -> None:
    """Point the broker at another RabbitMQ URL (tests give each session a virtual host;
    the actors stay bound to this same broker object)."""
    broker.close()
    broker.parameters = pika.URLParameters(url)

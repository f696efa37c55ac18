"""The consumers' broker, made on first use (as Zulip's ``get_worker``), so importing any
consumer module needs no broker, no database and no settings.

Run one queue per process (as the containers do) with either of::

    koppel work --queues invoices
    dramatiq consumers.invoices --queues invoices --processes 1 --threads 8

``koppel work`` hands Dramatiq's command line :func:`get_broker` itself
(``consumers.app:get_broker``). ``dramatiq consumers.invoices`` names only a module:
Dramatiq imports it, then takes its global broker, with no step between in which Koppel
could make one. So each queue module ends with :func:`when_run_by_dramatiq`, which makes the
broker when Dramatiq's command line is loaded (the one import that does work, and only in a
worker process) and does nothing on any other import.
"""

from __future__ import annotations

import sys
import threading

import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from config import get_settings
from consumers.all import consumers
from consumers.base import sync_actor
from consumers.middleware.failures import RecordFailures
from consumers.middleware.metrics import worker_middleware
from consumers.middleware.turns import BudgetTurns
from consumers.middleware.waits import Waits
from contracts.broker import make_broker

_broker: RabbitmqBroker | None = None
# Reentrant: declaring the actors imports the queue modules, whose last line calls back here
# under Dramatiq's command line; that call gets the broker being made.
_lock = threading.RLock()


def get_broker() -> RabbitmqBroker:
    """The consumers' broker with every queue's actor declared on it, also set as Dramatiq's
    global broker; made on the first call from the settings (it connects when first used)."""
    global _broker
    with _lock:
        if _broker is None:
            broker = make_broker(
                get_settings(),
                [RecordFailures(), BudgetTurns(), *worker_middleware()],
                retries=Waits,
                check=False,
            )
            dramatiq.set_broker(broker)
            _broker = broker
            try:
                for consumer in consumers():
                    sync_actor(broker, consumer)
            except BaseException:
                _broker = None
                raise
        return _broker


def when_run_by_dramatiq() -> None:
    """Make the broker if Dramatiq's command line is running (``dramatiq consumers.invoices``
    is importing the queue module that calls this); otherwise nothing."""
    if "dramatiq.cli" in sys.modules:
        get_broker()


def reconnect(url: str) -> None:
    """Point the broker at another RabbitMQ URL (tests give each session a virtual host;
    the actors stay bound to this same broker object)."""
    broker = get_broker()
    broker.close()
    broker.parameters = pika.URLParameters(url)

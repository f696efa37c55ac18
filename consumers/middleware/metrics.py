"""Prometheus metrics of the consumers: documents by type and outcome, and Dramatiq's own.

``koppel_documents_total{type,outcome}`` counts each message's end once: posted, updated,
unchanged, skipped and attention where the consumer records the outcome
(``consumers.base``, through :func:`count`), failed here when Dramatiq dead-letters it. A
redelivered message whose version was already handled is not counted again.

Dramatiq runs several worker processes under one main process, so the values live in
``prometheus_client``'s multiprocess files and Dramatiq's Prometheus middleware serves them
all from one forked process. ``koppel work`` prepares that (:func:`worker_environment`)
before it starts Dramatiq: the variables must be set before ``prometheus_client`` is first
imported. Without them (tests, ``koppel sync --once``) the counter is an ordinary
in-process one and no endpoint is served.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from prometheus_client import Counter

from config import Settings
from consumers.middleware.payload import sync_message

#: Set by ``koppel work`` when metrics are served; Dramatiq's Prometheus module reads it.
DATABASE_DIR_ENV = "dramatiq_prom_db"

DOCUMENTS = Counter(
    "koppel_documents_total",
    "Documents the consumers finished, by document type and outcome.",
    ["type", "outcome"],
)


def count(document_type: str, outcome: str) -> None:
    DOCUMENTS.labels(document_type, outcome).inc()


def worker_environment(settings: Settings) -> dict[str, str]:
    """The variables that make a Dramatiq process serve metrics on ``metrics_port``, with
    a fresh multiprocess directory (named by the port: one server per port and machine);
    empty when the port is 0."""
    if not settings.metrics_port:
        return {}
    directory = os.path.join(tempfile.gettempdir(), f"koppel-metrics-{settings.metrics_port}")
    # Files of an earlier run would add their counts to this one's.
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    return {
        DATABASE_DIR_ENV: directory,
        "PROMETHEUS_MULTIPROC_DIR": directory,
        "dramatiq_prom_host": settings.metrics_host,
        "dramatiq_prom_port": str(settings.metrics_port),
    }


def worker_middleware() -> list[Middleware]:
    """Document counts always; Dramatiq's Prometheus middleware (and so the endpoint) only
    in a process prepared by :func:`worker_environment` — its hooks need the process boot
    that only Dramatiq's command line emits."""
    middleware: list[Middleware] = [DocumentMetrics()]
    if os.environ.get(DATABASE_DIR_ENV):
        from dramatiq.middleware.prometheus import Prometheus

        middleware.append(Prometheus())
    return middleware


class DocumentMetrics(Middleware):
    """Counts dead-lettered messages as failed documents (runs after Retries decided)."""

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is not None and message.failed:
            count(_document_type(message), "failed")

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        count(_document_type(message), "failed")


def _document_type(message: dramatiq.MessageProxy) -> str:
    parsed = sync_message(message)
    return parsed.document_type if parsed is not None else "unknown"

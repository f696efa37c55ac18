"""Prometheus metrics of the poller, served by ``koppel poll`` on ``KOPPEL_METRICS_PORT``.

Per connection (by name) and stream:

- ``koppel_poll_lag_seconds``: how far the stream's watermark (the newest remote change it
  has read) is behind now, after its last successful round. It grows on a quiet stream too;
  alert on the last success instead when the question is "is the poller alive".
- ``koppel_poll_last_success_timestamp_seconds``: Unix time of the last round without error.
- ``koppel_poll_errors_total`` and ``koppel_poll_published_total``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Counter, Gauge, start_http_server

from config import Settings
from producers.poller import PollReport

LABELS = ["connection", "stream"]

LAG = Gauge(
    "koppel_poll_lag_seconds",
    "Seconds between now and the newest remote change the stream has read, after its last"
    " successful round.",
    LABELS,
)
LAST_SUCCESS = Gauge(
    "koppel_poll_last_success_timestamp_seconds",
    "Unix time of the stream's last round without error.",
    LABELS,
)
ERRORS = Counter("koppel_poll_errors_total", "Stream rounds that failed.", LABELS)
PUBLISHED = Counter("koppel_poll_published_total", "Messages the stream published.", LABELS)


def observe(report: PollReport, now: datetime | None = None) -> None:
    """Record one connection's round."""
    now = now or datetime.now(UTC)
    for stream in report.streams:
        labels = (report.connection.name, stream.stream)
        PUBLISHED.labels(*labels).inc(stream.published)
        if stream.error:
            ERRORS.labels(*labels).inc()
            continue
        LAST_SUCCESS.labels(*labels).set(now.timestamp())
        if stream.watermark is not None:
            LAG.labels(*labels).set(max((now - stream.watermark).total_seconds(), 0.0))


def serve(settings: Settings) -> None:
    """Serve this process's metrics over HTTP in a daemon thread (not when the port is 0)."""
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)

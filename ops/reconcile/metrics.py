"""``koppel_reconcile_differences{connection,kind}``: what the last reconciliation of a
connection found, per kind (ops/reconcile/compare.py KINDS; 0 for a kind it did not find,
so an alert on ``> 0`` resolves when the books agree again). Served with the poller's
metrics (``koppel poll``, ``KOPPEL_METRICS_PORT``), which runs the daily reconciliation."""

from __future__ import annotations

from prometheus_client import Gauge

DIFFERENCES = Gauge(
    "koppel_reconcile_differences",
    "Differences the connection's last reconciliation found between Teamleader and Visma.",
    ["connection", "kind"],
)


def observe(connection_name: str, counts: dict[str, int]) -> None:
    for kind, count in counts.items():
        DIFFERENCES.labels(connection_name, kind).set(count)

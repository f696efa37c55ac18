"""The error every command turns into a one-line answer when PostgreSQL or RabbitMQ is down."""

from __future__ import annotations

from urllib.parse import urlsplit


class ServiceUnreachable(Exception):
    """A service Koppel needs did not answer: which one, where, and how to start it."""

    def __init__(self, service: str, address: str, how_to_start: str, cause: object) -> None:
        self.service = service
        self.address = address
        self.how_to_start = how_to_start
        self.cause = cause
        super().__init__(
            f"{service} cannot be reached at {address} ({cause}). Start it with: {how_to_start}"
        )


def address_of(url: str) -> str:
    """``host:port`` of a service URL, without the credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


def database_unreachable(url: str, cause: object) -> ServiceUnreachable:
    return ServiceUnreachable(
        "PostgreSQL",
        address_of(url),
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start "
        "(or bin/services; set KOPPEL_DATABASE_URL if it runs elsewhere)",
        cause,
    )


def broker_unreachable(url: str, cause: object) -> ServiceUnreachable:
    return ServiceUnreachable(
        "RabbitMQ",
        address_of(url),
        "rabbitmq-server -detached (or bin/services; set KOPPEL_BROKER_URL if it runs elsewhere)",
        cause,
    )

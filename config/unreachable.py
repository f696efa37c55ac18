"""The errors every command turns into a one-line answer when PostgreSQL or RabbitMQ is down,
refuses Koppel (a missing database or virtual host, a wrong user or password), or its
``KOPPEL_*_URL`` cannot be read. Each message says what to do; none shows a password.

A service that does not answer may come back (:class:`~config.errors.TryLater`); one that
refuses Koppel, or an address that is not one, waits for the operator
(:class:`~config.errors.Misconfigured`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from config.errors import Misconfigured, TryLater


class ServiceUnreachable(TryLater):
    """A service Koppel needs did not answer: which one, where, and how to start it."""

    def __init__(self, service: str, address: str, how_to_start: str, cause: object) -> None:
        self.service = service
        self.address = address
        self.how_to_start = how_to_start
        self.cause = cause
        super().__init__(
            f"{service} cannot be reached at {address} ({cause}). Start it with: {how_to_start}"
        )


class ServiceRefused(Misconfigured):
    """A service answered but refused Koppel: starting it again would not help, changing a
    setting or creating what is missing does (the message says which)."""


class ServiceUrlInvalid(Misconfigured):
    """A ``KOPPEL_*_URL`` setting that is not an address of its service at all."""

    def __init__(self, variable: str, expected: str) -> None:
        # The value itself is left out: it may hold a password.
        super().__init__(f"{variable} is not a valid address; expected the form {expected}")


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


def database_url_invalid() -> ServiceUrlInvalid:
    return ServiceUrlInvalid(
        "KOPPEL_DATABASE_URL", "postgresql://user@host:5432/dbname (or host=... dbname=...)"
    )


def database_missing(url: str, name: str) -> ServiceRefused:
    return ServiceRefused(
        f'PostgreSQL at {address_of(url)} has no database "{name}": create it with'
        f" `createdb {name}` (or CREATE DATABASE {name}) and run `koppel migrate`,"
        " or set KOPPEL_DATABASE_URL to one that exists"
    )


def database_login_refused(url: str, cause: str) -> ServiceRefused:
    return ServiceRefused(
        f"PostgreSQL at {address_of(url)} refused the login ({cause}):"
        " check the user and password in KOPPEL_DATABASE_URL"
    )


def broker_unreachable(url: str, cause: object) -> ServiceUnreachable:
    return ServiceUnreachable(
        "RabbitMQ",
        address_of(url),
        "rabbitmq-server -detached (or bin/services; set KOPPEL_BROKER_URL if it runs elsewhere)",
        cause,
    )


def broker_url_invalid() -> ServiceUrlInvalid:
    return ServiceUrlInvalid("KOPPEL_BROKER_URL", "amqp://user:password@host:5672/vhost")


def broker_login_refused(url: str, user: str) -> ServiceRefused:
    return ServiceRefused(
        f"RabbitMQ at {address_of(url)} refused user {user!r} (access refused):"
        " check the user and password in KOPPEL_BROKER_URL"
    )


def broker_vhost_missing(url: str, vhost: str, user: str) -> ServiceRefused:
    return ServiceRefused(
        f"RabbitMQ at {address_of(url)} has no virtual host {vhost!r}: create it with"
        f" `rabbitmqctl add_vhost {vhost}` and"
        f" `rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*'`,"
        " or fix the virtual host in KOPPEL_BROKER_URL"
    )


def broker_vhost_denied(url: str, vhost: str, user: str) -> ServiceRefused:
    return ServiceRefused(
        f"RabbitMQ at {address_of(url)} denies user {user!r} the virtual host {vhost!r}:"
        f" grant it with `rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*'`"
    )

"""OAuth token pairs and where a connection keeps them.

Teamleader refresh tokens are single-use and Visma's rotate, so a refresh must happen under
a lock shared by every process of the connection, and the new pair must be stored before
the access token is used (docs/architecture.md#tokens). The client only sees the :class:`TokenStore`
protocol; the in-memory store serves one process (tests, the sandbox overview), and the
PostgreSQL store (encrypted at rest, advisory lock) serves a deployment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: datetime

    @classmethod
    def from_token_response(cls, body: dict[str, Any], now: datetime | None = None) -> TokenPair:
        """Build a pair from an OAuth2 token endpoint's JSON answer."""
        issued = now or datetime.now(UTC)
        expires_in_s = float(body.get("expires_in", 3600))
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]),
            expires_at=issued + timedelta(seconds=expires_in_s),
        )

    def expires_within(self, seconds: float, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or datetime.now(UTC)) + timedelta(seconds=seconds)


class TokenStore(Protocol):
    """Where one connection's token pair for one service lives."""

    def load(self) -> TokenPair: ...

    def save(self, pair: TokenPair) -> None: ...

    def refresh_lock(self) -> AbstractContextManager[None]:
        """Held while refreshing, by every process that serves this connection."""
        ...


class MemoryTokenStore:
    """A token store for a single process."""

    def __init__(self, pair: TokenPair) -> None:
        self._pair = pair
        self._lock = threading.Lock()

    def load(self) -> TokenPair:
        return self._pair

    def save(self, pair: TokenPair) -> None:
        self._pair = pair

    @contextmanager
    def refresh_lock(self) -> Iterator[None]:
        with self._lock:
            yield

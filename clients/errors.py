"""What went wrong, sorted by what the caller should do about it.

* :class:`DataError` — fix the data (or a mapping) in Teamleader or Visma; retrying the same
  call cannot succeed. A consumer dead-letters at once with :attr:`ApiError.reason`.
* :class:`TransientError` — try again later; :attr:`TransientError.retry_after_s` says when
  if the API told us.
* :class:`ReauthorizationNeeded` — the connection's grant is gone (revoked, refresh token
  reused or expired); a person has to run ``koppel connect`` again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ApiError(Exception):
    """An error answered (or not answered) by Teamleader or Visma."""

    service: str
    reason: str
    status: int | None = None
    code: str | None = None
    #: The field the API complained about, when it said.
    fields: list[str] = field(default_factory=list)
    body: Any = None

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status else ""
        return f"{self.service}: {self.reason}{where}"


class DataError(ApiError):
    """The request was understood and refused: the data must change before a retry helps."""


class NotFound(DataError):
    """The resource named in the request does not exist."""


class Conflict(DataError):
    """The object already exists (Visma ErrorCode 4000): look it up instead of creating it."""


class TransientError(ApiError):
    """Rate limit, server error or a lost response: the same call may succeed later."""

    retry_after_s: float | None = None

    def __init__(self, *args: Any, retry_after_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_s = retry_after_s


class RateLimited(TransientError):
    """HTTP 429: the API asked us to wait ``retry_after_s`` seconds."""


class AmbiguousWrite(TransientError):
    """A write whose outcome is unknown (timeout, connection lost, 5xx after sending).

    The remote side may have applied it: look the object up before writing again
    (docs/architecture.md#exactly-once)."""


class ReauthorizationNeeded(ApiError):
    """The stored grant no longer works; the connection must be authorised again."""

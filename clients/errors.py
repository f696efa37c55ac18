"""What went wrong, sorted by what the caller should do about it.

* :class:`DataError` — fix the data (or a mapping) in Teamleader or Visma; retrying the same
  call cannot succeed. A consumer dead-letters at once with :attr:`ApiError.reason`.
* :class:`TransientError` — try again later; :attr:`TransientError.retry_after_s` says when
  if the API told us.
* :class:`ReauthorizationNeeded` — the connection's grant is gone (revoked, refresh token
  reused or expired); a person has to run ``koppel connect`` again.

Each is a branch of Koppel's error tree (config/errors.py): ``DataError`` and
``ReauthorizationNeeded`` are :class:`~config.errors.NeedsPerson`, ``TransientError`` is
:class:`~config.errors.TryLater`. Which one an answer becomes is decided when it is made,
from the HTTP status and the API's error code (each client's ``error_for``), so
:class:`ApiError` is only their shared base and is never raised itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from config.errors import KoppelError, NeedsPerson, TryLater


@dataclass
class ApiError(KoppelError):
    """An error answered (or not answered) by Teamleader or Visma: raise one of its
    subclasses, whose marker says what the caller must do."""

    service: str
    reason: str
    status: int | None = None
    code: str | None = None
    #: The field the API complained about, when it said.
    fields: list[str] = field(default_factory=list)
    body: Any = None

    def __post_init__(self) -> None:
        # Unsorted, it would be retried by a consumer and never reach a person.
        if type(self) is ApiError:
            raise TypeError("raise DataError, TransientError or ReauthorizationNeeded")

    def __str__(self) -> str:
        where = f" (HTTP {self.status})" if self.status else ""
        return f"{self.service}: {self.reason}{where}"


class DataError(ApiError, NeedsPerson):
    """The request was understood and refused: the data must change before a retry helps."""


class NotFound(DataError):
    """The resource named in the request does not exist."""


class Conflict(DataError):
    """The object already exists (Visma ErrorCode 4000): look it up instead of creating it."""


class TransientError(ApiError, TryLater):
    """Rate limit, server error or a lost response: the same call may succeed later."""

    retry_after_s: float | None = None

    def __init__(self, *args: Any, retry_after_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after_s = retry_after_s


class RateLimited(TransientError):
    """HTTP 429: the API asked us to wait ``retry_after_s`` seconds."""

    #: Always given: each client falls back to a default wait when the answer has no hint.
    retry_after_s: float


class AmbiguousWrite(TransientError):
    """A write whose outcome is unknown (timeout, connection lost, 5xx after sending).

    The remote side may have applied it: look the object up before writing again
    (docs/architecture.md#exactly-once)."""


class ReauthorizationNeeded(ApiError, NeedsPerson):
    """The stored grant no longer works; the connection must be authorised again."""

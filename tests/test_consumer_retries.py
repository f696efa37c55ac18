"""Which failures a consumer retries, and how often (Dramatiq's ``retry_when``)."""

from __future__ import annotations

from config import get_settings
from consumers.base import Wait, retry_when


def test_waiting_for_a_busy_document_or_a_rate_limit_never_uses_up_the_retries() -> None:
    many = get_settings().max_retries * 10
    assert retry_when(many, Wait("another worker is handling it", delay=1000))


def test_a_failure_is_retried_until_the_configured_number_of_retries_then_dead_lettered() -> None:
    limit = get_settings().max_retries
    assert retry_when(limit - 1, TimeoutError("read timed out"))
    assert not retry_when(limit, TimeoutError("read timed out"))

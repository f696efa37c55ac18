"""Which failures a consumer retries and how often (Dramatiq's ``retry_when``), and how long
a wait's delays are (consumers/middleware/waits.py; waits through the real middleware stack
are in tests/pipeline/test_waits.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import Settings, get_settings
from config.settings import LONGEST_DELAY_MS
from consumers.base import retry_when
from consumers.errors import Wait, WaitedTooLong, WaitingFor, describe
from consumers.middleware.waits import delay_ms, limit_s

HOUR_MS = 3_600_000


def test_a_failure_is_retried_until_the_configured_number_of_retries_then_dead_lettered() -> None:
    limit = get_settings().max_retries
    assert retry_when(limit - 1, TimeoutError("read timed out"))
    assert not retry_when(limit, TimeoutError("read timed out"))


def test_no_delay_of_a_wait_is_longer_than_one_hop_however_long_the_api_asks() -> None:
    hop = get_settings().retry_max_backoff_ms
    assert delay_ms(7 * 24 * HOUR_MS, 0, hop) == hop
    assert delay_ms(1_000, 6 * 24 * HOUR_MS, hop) == hop


def test_a_wait_is_tried_again_when_it_asked_at_first_and_less_often_as_it_goes_on() -> None:
    hop = get_settings().retry_max_backoff_ms
    assert delay_ms(1_000, 5_000, hop) == 1_000
    # An hour of waiting: every three minutes, not every second
    assert delay_ms(1_000, HOUR_MS, hop) == 180_000


def test_a_longest_delay_rabbitmq_would_time_out_is_refused_as_a_setting() -> None:
    assert Settings(retry_max_backoff_ms=LONGEST_DELAY_MS).retry_max_backoff_ms < 30 * 60_000
    with pytest.raises(ValidationError, match="retry_max_backoff_ms"):
        Settings(retry_max_backoff_ms=30 * 60_000)


def test_a_credit_note_waits_up_to_a_week_for_its_invoice_by_default() -> None:
    assert limit_s(Settings(), WaitingFor.INVOICE) == 7 * 24 * 3600


def test_a_wait_that_gave_up_is_described_as_the_failure_it_became() -> None:
    wait = Wait("invoice 7 is queued", waiting_for=WaitingFor.INVOICE, delay=1_000)
    assert describe(wait) == ("Wait", "invoice 7 is queued")
    wait.gave_up = WaitedTooLong("Waited 7.0 days for the credited invoice to be posted")
    assert describe(wait) == (
        "WaitedTooLong",
        "Waited 7.0 days for the credited invoice to be posted",
    )

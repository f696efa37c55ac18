"""Settings that cannot work together are refused when read, with what to change."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import Settings
from config.settings import SESSIONS_PER_POLL_THREAD


def test_a_pool_too_small_for_the_poll_threads_is_refused_with_the_size_it_needs() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(poll_threads=16, database_pool_size=16 * SESSIONS_PER_POLL_THREAD - 1)
    message = str(refused.value)
    assert "KOPPEL_DATABASE_POOL_SIZE=47 is too small for KOPPEL_POLL_THREADS=16" in message
    assert "at least 48" in message


def test_a_pool_with_room_for_every_poll_thread_is_accepted_and_the_defaults_fit() -> None:
    settings = Settings(poll_threads=4, database_pool_size=4 * SESSIONS_PER_POLL_THREAD)
    assert settings.database_pool_size == 12
    defaults = {
        name: Settings.model_fields[name].default for name in ("poll_threads", "database_pool_size")
    }
    assert defaults["poll_threads"] * SESSIONS_PER_POLL_THREAD <= defaults["database_pool_size"]

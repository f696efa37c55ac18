"""Worker threads are not spent sleeping on one connection's rate budget.

While a message is handled, its thread's budget calls defer instead of waiting longer than
``KOPPEL_BUDGET_DEFER_S`` (store/rate_budget.py): the reservation becomes a turn the message
carries in its options (``budget_turns``), the message goes back with a delay to that turn
(a :class:`~consumers.errors.Wait` for :attr:`~consumers.errors.WaitingFor.BUDGET`, which
uses up no retry), and the thread takes the next message, maybe another connection's. When
the message returns, this middleware hands its turns back to the budget, so its call goes
out in the slot it reserved (docs/architecture.md#many-connections). It also tells the
budget whether the message is bulk work (its lane below live), which a budget many
connections share serves from its bulk part only.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from config import get_settings
from consumers.middleware.waits import PRIORITY, TURNS
from contracts.broker import Lane
from store.rate_budget import Turn, start_deferring, stop_deferring


def carried_turns(options: dict[str, Any]) -> dict[str, Turn]:
    """The turns a message holds, as its options carry them (anything malformed dropped)."""
    raw = options.get(TURNS)
    if not isinstance(raw, dict):
        return {}
    turns = {key: Turn.from_json(value) for key, value in raw.items()}
    return {key: turn for key, turn in turns.items() if turn is not None}


def turns_option(turns: dict[str, Turn]) -> dict[str, object]:
    """The option that carries ``turns`` along with a deferred message."""
    return {TURNS: {key: turn.as_json() for key, turn in turns.items()}}


class BudgetTurns(Middleware):
    """Each message's budget calls defer past ``budget_defer_s``, with the turns it holds."""

    def before_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy
    ) -> None:
        # No lane (a message from before lanes): live, so it is never held back as bulk.
        lane = message.options.get(PRIORITY)
        bulk = lane is not None and int(lane) < Lane.LIVE
        start_deferring(get_settings().budget_defer_s, carried_turns(message.options), bulk=bulk)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: dramatiq.MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        stop_deferring()

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        stop_deferring()

"""What a Dramatiq message in a middleware hook carries: its sync queue and its SyncMessage."""

from __future__ import annotations

import dramatiq
from dramatiq.common import q_name

from contracts.messages import BY_QUEUE, MalformedMessage, SyncMessage, parse


def sync_queue(message: dramatiq.MessageProxy) -> str:
    """The queue the message belongs to (a delayed retry sits on ``<queue>.DQ``)."""
    return q_name(str(message.queue_name))


def sync_message(message: dramatiq.MessageProxy) -> SyncMessage | None:
    """The message's payload parsed, or None when its queue is not a sync queue, it has no
    argument, or the payload is malformed."""
    queue = sync_queue(message)
    if queue not in BY_QUEUE or not message.args:
        return None
    try:
        return parse(queue, message.args[0])
    except MalformedMessage:
        return None

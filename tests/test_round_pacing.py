"""The rounds' share of a connection's Teamleader budget (ops/processes/pacing.py): a full
bucket lets a short interval run as set, an empty one spaces rounds by what they cost."""

from __future__ import annotations

import itertools
import uuid

import pytest

from ops.processes.pacing import RoundPacing

#: Teamleader's budget in these tests: 200 calls per 61 s.
CALLS, WINDOW_S = 200, 61.0
#: Seconds a call of the rounds' share (0.5) takes to refill: 61 / 100.
REFILL_S = WINDOW_S / (0.5 * CALLS)


def test_rounds_within_the_share_may_follow_each_other_at_once() -> None:
    pacing = RoundPacing(share=0.5)
    connection = uuid.uuid4()
    # 25 rounds of 4 calls spend exactly the 100 calls of the share
    allowed = [pacing.spend(connection, 4, 0.0, CALLS, WINDOW_S) for _ in range(25)]
    assert allowed == [0.0] * 25


def test_once_the_share_is_spent_a_round_waits_until_its_calls_refilled() -> None:
    pacing = RoundPacing(share=0.5)
    connection = uuid.uuid4()
    for _ in range(25):
        pacing.spend(connection, 4, 0.0, CALLS, WINDOW_S)
    # The 26th round of 4 calls puts the bucket 4 calls in debt: 4 refills away
    assert pacing.spend(connection, 4, 0.0, CALLS, WINDOW_S) == pytest.approx(4 * REFILL_S)
    # ... and one polled every second from then on comes every 2.44 s, not every second
    moment, starts = 4 * REFILL_S, []
    for _ in range(10):
        moment = max(moment, pacing.spend(connection, 4, moment, CALLS, WINDOW_S))
        starts.append(moment)
    gaps = {round(later - earlier, 6) for earlier, later in itertools.pairwise(starts)}
    assert gaps == {round(4 * REFILL_S, 6)}


def test_a_quiet_spell_refills_the_share_but_never_beyond_it() -> None:
    pacing = RoundPacing(share=0.5)
    connection = uuid.uuid4()
    for _ in range(25):
        pacing.spend(connection, 4, 0.0, CALLS, WINDOW_S)
    # An hour later the bucket holds the share again (100 calls), not an hour's worth
    rounds_at_once = 0
    while pacing.spend(connection, 4, 3600.0, CALLS, WINDOW_S) == 3600.0:
        rounds_at_once += 1
    assert rounds_at_once == 25


def test_each_connection_has_a_bucket_of_its_own() -> None:
    pacing = RoundPacing(share=0.5)
    busy, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(30):
        pacing.spend(busy, 4, 0.0, CALLS, WINDOW_S)
    assert pacing.spend(other, 4, 0.0, CALLS, WINDOW_S) == 0.0

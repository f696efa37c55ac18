"""The client-side limiter keeps one client under an API's window on its own."""

from __future__ import annotations

from clients.ratelimit import SlidingWindowLimiter


class FakeClock:
    """Time that only moves when the limiter sleeps, so the test is exact and instant."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_call_after_a_full_window_waits_until_the_oldest_call_leaves_it() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(3, 60.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert limiter.acquire("account") == 0
    clock.now = 10.0
    # The fourth call must wait for the first (sent at 0 s) to leave the 60 s window.
    waited = limiter.acquire("account")
    assert waited == 50.0
    assert clock.now == 60.0


def test_keys_have_their_own_windows() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(1, 60.0, clock=clock, sleep=clock.sleep)
    limiter.acquire("/v2/customers")
    assert limiter.acquire("/v2/vouchers") == 0


def test_a_hold_from_the_server_delays_the_next_call() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(100, 60.0, clock=clock, sleep=clock.sleep)
    limiter.hold_until("account", 7.5)
    assert limiter.acquire("account") == 7.5


def test_no_more_than_the_limit_is_sent_in_any_window() -> None:
    clock = FakeClock()
    limiter = SlidingWindowLimiter(200, 60.0, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(1000):
        limiter.acquire("account")
        sent.append(clock.now)
        clock.now += 0.01
    # Every 60 s window holds at most 200 calls.
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t < start + 60.0]
        assert len(in_window) <= 200

"""While an API is down, a worker process lets one message a second try it; the others wait
without spending a call (consumers/service_gate.py)."""

from __future__ import annotations

from consumers.service_gate import ServiceGate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_every_message_may_try_while_the_apis_answer() -> None:
    gate = ServiceGate(probe_s=1.0, clock=Clock())
    assert all(gate.admit() for _ in range(50))


def test_after_a_server_error_one_message_a_second_tries_the_api() -> None:
    clock = Clock()
    gate = ServiceGate(probe_s=1.0, clock=clock)
    gate.failed()
    assert [gate.admit() for _ in range(5)] == [False] * 5
    clock.now += 1.0
    assert [gate.admit() for _ in range(5)] == [True, False, False, False, False]


def test_a_message_that_went_through_opens_the_gate_for_all() -> None:
    clock = Clock()
    gate = ServiceGate(probe_s=1.0, clock=clock)
    gate.failed()
    clock.now += 1.0
    assert gate.admit()
    gate.succeeded()
    assert all(gate.admit() for _ in range(5))


def test_the_gate_remembers_which_api_closed_it_until_a_message_goes_through() -> None:
    gate = ServiceGate(probe_s=1.0, clock=Clock())
    assert gate.down_service is None
    gate.failed("visma")
    assert gate.down_service == "visma"
    gate.succeeded()
    assert gate.down_service is None

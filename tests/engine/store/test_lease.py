"""The scheduler lease: one holder at a time; it renews; when it stops renewing, another takes over."""

from __future__ import annotations

from datetime import timedelta

from engine.runtime import Runtime
from engine.store.lease import Lease
from tests.conftest import NOW


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def test_only_one_contender_holds_the_lease_and_the_holder_renews_it(runtime: Runtime) -> None:
    clock = Clock()
    a = Lease(runtime.engine, holder="a", ttl=timedelta(seconds=60), clock=clock)
    b = Lease(runtime.engine, holder="b", ttl=timedelta(seconds=60), clock=clock)
    assert a.acquire() is True
    assert b.acquire() is False
    clock.now += timedelta(seconds=45)
    assert a.acquire() is True  # renewed until +105 s
    clock.now += timedelta(seconds=45)
    assert b.acquire() is False and a.held() and not b.held()
    assert a.current_holder() == "a"


def test_when_the_holder_dies_another_takes_over_after_the_ttl(runtime: Runtime) -> None:
    clock = Clock()
    a = Lease(runtime.engine, holder="a", ttl=timedelta(seconds=60), clock=clock)
    b = Lease(runtime.engine, holder="b", ttl=timedelta(seconds=60), clock=clock)
    assert a.acquire()
    clock.now += timedelta(seconds=61)  # a stopped renewing (killed)
    assert not a.held()
    assert b.acquire() is True
    assert a.acquire() is False  # the old holder, back, does not take it back
    assert b.held() and b.current_holder() == "b"


def test_released_lease_is_taken_at_once(runtime: Runtime) -> None:
    clock = Clock()
    a = Lease(runtime.engine, holder="a", clock=clock)
    b = Lease(runtime.engine, holder="b", clock=clock)
    assert a.acquire() and not b.acquire()
    b.release()  # releasing a lease you do not hold changes nothing
    assert a.held()
    a.release()
    assert b.acquire() and b.held() and a.current_holder() == "b"

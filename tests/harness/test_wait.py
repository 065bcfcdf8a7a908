import time

import pytest
from lnharness.errors import WaitTimeout
from lnharness.wait import default_timeout, wait_for


def test_wait_for_returns_the_truthy_value():
    values = iter([0, None, "", 42])
    assert wait_for(lambda: next(values), timeout=5) == 42


def test_wait_for_timeout_names_what_and_last_value():
    with pytest.raises(WaitTimeout) as info:
        wait_for(lambda: [], timeout=0.05, what="the answer")
    message = str(info.value)
    assert "the answer" in message and "[]" in message and "0.05" in message
    assert isinstance(info.value, TimeoutError)


def test_wait_for_polls_quickly():
    deadline = time.monotonic() + 0.03
    start = time.monotonic()
    wait_for(lambda: time.monotonic() >= deadline, timeout=5)
    # A 5 s backoff (as some harnesses use) would make this take seconds.
    assert time.monotonic() - start < 0.5


class _FakeClock:
    """time.monotonic and time.sleep of a clock that moves only when slept on."""

    def __init__(self):
        self.now = 1000.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_wait_for_pauses_a_tenth_of_the_time_waited_within_its_bounds(monkeypatch):
    import lnharness.wait as wait_module
    clock = _FakeClock()
    monkeypatch.setattr(wait_module, "time", clock)
    wait_for(lambda: clock.now >= 1005.0, timeout=10, max_interval=0.25)
    pauses = clock.pauses
    assert pauses[0] == 0.002  # the first interval
    assert pauses == sorted(pauses) and max(pauses) == 0.25
    # past the first interval, each pause is a tenth of the time waited so far (until the cap)
    waited = 0.0
    for pause in pauses:
        assert pause == pytest.approx(min(max(0.002, waited / 10), 0.25))
        waited += pause
    clock.pauses.clear()
    start = clock.now
    wait_for(lambda: clock.now >= start + 5.0, timeout=10)
    assert max(clock.pauses) == 0.1  # the default cap


def test_default_timeout_read_at_call_time(monkeypatch):
    monkeypatch.setenv("LNH_TIMEOUT", "7.5")
    assert default_timeout() == 7.5
    monkeypatch.setenv("LNH_TIMEOUT", "0.05")
    with pytest.raises(WaitTimeout):
        wait_for(lambda: False)
    monkeypatch.delenv("LNH_TIMEOUT")
    assert default_timeout() == 60.0


def test_bad_lnh_timeout_is_named(monkeypatch):
    monkeypatch.setenv("LNH_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="LNH_TIMEOUT.*'soon'"):
        default_timeout()

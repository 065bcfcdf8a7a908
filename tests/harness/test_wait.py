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


def test_wait_for_max_interval_caps_the_growing_pause(monkeypatch):
    import lnharness.wait as wait_module
    pauses = []
    monkeypatch.setattr(wait_module.time, "sleep", pauses.append)
    polls = iter(range(12))
    wait_for(lambda: next(polls) == 11, timeout=10, max_interval=0.25)
    assert pauses[0] == 0.01 and pauses == sorted(pauses) and max(pauses) == 0.25
    pauses.clear()
    polls = iter(range(12))
    wait_for(lambda: next(polls) == 11, timeout=10)
    assert max(pauses) == 0.1  # the default cap


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

"""The per-process link pool: reuse, reconnect after a drop, backoff after failures.

The opener is faked here; the real one is exercised against the test fleet in
tests/integration/test_transport.py.
"""

import pytest

from agent_link.errors import AuthenticationFailed, HostUnreachable
from agent_link.launch import LinkConfig, Timeouts
from agent_link.pool import LinkPool

CONFIG = LinkConfig(name="web-1", transport="local", docker_host="")
TIMEOUTS = Timeouts(connect=1, start=1, keepalive=0)


class FakeLink:
    def __init__(self):
        self.alive = True

    def close(self):
        self.alive = False

    abort = close


class Opener:
    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self, config, timeouts):
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def test_a_live_link_is_reused():
    link = FakeLink()
    pool = LinkPool(Opener(link))
    assert pool.get(1, CONFIG, TIMEOUTS) is link
    assert pool.get(1, CONFIG, TIMEOUTS) is link


def test_a_dropped_link_is_replaced_by_a_new_one():
    first, second = FakeLink(), FakeLink()
    pool = LinkPool(Opener(first, second))
    pool.get(1, CONFIG, TIMEOUTS)
    first.alive = False
    assert pool.get(1, CONFIG, TIMEOUTS) is second


def test_a_changed_config_opens_a_new_link_and_closes_the_old():
    first, second = FakeLink(), FakeLink()
    pool = LinkPool(Opener(first, second))
    pool.get(1, CONFIG, TIMEOUTS)
    moved = LinkConfig(name="web-1", transport="local", docker_host="unix:///other.sock")
    assert pool.get(1, moved, TIMEOUTS) is second
    assert not first.alive


def test_an_unreachable_host_is_not_dialled_again_until_its_backoff_ends():
    opener = Opener(HostUnreachable("cannot reach web-1: connection refused"), FakeLink())
    pool = LinkPool(opener, backoff_base=60)
    with pytest.raises(HostUnreachable, match=r"connection refused$"):
        pool.get(1, CONFIG, TIMEOUTS)
    with pytest.raises(HostUnreachable, match=r"connection refused \(next attempt in \d+ s\)"):
        pool.get(1, CONFIG, TIMEOUTS)
    assert opener.calls == 1
    pool.reset_backoff(1)
    assert isinstance(pool.get(1, CONFIG, TIMEOUTS), FakeLink)
    assert opener.calls == 2


def test_errors_that_need_an_admin_are_not_backed_off():
    opener = Opener(AuthenticationFailed("refused the key"), FakeLink())
    pool = LinkPool(opener, backoff_base=60)
    with pytest.raises(AuthenticationFailed):
        pool.get(1, CONFIG, TIMEOUTS)
    assert isinstance(pool.get(1, CONFIG, TIMEOUTS), FakeLink)

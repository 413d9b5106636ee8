"""Which connections the gateway gives up when there are too many: the idle ones, oldest first."""

import pytest

from gateway.connections import ConnectionTable
from gateway.web.serving import BACKLOG, connection_limit


def test_under_the_limit_nothing_is_closed():
    table = ConnectionTable(3)
    assert [table.opened(c, now=i) for i, c in enumerate("abc")] == [[], [], []]
    assert len(table) == 3


def test_past_the_limit_the_longest_idle_connection_goes():
    table = ConnectionTable(3)
    for i, c in enumerate("abc"):
        table.opened(c, now=i)
    table.busy("a")
    table.idle("a", now=10)   # "a" answered a request: idle again, but since 10
    assert table.opened("d", now=11) == ["b"]
    assert table.opened("e", now=12) == ["c"]
    assert table.counts()["evicted"] == 2


def test_a_busy_connection_is_never_closed_for_another_and_the_newcomer_is_refused_instead():
    table = ConnectionTable(2)
    table.opened("a", now=0)
    table.opened("b", now=1)
    table.busy("a")
    table.busy("b")
    assert table.opened("c", now=2) == ["c"]
    assert len(table) == 2 and table.counts()["refused"] == 1
    table.idle("b", now=3)
    assert table.opened("d", now=4) == ["b"]


def test_pipelined_requests_keep_a_connection_busy_until_the_last_finishes():
    table = ConnectionTable(1)
    table.opened("a", now=0)
    table.busy("a")
    table.busy("a")
    table.idle("a", now=1)
    assert table.opened("b", now=2) == ["b"], "a is still busy"
    table.idle("a", now=3)
    assert table.opened("c", now=4) == ["a"]


def test_closed_connections_are_forgotten_and_unknown_ones_ignored():
    table = ConnectionTable(2)
    table.opened("a", now=0)
    table.closed("a")
    table.closed("zzz")
    table.idle("zzz", now=1)
    table.busy("zzz")
    assert len(table) == 0


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError):
        ConnectionTable(0)


@pytest.mark.parametrize("descriptors,configured,limit", [
    (1024, 4096, 1024 - 256 - BACKLOG),
    (65536, 4096, 4096),
    (256, 4096, 1),       # nothing sensible fits: one connection rather than none
    (4096, 100, 100),
])
def test_the_limit_keeps_descriptors_back_for_peers_and_accepting(descriptors, configured, limit):
    assert connection_limit(configured, descriptors) == limit

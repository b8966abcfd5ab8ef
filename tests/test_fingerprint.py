"""The network-prefix and User-Agent checks."""

from __future__ import annotations

import pytest

from flask_rivo.fingerprint import MAX_USER_AGENT
from flask_rivo.fingerprint import same_network
from flask_rivo.fingerprint import same_user_agent
from flask_rivo.fingerprint import user_agent


@pytest.mark.parametrize(
    ("before", "now", "octets", "bits", "expected"),
    [
        ("192.0.2.1", "198.51.100.1", 0, 0, True),
        ("192.0.2.1", "192.0.2.99", 3, 0, True),
        ("192.0.2.1", "192.0.3.1", 3, 0, False),
        ("192.0.2.1", "192.0.3.1", 2, 0, True),
        ("192.0.2.1", "193.0.2.1", 1, 0, False),
        ("192.0.2.1", "192.0.2.1", 4, 0, True),
        ("192.0.2.1", "192.0.2.2", 4, 0, False),
        ("192.0.2.1", "::ffff:192.0.2.1", 4, 0, True),  # IPv4-mapped
        ("192.0.2.1", "2001:db8::1", 3, 0, False),  # family change, v4 check on
        ("192.0.2.1", "2001:db8::1", 0, 48, True),  # v4 check off
        ("2001:db8:1::1", "2001:db8:1:ffff::1", 0, 48, True),
        ("2001:db8:1::1", "2001:db8:2::1", 0, 48, False),
        ("2001:db8:1::1", "192.0.2.1", 4, 48, False),
        ("2001:db8:1::1", "2001:db8:2::1", 4, 0, True),  # v6 check off
        ("", "192.0.2.1", 4, 128, True),  # began with no address: unbound
        ("unix-socket", "unix-socket", 4, 0, True),
        ("unix-socket", "192.0.2.1", 4, 0, False),
        ("192.0.2.1", "", 4, 0, False),
        ("192.0.2.1", "garbage", 4, 0, False),
    ],
)
def test_same_network(
    before: str, now: str, octets: int, bits: int, expected: bool
) -> None:
    assert same_network(before, now, octets, bits) is expected


def test_user_agent_is_cut_and_compared_exactly() -> None:
    assert user_agent(None) == ""
    assert len(user_agent("x" * 10_000)) == MAX_USER_AGENT
    assert same_user_agent("Firefox", "Firefox")
    assert not same_user_agent("Firefox", "firefox")
    assert same_user_agent("", "anything")

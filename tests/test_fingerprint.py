"""The network-prefix and User-Agent checks."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

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
        ("9" * 5000, "9" * 5000, 4, 0, True),  # no address, but the same
        ("9" * 5000, "192.0.2.1", 4, 0, False),  # never parsed nor cached
        ("192.0.2.1", "1" * 5000, 4, 0, False),
        # An IPv6 zone ID may be any length: such an address is still one.
        ("fe80::1%" + "a" * 60, "fe80::2%" + "a" * 60, 0, 64, True),
        ("::ffff:192.0.2.1%" + "a" * 60, "198.51.100.7", 0, 64, True),
        ("::ffff:192.0.2.1%" + "a" * 60, "192.0.2.7", 3, 0, True),
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


def _reference(before: str, now: str, octets: int, bits: int) -> bool:
    """The prefix check written plainly with :mod:`ipaddress`, nothing cached
    and no shortcut: what the fast one must always agree with."""

    def parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return ip

    if not before or (octets == 0 and bits == 0):
        return True
    old = parse(before)
    if old is None:
        return before == now
    prefix = octets * 8 if old.version == 4 else bits
    if prefix == 0:
        return True
    new = parse(now)
    if new is None or old.version != new.version:
        return False
    return new in ipaddress.ip_network(f"{old}/{prefix}", strict=False)


_ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=4).map(lambda ip: f"::ffff:{ip}"),
    st.sampled_from(["", "unix-socket", "garbage", "192.0.2.1", "2001:db8::1"]),
    st.text(max_size=12),
    st.builds(
        "{}%{}".format,
        st.ip_addresses(v=6).map(str),
        st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=80),
    ),
)


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two addresses, often near each other (the same, or one bit apart)."""
    before = draw(_ADDRESSES)
    how = draw(st.sampled_from(["same", "near", "any"]))
    if how == "same":
        return before, before
    if how == "near":
        try:
            ip = ipaddress.ip_address(before)
        except ValueError:
            return before, draw(_ADDRESSES)
        flip = 1 << draw(st.integers(0, ip.max_prefixlen - 1))
        return before, str(ipaddress.ip_address(int(ip) ^ flip))
    return before, draw(_ADDRESSES)


@settings(max_examples=2000, deadline=None)
@given(_pairs(), st.integers(0, 4), st.integers(0, 128))
def test_same_network_agrees_with_the_plain_check(
    pair: tuple[str, str], octets: int, bits: int
) -> None:
    """The shortcut for an unchanged address and the caches change no answer."""
    before, now = pair
    assert same_network(before, now, octets, bits) is _reference(
        before, now, octets, bits
    )

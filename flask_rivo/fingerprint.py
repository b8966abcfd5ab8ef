"""Client fingerprints: does a request come from where its session began?

OWASP's Session Management Cheat Sheet suggests binding a session to
properties of the client so that a stolen cookie is less useful elsewhere.
The address check compares network prefixes rather than whole addresses,
because mobile and corporate clients change address within their network.
"""

from __future__ import annotations

import functools
import ipaddress

#: Longest User-Agent kept; longer ones are cut, so a huge header costs
#: bounded storage.
MAX_USER_AGENT = 512

#: Longest client address kept: any IPv4 or IPv6 address, with room for a
#: zone ID.
MAX_ADDRESS = 128

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


#: Longest text cached: any IPv4 or IPv6 address with a short zone ID. A
#: longer one (an IPv6 zone ID may be any length) is parsed every time, so
#: the cache holds at most 1,024 short texts whatever the clients send.
_MAX_CACHED = 64


def _parse(address: str) -> _Address | None:
    """The address, IPv4-mapped IPv6 as the IPv4 it maps; None if it is none."""
    if len(address) > _MAX_CACHED:
        return _parse_text(address)
    return _parse_cached(address)


def _parse_text(address: str) -> _Address | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


#: :func:`_parse_text`, cached (bounded): the same few addresses come back
#: request after request, and :mod:`ipaddress` takes microseconds to parse one.
_parse_cached = functools.lru_cache(maxsize=1024)(_parse_text)


def same_network(before: str, now: str, ipv4_octets: int, ipv6_bits: int) -> bool:
    """Tell whether ``now`` lies in the allowed prefix around ``before``.

    The check that applies is the one for the family of ``before``, the
    address the session began with; with that check off (0), any address
    passes. A client that moves from IPv4 to IPv6 (or back) while its
    family's check is on fails it. A session begun with no address (a test
    request, a Unix socket) is not bound to one; other addresses that do not
    parse pass only if they are equal.

    :param before: the address the session began with.
    :param now: the address of the current request.
    :param ipv4_octets: leading IPv4 octets that must match (0 to 4).
    :param ipv6_bits: leading IPv6 bits that must match (0 to 128).
    """
    # The same address is in any prefix of itself: the usual case, answered
    # without parsing (which took a tenth of a cached session read).
    if before == now or not before or (ipv4_octets == 0 and ipv6_bits == 0):
        return True
    old = _parse(before)
    if old is None:
        return False  # not an address, and not equal
    bits = ipv4_octets * 8 if old.version == 4 else ipv6_bits
    if bits == 0:
        return True
    new = _parse(now)
    if new is None or old.version != new.version:
        return False
    return new in _network(old, bits)


@functools.lru_cache(maxsize=1024)
def _network(
    address: _Address, bits: int
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network of the leading ``bits`` of ``address`` (cached, bounded)."""
    return ipaddress.ip_network((address, bits), strict=False)


def same_user_agent(before: str, now: str) -> bool:
    """Tell whether a request's User-Agent is the one the session began with.

    A session begun without a User-Agent header (a test client's
    ``session_transaction``, some API clients) is not bound to one.
    """
    return not before or before == now


def address(remote: str | None) -> str:
    """Normalize the client's address for storage and comparison, as
    :func:`user_agent` does: behind a proxy fix it is the text of a header
    the client may write (``X-Forwarded-For``), so NUL characters, which
    PostgreSQL cannot store, are dropped, and it is cut at
    :data:`MAX_ADDRESS`."""
    return (remote or "").replace("\x00", "")[:MAX_ADDRESS]


def user_agent(header: str | None) -> str:
    """Normalize a User-Agent header for storage and comparison.

    NUL characters are dropped: PostgreSQL cannot store them in text, and a
    client must not be able to make its own sessions fail that way.
    """
    return (header or "").replace("\x00", "")[:MAX_USER_AGENT]

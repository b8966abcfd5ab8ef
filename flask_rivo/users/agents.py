"""What people are shown of a client (its User-Agent in words, its
address) on the sessions page, in notices and by ``flask users``."""

from __future__ import annotations

import functools
import ipaddress

from ua_parser import parse

from ..i18n import gettext as _
from ..i18n import gettext_noop

#: What an unrecognized or missing User-Agent is called (a catalog msgid).
UNKNOWN = gettext_noop("an unknown browser")
#: What an address that is none is called (a catalog msgid).
UNKNOWN_ADDRESS = gettext_noop("an unknown address")


@functools.lru_cache(maxsize=1024)
def _parts(user_agent: str) -> tuple[str | None, str | None]:
    """The browser (with its major version) and the system, or ``None``.

    Cached, since a site sees few distinct headers; the words around them
    are not, as they depend on the page's language.
    """
    result = parse(user_agent[:512])
    browser = result.user_agent
    system = result.os
    name = None
    if browser is not None and browser.family != "Other":
        name = f"{browser.family} {browser.major}" if browser.major else browser.family
    os_name = None
    if system is not None and system.family != "Other":
        os_name = system.family
    return name, os_name


def describe(user_agent: str | None) -> str:
    """``"Firefox 128 on Windows"``, from a User-Agent header, by ua-parser.

    ua-parser's maintained rules recognize browsers and systems that a
    hand-written pattern would miss. Names of browsers and systems stay as
    they are; the words around them are in the page's language.
    """
    browser, system = _parts(user_agent) if user_agent else (None, None)
    words = browser or _(UNKNOWN)
    if system is not None:
        # TRANSLATORS: a browser and the operating system it runs on.
        words = _("%(browser)s on %(system)s", browser=words, system=system)
    return words


def where(address: str | None) -> str:
    """A client's address as shown to people: an IP address, or "an unknown
    address" for anything else.

    Behind a proxy fix the address is the text of a header that a client
    may write (``X-Forwarded-For``), kept as it came for the fingerprint
    check. Shown as it came, it would put a stranger's words into the
    owner's security notice ("Address: our security team, nothing to do")
    or escape sequences into an administrator's terminal (OWASP: content
    spoofing, log injection). An IPv6 zone, free text too, is left out.
    """
    try:
        shown = ipaddress.ip_address((address or "").partition("%")[0])
    except ValueError:
        return _(UNKNOWN_ADDRESS)
    return str(shown)

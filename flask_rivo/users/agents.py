"""What people are shown of a client (its User-Agent in words, its
address) on the sessions page, in notices and by ``flask users``."""

from __future__ import annotations

import functools
import ipaddress
import re
import typing as t

from ua_parser import load_builtins

from ..i18n import gettext as _
from ..i18n import gettext_noop

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from ua_parser.matchers import OSMatcher
    from ua_parser.matchers import UserAgentMatcher

#: What an unrecognized or missing User-Agent is called (a catalog msgid).
UNKNOWN = gettext_noop("an unknown browser")
#: What an address that is none is called (a catalog msgid).
UNKNOWN_ADDRESS = gettext_noop("an unknown address")


#: What a regular expression's escapes stand for, to read its literal text.
_ESCAPE = re.compile(r"\\(\W)")


def _spelt(matcher: UserAgentMatcher | OSMatcher, found: re.Match[str]) -> bool:
    """Whether every group that the rule's name copies from the header
    holds words that the rule itself spells out.

    Most rules name what they match (``(Firefox)/(\\d+)``, ``'Mac OS X'``),
    but a few generic ones (bots, apps over CFNetwork) copy free text:
    ``Mozilla/5.0 (compatible; Call us now bot/1.0)`` is "Call us now bot"
    to ua-parser. Shown as it came, that text would put a stranger's words
    into the owner's security notice (OWASP: content spoofing).
    """
    rule = _ESCAPE.sub(r"\1", found.re.pattern)
    if found.re.flags & re.IGNORECASE:
        rule = rule.casefold()
    for group in map(int, re.findall(r"\$(\d)", matcher.family)):
        copied = (found[group] if group <= found.re.groups else None) or ""
        if found.re.flags & re.IGNORECASE:
            copied = copied.casefold()
        if not copied or copied not in rule:  # nothing, or the header's own
            return False
    return True


def _name(
    matchers: Sequence[UserAgentMatcher] | Sequence[OSMatcher], user_agent: str
) -> tuple[str, str | None] | None:
    """The family and major version that the first rule to match gives, if
    the rule spells the family out (see :func:`_spelt`); the version only
    if it is a number."""
    for matcher in matchers:
        try:
            result = matcher(user_agent)
        except ValueError:  # ua-parser's own: a rule left the name empty
            return None
        if result is None:
            continue
        found = matcher.pattern.search(user_agent)
        if found is None or result.family == "Other":
            return None
        if not _spelt(matcher, found):
            return None
        major = result.major
        number = major is not None and major.isascii() and major.isdigit()
        return result.family, major if number else None
    return None


@functools.lru_cache(maxsize=1024)
def _parts(user_agent: str) -> tuple[str | None, str | None]:
    """The browser (with its major version) and the system, or ``None``
    where ua-parser's rules do not name them.

    Cached, since a site sees few distinct headers; the words around them
    are not, as they depend on the page's language.
    """
    # The rules ua_parser.parse uses, as the eager matchers that
    # load_builtins makes (typed there only as their abstract base).
    browsers, systems, _ = load_builtins()
    user_agent = user_agent[:512]
    browser = _name(t.cast("list[UserAgentMatcher]", browsers), user_agent)
    system = _name(t.cast("list[OSMatcher]", systems), user_agent)
    name = None
    if browser is not None:
        family, major = browser
        name = f"{family} {major}" if major else family
    return name, None if system is None else system[0]


def describe(user_agent: str | None) -> str:
    """``"Firefox 128 on Windows"``, from a User-Agent header, by ua-parser.

    ua-parser's maintained rules recognize browsers and systems that a
    hand-written pattern would miss. Only names those rules spell out are
    shown, never free text copied from the header (see :func:`_spelt`):
    anything else is "an unknown browser". Names of browsers and systems
    stay as they are; the words around them are in the page's language.
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

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


#: The syntax of a rule's regular expression, to read the words it spells
#: out: an escaped character stands for itself, anything else (a group, a
#: set, a repetition, ``.``) for no text at all.
_SYNTAX = re.compile(
    r"""
      \\(?P<itself>\W)          # an escaped character
    | \\\w                      # a class (\d, \s) or an anchor (\b)
    | \[(?:\\.|[^\]\\])*\]      # a set, [^/]
    | \{\d*(?:,\d*)?\}            # a repetition
    | \(\?(?:<?[=!]|:)?           # the opening of a group of another kind
    | [().|*+?^$]                # the rest of the syntax
    """,
    re.VERBOSE,
)
#: The most digits a version may have: browsers count in the hundreds;
#: more would let a header write a phone number into a notice.
MAX_VERSION_DIGITS = 4


def _spelt(matcher: UserAgentMatcher | OSMatcher, found: re.Match[str]) -> bool:
    """Whether every group that the rule's name copies from the header
    holds words that the rule itself spells out: text of its pattern that
    is no syntax, within one stretch of it (``(?:Free|Open)BSD`` spells out
    "BSD", not "FreeBSD").

    Most rules name what they match (``(Firefox)/(\\d+)``, ``'Mac OS X'``),
    but a few generic ones (bots, apps over CFNetwork) copy free text:
    ``Mozilla/5.0 (compatible; Call us now bot/1.0)`` is "Call us now bot"
    to ua-parser. Shown as it came, that text would put a stranger's words
    into the owner's security notice (OWASP: content spoofing).
    """
    fold = str.casefold if found.re.flags & re.IGNORECASE else str
    literal = _SYNTAX.sub(lambda part: part["itself"] or "\0", found.re.pattern)
    stretches = fold(literal).split("\0")  # the rule's words, between syntax
    for group in map(int, re.findall(r"\$(\d)", matcher.family)):
        copied = fold((found[group] if group <= found.re.groups else None) or "")
        # Nothing, or the header's own words: no stretch of the rule holds it.
        if not copied or not any(copied in stretch for stretch in stretches):
            return False
    return True


def _name(
    matchers: Sequence[UserAgentMatcher] | Sequence[OSMatcher], user_agent: str
) -> tuple[str, str | None] | None:
    """The family and major version that the first rule to match gives, if
    the rule spells the family out (see :func:`_spelt`); the version only
    if it is a number of at most :data:`MAX_VERSION_DIGITS` digits."""
    for matcher in matchers:
        try:
            result = matcher(user_agent)
        except ValueError:  # ua-parser's own: a rule left the name empty
            return None
        if result is None:
            continue
        found = matcher.pattern.search(user_agent)
        family = result.family.strip()
        if found is None or family in ("", "Other"):
            return None
        if not _spelt(matcher, found):
            return None
        major = result.major
        number = (
            major is not None
            and major.isascii()
            and major.isdigit()
            and len(major) <= MAX_VERSION_DIGITS
        )
        return family, major if number else None
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

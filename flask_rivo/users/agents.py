"""User-Agent headers in words, for the sessions page and log-in notices."""

from __future__ import annotations

import functools

from ua_parser import parse

from ..i18n import gettext as _
from ..i18n import gettext_noop

#: What an unrecognized or missing User-Agent is called (a catalog msgid).
UNKNOWN = gettext_noop("an unknown browser")


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

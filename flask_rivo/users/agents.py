"""User-Agent headers in words, for the sessions page and log-in notices."""

from __future__ import annotations

import functools

from ua_parser import parse

#: What an unrecognized or missing User-Agent is called.
UNKNOWN = "an unknown browser"


@functools.lru_cache(maxsize=1024)
def describe(user_agent: str | None) -> str:
    """``"Firefox 128 on Windows"``, from a User-Agent header, by ua-parser.

    ua-parser's maintained rules recognize browsers and systems that a
    hand-written pattern would miss; the result is cached, since a site sees
    few distinct headers.
    """
    if not user_agent:
        return UNKNOWN
    result = parse(user_agent[:512])
    browser = result.user_agent
    system = result.os
    if browser is None or browser.family == "Other":
        words = UNKNOWN
    else:
        words = f"{browser.family} {browser.major}" if browser.major else browser.family
    if system is not None and system.family != "Other":
        words += f" on {system.family}"
    return words

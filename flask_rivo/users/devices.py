"""Device cookies: browsers that logged in to an account before.

OWASP's answer to a throttle that strangers could turn against an account's
owner ("Slow Down Online Guessing Attacks with Device Cookies"): after a
successful log-in the browser gets a signed cookie naming the account and a
random nonce. Later attempts on that account from that browser are counted
in a bucket of their own (see :mod:`.throttle`), and a log-in from a browser
without one can be told to the owner (``RIVO_NOTIFY_NEW_DEVICE``).

One cookie holds the entries of up to :data:`MAX_ACCOUNTS` accounts, newest
first. It is signed with ``SECRET_KEY`` (``SECRET_KEY_FALLBACKS`` still
verify), HttpOnly, SameSite=Lax, and Secure where the session cookie is.
"""

from __future__ import annotations

import secrets
import typing as t
from datetime import timedelta

from flask import after_this_request
from flask import current_app
from flask import request
from itsdangerous import BadData
from itsdangerous import URLSafeTimedSerializer

if t.TYPE_CHECKING:
    from werkzeug import Response

#: The cookie's name.
COOKIE_NAME = "rivo_device"
#: How long a browser stays known without logging in again.
LIFETIME = timedelta(days=365)
#: Accounts one browser is remembered for.
MAX_ACCOUNTS = 5
_SALT = "flask-rivo.device"


def _serializer() -> URLSafeTimedSerializer:
    config = current_app.config
    fallbacks = list(config.get("SECRET_KEY_FALLBACKS") or ())
    # itsdangerous signs with the last key and verifies with all of them.
    keys = [*reversed(fallbacks), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=_SALT)


def _entries() -> list[tuple[str, str]]:
    """The ``(account, nonce)`` pairs of this request's device cookie."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw or len(raw) > 4096:
        return []
    try:
        # Signed with its time: a copied cookie stops counting as the browser
        # a year after the owner's last log-in, whatever its Max-Age said.
        loaded = _serializer().loads(raw, max_age=int(LIFETIME.total_seconds()))
    except BadData:
        return []
    if not isinstance(loaded, list):
        return []
    return [
        (entry[0], entry[1])
        for entry in loaded[:MAX_ACCOUNTS]
        if isinstance(entry, list)
        and len(entry) == 2
        and all(isinstance(part, str) for part in entry)
    ]


def nonce_for(account: str) -> str | None:
    """This browser's nonce for ``account``, if it logged in to it before."""
    return next((nonce for name, nonce in _entries() if name == account), None)


def remember(account: str) -> None:
    """Give this browser a fresh device entry for ``account`` with the response.

    A new nonce on every log-in, as OWASP asks: a cookie copied from the
    browser stops being the browser's once the owner logs in again.
    """
    entries = [(account, secrets.token_urlsafe(16))]
    entries += [entry for entry in _entries() if entry[0] != account]
    value = _serializer().dumps([list(entry) for entry in entries[:MAX_ACCOUNTS]])
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = app.session_interface

    @after_this_request
    def set_cookie(response: Response) -> Response:
        response.set_cookie(
            COOKIE_NAME,
            value,
            max_age=LIFETIME,
            path=interface.get_cookie_path(app),
            secure=interface.get_cookie_secure(app),
            httponly=True,
            samesite="Lax",
        )
        return response

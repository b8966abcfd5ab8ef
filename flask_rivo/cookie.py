"""The session cookie on a response, and the 503 page that replaces one."""

from __future__ import annotations

import logging
import typing as t
from datetime import datetime
from datetime import timezone

from .exceptions import StoreUnavailable
from .ids import cookie_value

if t.TYPE_CHECKING:
    from flask import Flask
    from flask.sessions import SessionInterface
    from werkzeug import Response

    from .session import RivoSession

logger = logging.getLogger("flask_rivo")


def vary_cookie(response: Response) -> None:
    """Name ``Cookie`` in the response's ``Vary`` header, as Flask does.

    One ``Vary`` header results, holding every name of the view's ``Vary``
    headers (``response.vary.add`` reads only the first and writes it back
    over all of them), or ``*`` alone if one says ``*`` (RFC 9110, 12.5.5);
    none is parsed in the usual case of no ``Vary`` yet. ``getlist``, as
    Werkzeug's ``get`` of a missing header raises and catches an HTTP
    exception: a few microseconds of every request that uses its session.
    """
    vary = response.headers.getlist("Vary")
    if not vary:
        response.headers.add("Vary", "Cookie")  # known absent: no search
        return
    if vary == ["Cookie"]:
        return  # as set by an earlier call: nothing to parse
    names = [n for n in (name.strip() for h in vary for name in h.split(",")) if n]
    lowered = {name.lower() for name in names}
    if "*" in lowered:
        names = ["*"]
    elif "cookie" not in lowered:
        names.append("Cookie")
    joined = ", ".join(names)
    if vary != [joined]:
        response.headers["Vary"] = joined


def _private_cookie(response: Response) -> None:
    """Keep shared caches from storing the session cookie (OWASP Session
    Management Cheat Sheet: a cached ``Set-Cookie`` hands one visitor's
    session ID, or its deletion, to every visitor after).

    Without a ``Cache-Control`` of the view's: ``private, no-cache="Set-Cookie"``.
    With one that lets shared caches keep the response (``public``, say),
    ``no-cache="Set-Cookie"`` joins it (RFC 9111, 5.2.2.4): the body may
    still be cached as the view chose, the cookie never reused.
    """
    policy = response.headers.getlist("Cache-Control")
    if not policy:
        response.headers["Cache-Control"] = 'private, no-cache="Set-Cookie"'
        return
    for directive in ",".join(policy).lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name in ("private", "no-store") or (
            name == "no-cache" and (not value or "set-cookie" in value)
        ):
            return
    response.headers["Cache-Control"] = ", ".join([*policy, 'no-cache="Set-Cookie"'])


class ResponseCookie:
    """Sets, deletes or refuses the session cookie of one response.

    The cookie's name and attributes come from the interface's
    ``get_cookie_*`` methods (Flask's ``SESSION_COOKIE_*`` keys), so a
    subclass of the interface may choose them per request.
    """

    __slots__ = ("app", "interface", "response")

    def __init__(
        self, interface: SessionInterface, app: Flask, response: Response
    ) -> None:
        self.interface = interface
        self.app = app
        self.response = response

    def options(self) -> dict[str, t.Any]:
        """The attributes every session cookie carries, from Flask's keys."""
        interface, app = self.interface, self.app
        return {
            "httponly": interface.get_cookie_httponly(app),
            "domain": interface.get_cookie_domain(app),
            "path": interface.get_cookie_path(app),
            "secure": interface.get_cookie_secure(app),
            "partitioned": interface.get_cookie_partitioned(app),
            "samesite": interface.get_cookie_samesite(app),
        }

    def set(self, session: RivoSession, value: str) -> None:
        """Send the session ID ``value``; no shared cache may keep it."""
        permanent = session.permanent
        self._send(
            cookie_value(value, permanent),
            self.interface.get_expiration_time(self.app, session),
        )

    def refresh(self, value: str) -> None:
        """Send a permanent session's cookie ``value`` again, pushing its
        expiry forward as Flask does, for a session the request never used."""
        expires = datetime.now(timezone.utc) + self.app.permanent_session_lifetime
        self._send(value, expires)

    def _send(self, value: str, expires: datetime | None) -> None:
        response = self.response
        response.set_cookie(
            self.interface.get_cookie_name(self.app),
            value,
            expires=expires,
            **self.options(),
        )
        vary_cookie(response)
        _private_cookie(response)

    def delete(self) -> None:
        """Expire the session cookie in the browser."""
        self.response.delete_cookie(
            self.interface.get_cookie_name(self.app), **self.options()
        )
        vary_cookie(self.response)
        _private_cookie(self.response)

    def refuse(self) -> None:
        """Turn the response into the application's 503 page, in place.

        Flask gives ``save_session`` no way to replace the response, and an
        exception there would become a 500, so the 503 is copied over it.
        """
        app, response = self.app, self.response
        if response.status_code == StoreUnavailable.code:
            return
        error = StoreUnavailable()
        replacement: Response
        try:
            replacement = app.make_response(app.handle_user_exception(error))
        except Exception:  # the app's own 503 handler failed
            logger.exception("The 503 handler failed; sending the plain page")
            replacement = error.get_response()
        response.status = replacement.status
        response.headers = replacement.headers
        response.response = replacement.response
        response.direct_passthrough = False
        vary_cookie(response)  # the page depends on the cookie, as ever

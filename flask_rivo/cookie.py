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

    One ``Vary`` header results, as Flask's tests expect, holding every name
    of the view's ``Vary`` headers (``response.vary.add`` reads only the
    first and writes it back over all of them); none is parsed in the usual
    case of no ``Vary`` yet. ``getlist``, as Werkzeug's ``get`` of a missing
    header raises and catches an HTTP exception: a few microseconds of every
    request that uses its session.
    """
    vary = response.headers.getlist("Vary")
    if not vary:
        response.headers.add("Vary", "Cookie")  # known absent: no search
        return
    if vary == ["Cookie"]:
        return  # as set by an earlier call: nothing to parse
    names = [name.strip() for header in vary for name in header.split(",")]
    if "cookie" not in (name.lower() for name in names):
        response.headers["Vary"] = ", ".join([*filter(None, names), "Cookie"])


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
        if not response.headers.getlist("Cache-Control"):  # as above
            # OWASP: no shared cache may keep (and hand out) a session ID.
            response.headers["Cache-Control"] = 'private, no-cache="Set-Cookie"'

    def delete(self) -> None:
        """Expire the session cookie in the browser."""
        self.response.delete_cookie(
            self.interface.get_cookie_name(self.app), **self.options()
        )
        vary_cookie(self.response)

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

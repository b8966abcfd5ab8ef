"""Error pages in the site's layout, which never replace the application's own.

The account pages' errors (a form that expired, a mail server that is down)
and :class:`~flask_rivo.StoreUnavailable`, which RivoSessions raises for
every page of the site, would otherwise be werkzeug's bare pages, unlike
the rest of the site. But an error page is the application's to design:
where it has a handler of its own for an error, that handler answers, even
on the account pages and whether it was registered before or after
:class:`~flask_rivo.RivoUsers`.
"""

from __future__ import annotations

import typing as t

from flask import current_app
from flask import g

from ..i18n import gettext as _
from ..i18n import gettext_noop
from ..i18n import render_template

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from jinja2 import Template
    from werkzeug.exceptions import HTTPException


#: The names of the errors a visitor may meet, for the page's heading
#: (werkzeug's are English only); other codes keep werkzeug's name.
TITLES: t.Final[t.Mapping[int, str]] = {
    400: gettext_noop("Bad request"),
    403: gettext_noop("Forbidden"),
    404: gettext_noop("Page not found"),
    405: gettext_noop("Method not allowed"),
    413: gettext_noop("Request too large"),
    429: gettext_noop("Too many requests"),
    500: gettext_noop("Internal server error"),
    503: gettext_noop("Service unavailable"),
}
#: What to say for these errors when the code that raised one gave no
#: description of its own (werkzeug's defaults are English only).
DESCRIPTIONS: t.Final[t.Mapping[int, str]] = {
    400: gettext_noop("The request was not understood. Please go back and try again."),
    403: gettext_noop("You may not see this page."),
    404: gettext_noop(
        "There is no page at this address. If you typed it, check it; if a"
        " link brought you here, the page may have moved."
    ),
    405: gettext_noop("This page does not take that kind of request."),
    413: gettext_noop("What was sent is too large."),
    429: gettext_noop("Too many requests. Please wait a moment, then try again."),
    500: gettext_noop(
        "Something went wrong on our side. Please try again in a moment."
    ),
    503: gettext_noop(
        "This service is not available just now. Please try again in a moment."
    ),
}


def error_page(error: HTTPException) -> ResponseReturnValue:
    """Answer ``error`` with ``rivo/<code>.html`` (else ``rivo/error.html``).

    An application that wants these pages for its own errors too registers
    this: ``app.register_error_handler(404, error_page)``. The page shows
    ``title`` and ``message`` in the page's language: a description that
    werkzeug made is replaced by flask_rivo's own words for the code, and
    one that is in flask_rivo's catalog (such as
    :class:`~flask_rivo.StoreUnavailable`'s) is translated.

    .. versionadded:: 0.1
    """
    _drop_uncommitted()
    code = error.code or 500
    names: list[str | Template] = [f"rivo/{code}.html", "rivo/error.html"]
    title = _(TITLES[code]) if code in TITLES else error.name
    message = str(error.description or "")
    if message == type(error).description and type(error).__module__.startswith(
        "werkzeug."
    ):
        message = DESCRIPTIONS.get(code, message)
    page = render_template(
        names, error=error, title=title, message=_(message) if message else ""
    )
    return page, code


def _drop_uncommitted() -> None:
    """Roll back what the failed request left of users, and forget its user.

    The page shows who is logged in: after a failed commit (a
    :class:`~.models.UserChangedError`, or an application's own database
    error) the database session refuses every read until it is rolled back,
    and the user it had loaded may be deleted. Reloaded from a fresh
    transaction, a deleted user is nobody, and the page renders.
    """
    state = current_app.extensions.get("rivo_users")
    if state is not None:
        state.store.rollback()
    g.pop("rivo_user", None)


def fallback_page(error: HTTPException) -> ResponseReturnValue:
    """The application's own handler for ``error`` if it has one, else
    :func:`error_page`. RivoUsers registers this one, not :func:`error_page`,
    so registering in any order leaves the application's pages in charge."""
    own = _own_handler(error)
    if own is not None:
        return current_app.ensure_sync(own)(error)  # type: ignore[no-any-return]
    return error_page(error)


def _own_handler(error: HTTPException) -> t.Callable[..., t.Any] | None:
    """The application-wide handler Flask would pick for ``error``, ours aside.

    Flask's own lookup order: handlers for the status code before those for
    any code, each by the error's class hierarchy, most specific first.
    """
    spec = current_app.error_handler_spec.get(None, {})
    for code in (error.code, None):
        handlers = spec.get(code, {})
        for cls in type(error).__mro__:
            handler = handlers.get(cls)
            if handler is not None and handler is not fallback_page:
                return handler
    return None

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
from flask import render_template

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from jinja2 import Template
    from werkzeug.exceptions import HTTPException


def error_page(error: HTTPException) -> ResponseReturnValue:
    """Answer ``error`` with ``rivo/<code>.html`` (else ``rivo/error.html``).

    An application that wants these pages for its own errors too registers
    this: ``app.register_error_handler(404, error_page)``.

    .. versionadded:: 0.1
    """
    code = error.code or 500
    names: list[str | Template] = [f"rivo/{code}.html", "rivo/error.html"]
    return render_template(names, error=error, message=error.description), code


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

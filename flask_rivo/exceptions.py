"""The exceptions flask_rivo raises.

Everything derives from :class:`RivoError`, so an application can catch the
whole family at once. Errors that end an HTTP request also derive from the
matching werkzeug exception, so ``@app.errorhandler(503)`` sees them.
"""

from __future__ import annotations

import logging

from werkzeug.exceptions import ServiceUnavailable

from .i18n import gettext_noop

logger = logging.getLogger("flask_rivo")


class RivoError(Exception):
    """Base class of every flask_rivo exception."""


class ConfigError(RivoError, ValueError):
    """A ``RIVO_*`` setting (or one of Flask's that flask_rivo relies on,
    such as the session cookie's) has a value flask_rivo cannot use.

    Raised by ``init_app`` (and again if the configuration changes to a bad
    value later), never in the middle of a request's session handling.

    :param key: the configuration key at fault.
    :param message: what is wrong with it.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        #: The configuration key at fault.
        self.key = key


class StoreError(RivoError):
    """A session store could not do what was asked (refused, timed out...).

    The session interface turns it into :class:`StoreUnavailable`. Whether
    a write that raised it landed is unknown.

    Its message says what kind of failure it was without quoting the
    driver's error text, and the driver's exception is not chained to it:
    that text can hold session data (SQL parameters, key values), which
    must never reach a log or an error tracker. :attr:`cause_type` names
    the driver's exception class for code that needs to tell causes apart.

    :param message: what failed and why, without any stored value or key.
    :param cause: the driver's exception; only its class is kept.
    """

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        #: The class of the driver's exception behind this one, or ``None``.
        self.cause_type: type[BaseException] | None = (
            None if cause is None else type(cause)
        )


class StoreUnavailable(RivoError, ServiceUnavailable):  # noqa: N818 (contract name)
    """HTTP 503: the session store cannot be reached.

    The request is refused rather than served with an empty session, which
    would log the user out or, worse, overwrite their real session.
    Its :attr:`description` is English (a catalog msgid): the error pages
    of RivoUsers show it translated.
    """

    description = gettext_noop(
        "Sessions are temporarily unavailable because the session store"
        " cannot be reached. Please try again in a moment."
    )


def log_store_error(error: StoreError) -> None:
    """Log a store failure with its traceback, but none of its chained errors.

    The stores of flask_rivo chain nothing to their errors; a store of the
    application's may chain its driver's error, whose text can hold
    session data, so only the message and the frames are logged.
    """
    shown = StoreError(str(error)).with_traceback(error.__traceback__)
    logger.error("Session store unavailable: %s", error, exc_info=shown)

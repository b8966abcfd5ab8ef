"""The exceptions flask_rivo raises.

Everything derives from :class:`RivoError`, so an application can catch the
whole family at once. Errors that end an HTTP request also derive from the
matching werkzeug exception, so ``@app.errorhandler(503)`` sees them.
"""

from __future__ import annotations

from werkzeug.exceptions import ServiceUnavailable


class RivoError(Exception):
    """Base class of every flask_rivo exception."""


class ConfigError(RivoError, ValueError):
    """A ``RIVO_*`` setting has a value flask_rivo cannot use.

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

    Stores raise it, wrapping the driver's exception as ``__cause__``; the
    session interface turns it into :class:`StoreUnavailable`.
    """


class StoreUnavailable(RivoError, ServiceUnavailable):  # noqa: N818 (contract name)
    """HTTP 503: the session store cannot be reached.

    The request is refused rather than served with an empty session, which
    would log the user out or, worse, overwrite their real session.
    """

    description = (
        "Sessions are temporarily unavailable because the session store"
        " cannot be reached. Please try again in a moment."
    )

"""The :class:`RivoUsers` extension: account workflows as a blueprint."""

from __future__ import annotations

import typing as t

from flask_wtf.csrf import generate_csrf

from .. import i18n
from ..exceptions import ConfigError
from ..exceptions import StoreUnavailable
from ..interface import RivoSessionInterface
from ..sessions import RivoSessions
from . import binding
from .auth import current_user
from .cli import users_cli
from .errors import fallback_page
from .models import SQLAlchemyUserStore
from .models import User
from .models import UserStore
from .settings import USERS_DEFAULTS
from .state import UsersState
from .views import bp

if t.TYPE_CHECKING:
    from flask import Flask


class RivoUsers:
    """Sign-up, log-in and log-out pages, and who is logged in.

    ``RivoUsers(app, user_model=User, db_session=db.session)`` registers the
    ``rivo_users`` blueprint. It stands on :class:`~flask_rivo.RivoSessions`
    and installs it when the application has not.

    :param user_model: a SQLAlchemy model with :class:`UserMixin`.
    :param db_session: the SQLAlchemy session (``scoped_session``) to use.
    :param user_loader: ``user_loader(user_id)`` returns the user or ``None``;
        by default ``db_session.get(user_model, user_id)``.
    :param user_store: instead of the two above, any
        :class:`~flask_rivo.users.UserStore`.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        user_model: type[t.Any] | None = None,
        db_session: t.Any = None,
        user_loader: t.Callable[[str], User | None] | None = None,
        user_store: UserStore | None = None,
    ) -> None:
        if user_store is None:
            if user_model is None or db_session is None:
                raise TypeError(
                    "RivoUsers needs user_model and db_session, or a user_store"
                )
            user_store = SQLAlchemyUserStore(user_model, db_session)
        self.user_store = user_store
        self.user_loader = user_loader or user_store.get
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Install the account pages on ``app``.

        Sets ``SESSION_COOKIE_SAMESITE`` to ``"Lax"`` when the application
        left it unset (Flask's default, ``None``).

        Answers :class:`~flask_rivo.StoreUnavailable` with the
        ``rivo/503.html`` page, in the site's layout, unless the application
        has a handler of its own for it (see
        :func:`~flask_rivo.users.errors.error_page`).
        In debug mode, says in the log when ``RIVO_SITE_NAME`` is left at
        its default, which every page and email would show.

        Also adds the ``flask users`` commands. A missing
        ``RIVO_EXTERNAL_URL`` is not an error here, so that every ``flask``
        command works without mail settings; a page that would email a link
        answers 503 instead (see :func:`~flask_rivo.users.mail.external_url`).

        :raises ConfigError: for a bad ``RIVO_*`` value or a missing
            ``SECRET_KEY``.
        """
        for key, value in USERS_DEFAULTS.items():
            app.config.setdefault(key, value)
        if not app.config.get("SECRET_KEY"):
            raise ConfigError(
                "SECRET_KEY",
                "RivoUsers signs its CSRF tokens and device cookies with it;"
                " set it to a long random string (python -c 'import secrets;"
                " print(secrets.token_hex())')",
            )
        if app.config.get("SESSION_COOKIE_SAMESITE") is None:
            # OWASP: a logged-in session's cookie is not sent on cross-site
            # subrequests and POSTs. An explicit "Strict" or "None" stays.
            app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
        if not isinstance(app.session_interface, RivoSessionInterface):
            RivoSessions(app)
        state = UsersState(self.user_store, self.user_loader)
        settings = state.settings(app.config)
        if "rivo_users" in app.blueprints:
            raise ConfigError("RIVO_USERS_URL_PREFIX", "RivoUsers is already installed")
        if isinstance(self.user_store, SQLAlchemyUserStore):
            binding.watch_credentials(self.user_store.model)
        app.extensions["rivo_users"] = state
        app.register_blueprint(bp, url_prefix=settings.url_prefix or None)
        if StoreUnavailable not in app.error_handler_spec[None][StoreUnavailable.code]:
            # Registered earlier by the application itself: it stays.
            app.register_error_handler(StoreUnavailable, fallback_page)
        if app.debug and settings.site_name == USERS_DEFAULTS["RIVO_SITE_NAME"]:
            app.logger.warning(
                "RIVO_SITE_NAME is not set: pages and emails call this site %r;"
                " set it to your site's name",
                settings.site_name,
            )
        app.cli.add_command(users_cli)
        app.jinja_env.globals.setdefault("csrf_token", generate_csrf)
        i18n.install(app)
        app.context_processor(_template_context)


def _template_context() -> dict[str, t.Any]:
    return {"current_user": current_user}

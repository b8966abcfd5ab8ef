"""The per-application state of :class:`~flask_rivo.RivoUsers`, and the clock.

The bottom layer of the account package: the workflows, the views and the
extension all read it, and it imports none of them.
"""

from __future__ import annotations

import threading
import typing as t

from flask import current_app

from .settings import USERS_DEFAULTS
from .settings import UsersSettings

if t.TYPE_CHECKING:
    from .models import User
    from .models import UserStore


class UsersState:
    """The per-application state of :class:`RivoUsers`.

    Lives in ``app.extensions["rivo_users"]``.
    """

    def __init__(
        self, store: UserStore, user_loader: t.Callable[[str], User | None]
    ) -> None:
        #: Where users live.
        self.store = store
        #: Turns the user ID a session holds into a user, or ``None``.
        self.user_loader = user_loader
        self._lock = threading.Lock()
        self._cached: tuple[tuple[object, ...], UsersSettings] | None = None

    def settings(self, config: t.Mapping[str, t.Any] | None = None) -> UsersSettings:
        """The settings for ``config`` (the current app's), rebuilt if changed."""
        config = current_app.config if config is None else config
        snapshot = tuple(config.get(key) for key in USERS_DEFAULTS)
        cached = self._cached
        if cached is not None and cached[0] == snapshot:
            return cached[1]
        with self._lock:
            settings = UsersSettings.from_config(config)
            self._cached = (snapshot, settings)
            return settings


def users_state() -> UsersState:
    """The :class:`RivoUsers` state of the current application."""
    state = current_app.extensions.get("rivo_users")
    if state is None:
        raise RuntimeError(
            "RivoUsers is not installed on this application; call RivoUsers(app)"
        )
    return t.cast("UsersState", state)

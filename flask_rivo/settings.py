"""``RIVO_SESSION_*`` configuration: defaults, parsing and validation.

The keys are read into one frozen :class:`SessionSettings` per application,
checked as a whole so a bad value fails loudly in ``init_app`` instead of
half-way through some later request.
"""

from __future__ import annotations

import dataclasses
import math
import typing as t
from datetime import timedelta
from types import MappingProxyType

from .exceptions import ConfigError
from .stores.base import SessionStore

#: Every ``RIVO_SESSION_*`` key and its default; the one place defaults live
#: (``init_app`` copies them into ``app.config`` with ``setdefault``).
SESSION_DEFAULTS: t.Mapping[str, object] = MappingProxyType(
    {
        "RIVO_SESSION_STORE": "memory",
        "RIVO_SESSION_STORE_URL": None,
        "RIVO_SESSION_IDLE_TIMEOUT": timedelta(days=14),
        "RIVO_SESSION_ABSOLUTE_TIMEOUT": timedelta(days=30),
        "RIVO_SESSION_ID_LIFETIME": timedelta(hours=1),
        "RIVO_SESSION_ID_GRACE": timedelta(minutes=5),
        "RIVO_SESSION_TOUCH_INTERVAL": timedelta(seconds=60),
        "RIVO_SESSION_IP_OCTETS": 0,
        "RIVO_SESSION_IPV6_PREFIX": 0,
        "RIVO_SESSION_UA_MATCH": True,
        "RIVO_SESSION_MEMORY_MAX": 100_000,
        "RIVO_SESSION_MAX_PER_USER": 100,
    }
)

#: The store names ``RIVO_SESSION_STORE`` accepts besides a store instance.
STORE_NAMES = ("memory", "sqlalchemy", "redis")

#: Flask's own bookkeeping in a session: not content. A session holding
#: nothing else is empty (no record, no cookie).
INTERNAL_KEYS = frozenset({"_permanent"})
#: Keys other extensions own that shape the settings too: Flask-WTF's CSRF
#: secret lives no longer than its tokens.
#: Flask's own keys for the session cookie are checked with them: a
#: cookie that browsers refuse would start a new session on every request.
FOREIGN_KEYS = (
    "WTF_CSRF_FIELD_NAME",
    "WTF_CSRF_TIME_LIMIT",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_DOMAIN",
    "SESSION_COOKIE_PATH",
    "APPLICATION_ROOT",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_PARTITIONED",
    "SESSION_COOKIE_SAMESITE",
)
#: Flask-WTF's defaults for the keys above.
_CSRF_FIELD = "csrf_token"
_CSRF_TIME_LIMIT = 3600.0
#: Flash messages are shown on the next page and are as short-lived.
_FLASHES = "_flashes"
#: Where a pending passkey ceremony keeps its challenge: it lives minutes
#: (see :mod:`flask_rivo.users.passkeys`), so a session of nobody's that
#: holds it stays transient.
PASSKEY_CHALLENGE = "_rivo_passkey"


#: The longest duration a key takes, in seconds: a hundred years. Longer
#: ones mean "never" to a person, and overflow what stores hold (Redis's
#: expiry in milliseconds, dates).
MAX_DURATION = 100 * 365.25 * 86400

#: The most IDs a request may follow to reach its session, each a store
#: read (see :attr:`SessionSettings.id_hops`): ``RIVO_SESSION_ID_GRACE`` is
#: held under ``MAX_HOPS - 2`` times ``RIVO_SESSION_ID_LIFETIME``.
MAX_HOPS = 12


def duration(key: str, value: object, *, allow_zero: bool = False) -> float:
    """Read a duration given as seconds (int or float) or a ``timedelta``.

    :raises ConfigError: for any other type, a negative or non-finite value,
        one over :data:`MAX_DURATION`, or zero where zero makes no sense.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int) and not isinstance(value, bool):
        # Past the cap anyway: a huge whole number would overflow float().
        seconds = float(max(-1, min(value, 2 * MAX_DURATION)))
    elif isinstance(value, float):
        # A plain float: a subclass's repr (numpy's "np.float64(...)") would
        # reach the stores in every record's times.
        seconds = float(value)
    else:
        raise ConfigError(
            key, f"expected seconds or a timedelta, got {type(value).__name__}"
        )
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        floor = "zero or more" if allow_zero else "more than zero"
        raise ConfigError(key, f"must be {floor} seconds, got {value!r}")
    if seconds > MAX_DURATION:
        raise ConfigError(key, "must be at most 100 years")
    return seconds


def flag(key: str, value: object) -> bool:
    """Read ``True`` or ``False``.

    :raises ConfigError: for anything else (``"false"`` is not false).
    """
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected True or False, got {value!r}")
    return value


def integer(key: str, value: object, low: int, high: int) -> int:
    """Read a whole number in ``low..high``.

    :raises ConfigError: for a non-integer (booleans included) or one out of
        range.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(key, f"expected a whole number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(key, f"must be from {low} to {high}, got {value}")
    # A plain int: an IntEnum's member or another subclass would reach the
    # stores as is, and the Redis store sends only plain ints.
    return int(value)


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    """The session configuration of one application, validated.

    Durations are in seconds.
    """

    #: ``"memory"``, ``"sqlalchemy"``, ``"redis"`` or a store instance.
    store: str | SessionStore
    #: Where the named store lives (a SQLAlchemy or ``redis://`` URL).
    store_url: str | None
    idle_timeout: float
    #: ``None``: sessions live as long as they are used.
    absolute_timeout: float | None
    id_lifetime: float
    id_grace: float
    touch_interval: float
    ip_octets: int
    ipv6_prefix: int
    ua_match: bool
    memory_max: int
    #: The most sessions one user may have; a log-in past it ends the
    #: user's oldest sessions.
    max_per_user: int
    #: Keys whose values outlive no request by much (Flask-WTF's CSRF secret,
    #: flash messages). A session of nobody that holds only these (and
    #: :data:`INTERNAL_KEYS`) is *transient*: it lives
    #: :attr:`transient_timeout` at most, so a flood of visitors who fetch a
    #: form and leave cannot fill the store for the full idle timeout.
    transient_keys: frozenset[str] = frozenset(
        {_CSRF_FIELD, _FLASHES, PASSKEY_CHALLENGE}
    )
    #: The idle timeout of a transient session: ``WTF_CSRF_TIME_LIMIT`` (one
    #: hour by default), or the idle timeout when that is ``None``.
    transient_timeout: float = _CSRF_TIME_LIMIT
    #: :attr:`transient_keys` and :data:`INTERNAL_KEYS`, joined once: every
    #: load and write asks whether a session holds only these.
    _short_lived: frozenset[str] = dataclasses.field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        short = self.transient_keys | INTERNAL_KEYS
        object.__setattr__(self, "_short_lived", short)

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> SessionSettings:
        """Build the settings from a Flask config, defaults filling gaps.

        :raises ConfigError: naming the first key with a bad value.
        """

        def get(key: str) -> t.Any:
            return config.get(key, SESSION_DEFAULTS[key])

        store = get("RIVO_SESSION_STORE")
        if not isinstance(store, SessionStore) and store not in STORE_NAMES:
            raise ConfigError(
                "RIVO_SESSION_STORE",
                f"expected one of {', '.join(STORE_NAMES)} or a SessionStore"
                f" instance, got {store!r}",
            )
        store_url = get("RIVO_SESSION_STORE_URL")
        if store_url is not None and not isinstance(store_url, str):
            raise ConfigError("RIVO_SESSION_STORE_URL", "expected a URL string")
        absolute = get("RIVO_SESSION_ABSOLUTE_TIMEOUT")
        ua_match = flag("RIVO_SESSION_UA_MATCH", get("RIVO_SESSION_UA_MATCH"))
        idle = duration("RIVO_SESSION_IDLE_TIMEOUT", get("RIVO_SESSION_IDLE_TIMEOUT"))
        settings = cls(
            store=store,
            store_url=store_url,
            idle_timeout=idle,
            absolute_timeout=None
            if absolute is None
            else duration("RIVO_SESSION_ABSOLUTE_TIMEOUT", absolute),
            id_lifetime=duration(
                "RIVO_SESSION_ID_LIFETIME", get("RIVO_SESSION_ID_LIFETIME")
            ),
            id_grace=duration(
                "RIVO_SESSION_ID_GRACE", get("RIVO_SESSION_ID_GRACE"), allow_zero=True
            ),
            touch_interval=duration(
                "RIVO_SESSION_TOUCH_INTERVAL",
                get("RIVO_SESSION_TOUCH_INTERVAL"),
                allow_zero=True,
            ),
            ip_octets=integer(
                "RIVO_SESSION_IP_OCTETS", get("RIVO_SESSION_IP_OCTETS"), 0, 4
            ),
            ipv6_prefix=integer(
                "RIVO_SESSION_IPV6_PREFIX", get("RIVO_SESSION_IPV6_PREFIX"), 0, 128
            ),
            ua_match=ua_match,
            memory_max=integer(
                "RIVO_SESSION_MEMORY_MAX", get("RIVO_SESSION_MEMORY_MAX"), 1, 2**62
            ),
            max_per_user=integer(
                "RIVO_SESSION_MAX_PER_USER", get("RIVO_SESSION_MAX_PER_USER"), 1, 2**62
            ),
            **_transient(config, idle),
        )
        if settings.id_hops > MAX_HOPS:
            raise ConfigError(
                "RIVO_SESSION_ID_GRACE",
                f"must be less than {MAX_HOPS - 2} times RIVO_SESSION_ID_LIFETIME:"
                " a request would follow too many rotated-out IDs to reach its"
                " session",
            )
        _check_cookie(config)
        if settings.touch_interval >= settings.idle_timeout:
            raise ConfigError(
                "RIVO_SESSION_TOUCH_INTERVAL",
                "must be shorter than RIVO_SESSION_IDLE_TIMEOUT, or sessions in"
                " use would expire between two touches",
            )
        return settings

    @property
    def id_hops(self) -> int:
        """How many IDs a request may follow to reach its session: an ID
        rotated out leads to its successor for ``id_grace``, and each
        successor is rotated out ``id_lifetime`` after it was issued at the
        soonest, so an ID still in its grace period is at most
        ``1 + id_grace // id_lifetime`` rotations behind; one more, as app
        servers' clocks differ a little."""
        return 3 + int(self.id_grace // self.id_lifetime)

    def is_empty(self, keys: t.Iterable[str], user_id: str | None) -> bool:
        """Whether a session with these keys, filed under this user, holds nothing.

        The one test of emptiness: an empty session gets no record and no
        cookie, and a stored one that becomes empty ends. Flask's own
        bookkeeping (``session.permanent = True`` in a ``before_request``)
        is not content.
        """
        return user_id is None and INTERNAL_KEYS.issuperset(keys)

    def is_transient(self, keys: t.Iterable[str], user_id: str | None) -> bool:
        """Whether a session holds nothing but short-lived values of nobody's.

        See :attr:`transient_keys`.
        """
        return user_id is None and self._short_lived.issuperset(keys)

    def expires_at(
        self,
        created_at: float,
        accessed_at: float,
        keys: t.Iterable[str] = (),
        user_id: str | None = "",
    ) -> float:
        """When a session created and last used at these times ends.

        :param keys: the session's keys, and
        :param user_id: the user it is filed under: a transient session
            (see :meth:`is_transient`) ends after the shorter
            :attr:`transient_timeout` of idleness. The defaults describe a
            session that is not transient.
        """
        idle = self.idle_timeout
        if self.is_transient(keys, user_id):
            idle = min(idle, self.transient_timeout)
        idle_end = accessed_at + idle
        if self.absolute_timeout is None:
            return idle_end
        return min(idle_end, created_at + self.absolute_timeout)


def _check_cookie(config: t.Mapping[str, t.Any]) -> None:
    """Refuse Flask cookie settings that every browser refuses to store.

    The cookie prefixes (RFC 6265bis, 4.1.3): a ``__Secure-`` cookie needs
    ``Secure``; a ``__Host-`` one ``Secure``, no ``Domain`` and the path
    ``/``. ``SameSite=None`` needs ``Secure`` too. Any of these would drop
    the session cookie in the browser, so that every request started a new
    session; and a ``SameSite`` Werkzeug does not know fails every request
    that sets the cookie.

    :raises ConfigError: naming the key to change.
    """
    name = config.get("SESSION_COOKIE_NAME") or "session"
    # Werkzeug makes a partitioned cookie Secure by itself (CHIPS asks it).
    secure = bool(
        config.get("SESSION_COOKIE_SECURE") or config.get("SESSION_COOKIE_PARTITIONED")
    )
    path = config.get("SESSION_COOKIE_PATH") or config.get("APPLICATION_ROOT") or "/"
    same_site = config.get("SESSION_COOKIE_SAMESITE")
    if same_site is not None and (
        not isinstance(same_site, str)
        or same_site.title() not in ("Strict", "Lax", "None")
    ):
        raise ConfigError(
            "SESSION_COOKIE_SAMESITE",
            f'expected "Strict", "Lax", "None" or None, got {same_site!r}',
        )
    lowered = str(name).lower()
    needs_secure = (
        lowered.startswith(("__secure-", "__host-"))
        or (same_site or "").lower() == "none"
    )
    if needs_secure and not secure:
        raise ConfigError(
            "SESSION_COOKIE_SECURE",
            f"must be True for a cookie named {name!r} with SameSite"
            f" {same_site!r}: browsers drop such a cookie without Secure",
        )
    if lowered.startswith("__host-"):
        if config.get("SESSION_COOKIE_DOMAIN"):
            raise ConfigError(
                "SESSION_COOKIE_DOMAIN",
                f"must be unset for a cookie named {name!r}: browsers drop a"
                " __Host- cookie that names a domain",
            )
        if path != "/":
            raise ConfigError(
                "SESSION_COOKIE_PATH",
                f"must be '/' for a cookie named {name!r} (it is {path!r},"
                " from APPLICATION_ROOT if unset): browsers drop a __Host-"
                " cookie with another path",
            )


def _transient(config: t.Mapping[str, t.Any], idle: float) -> dict[str, t.Any]:
    """The transient keys and timeout, from Flask-WTF's keys.

    :raises ConfigError: for a CSRF field name that is no string, or a time
        limit that is no duration.
    """
    field = config.get("WTF_CSRF_FIELD_NAME", _CSRF_FIELD)
    if not isinstance(field, str) or not field:
        raise ConfigError("WTF_CSRF_FIELD_NAME", f"expected a name, got {field!r}")
    limit = config.get("WTF_CSRF_TIME_LIMIT", _CSRF_TIME_LIMIT)
    timeout = idle if limit is None else duration("WTF_CSRF_TIME_LIMIT", limit)
    return {
        "transient_keys": frozenset({field, _FLASHES, PASSKEY_CHALLENGE}),
        "transient_timeout": timeout,
    }

"""The account settings of :class:`~flask_rivo.RivoUsers`: defaults,
parsing and validation.

Read once per configuration into one frozen :class:`UsersSettings`, with
the parsers the session settings use (:mod:`flask_rivo.settings`), so a bad
value fails in ``init_app``.
"""

from __future__ import annotations

import dataclasses
import typing as t
from datetime import timedelta
from types import MappingProxyType

from ..exceptions import ConfigError
from ..settings import duration
from ..settings import flag
from ..settings import integer

#: Every ``RIVO_*`` key of :class:`~flask_rivo.RivoUsers` and its default.
USERS_DEFAULTS: t.Mapping[str, object] = MappingProxyType(
    {
        "RIVO_USERS_URL_PREFIX": "",
        "RIVO_LOGIN_REDIRECT": "/",
        "RIVO_LOGOUT_REDIRECT": None,
        "RIVO_EXTERNAL_URL": None,
        "RIVO_SITE_NAME": "Flask-Rivo",
        "RIVO_VERIFICATION_TTL": timedelta(days=3),
        "RIVO_RESET_TTL": timedelta(hours=24),
        "RIVO_PASSWORD_NAMES": [],
        "RIVO_BCRYPT_ROUNDS": 12,
        "RIVO_UNVERIFIED_TTL": timedelta(days=7),
        "RIVO_LOGIN_FREE_ATTEMPTS": 5,
        "RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS": 20,
        "RIVO_LOGIN_MAX_DELAY": timedelta(minutes=15),
        "RIVO_NOTIFY_NEW_DEVICE": True,
        "RIVO_COSTLY_POSTS_PER_HOUR": 30,
        "RIVO_REAUTH_WINDOW": timedelta(minutes=10),
        "RIVO_TWO_FACTOR_TTL": timedelta(minutes=5),
        "RIVO_PASSKEY_RP_ID": None,
        "RIVO_PASSKEY_ORIGIN": None,
    }
)


def _text(config: t.Mapping[str, t.Any], key: str, *, optional: bool) -> str | None:
    value = config.get(key, USERS_DEFAULTS[key])
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class UsersSettings:
    """The user-account configuration of one application, validated.

    Durations are in seconds.
    """

    url_prefix: str
    login_redirect: str
    #: ``None``: the log-in page.
    logout_redirect: str | None
    #: Scheme and host for links in emails, without a trailing slash.
    external_url: str | None
    site_name: str
    verification_ttl: float
    reset_ttl: float
    password_names: tuple[str, ...]
    bcrypt_rounds: int
    unverified_ttl: float
    #: Failed log-ins per account before each further one must wait.
    login_free_attempts: int
    #: Failed log-ins per client address before each further one must wait.
    login_address_free_attempts: int
    #: The longest wait between two log-in attempts.
    login_max_delay: float
    #: Email the owner when their account logs in from a new browser.
    notify_new_device: bool
    #: Anonymous POSTs that cost a password hash or send an email, per
    #: client address and hour.
    costly_posts_per_hour: int
    #: How long after a log-in (or re-authentication) sensitive pages are
    #: open without asking for the password again.
    reauth_window: float
    #: How long a log-in waits for its second factor after the password.
    two_factor_ttl: float
    #: The WebAuthn relying-party ID (a host name, no scheme or port);
    #: ``None``: the host of :attr:`passkey_origin`.
    passkey_rp_id: str | None = None
    #: The origin passkey ceremonies must come from (``https://host[:port]``);
    #: ``None``: :attr:`external_url` (or the request's in debug mode).
    passkey_origin: str | None = None

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> UsersSettings:
        """Build the settings from a Flask config, defaults filling gaps.

        :raises ConfigError: naming the first key with a bad value.
        """

        def get(key: str) -> t.Any:
            return config.get(key, USERS_DEFAULTS[key])

        prefix = _text(config, "RIVO_USERS_URL_PREFIX", optional=False) or ""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ConfigError(
                "RIVO_USERS_URL_PREFIX", "must start with '/' and not end with it"
            )
        external = _text(config, "RIVO_EXTERNAL_URL", optional=True)
        if external is not None:
            if not external.startswith(("http://", "https://")):
                raise ConfigError(
                    "RIVO_EXTERNAL_URL",
                    f"expected a URL such as https://example.com, got {external!r}",
                )
            external = external.rstrip("/")
        names = get("RIVO_PASSWORD_NAMES")
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ConfigError("RIVO_PASSWORD_NAMES", "expected a list of strings")
        return cls(
            url_prefix=prefix,
            login_redirect=t.cast(
                "str", _text(config, "RIVO_LOGIN_REDIRECT", optional=False)
            ),
            logout_redirect=_text(config, "RIVO_LOGOUT_REDIRECT", optional=True),
            external_url=external,
            site_name=t.cast("str", _text(config, "RIVO_SITE_NAME", optional=False)),
            verification_ttl=duration(
                "RIVO_VERIFICATION_TTL", get("RIVO_VERIFICATION_TTL")
            ),
            reset_ttl=duration("RIVO_RESET_TTL", get("RIVO_RESET_TTL")),
            password_names=tuple(names),
            bcrypt_rounds=integer(
                "RIVO_BCRYPT_ROUNDS", get("RIVO_BCRYPT_ROUNDS"), 4, 31
            ),
            unverified_ttl=duration("RIVO_UNVERIFIED_TTL", get("RIVO_UNVERIFIED_TTL")),
            login_free_attempts=integer(
                "RIVO_LOGIN_FREE_ATTEMPTS", get("RIVO_LOGIN_FREE_ATTEMPTS"), 1, 1000
            ),
            login_address_free_attempts=integer(
                "RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS",
                get("RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS"),
                1,
                100_000,
            ),
            login_max_delay=duration(
                "RIVO_LOGIN_MAX_DELAY", get("RIVO_LOGIN_MAX_DELAY")
            ),
            notify_new_device=flag(
                "RIVO_NOTIFY_NEW_DEVICE", get("RIVO_NOTIFY_NEW_DEVICE")
            ),
            costly_posts_per_hour=integer(
                "RIVO_COSTLY_POSTS_PER_HOUR",
                get("RIVO_COSTLY_POSTS_PER_HOUR"),
                1,
                1_000_000,
            ),
            reauth_window=duration("RIVO_REAUTH_WINDOW", get("RIVO_REAUTH_WINDOW")),
            two_factor_ttl=duration("RIVO_TWO_FACTOR_TTL", get("RIVO_TWO_FACTOR_TTL")),
            **_passkey_settings(config),
        )


def _passkey_settings(config: t.Mapping[str, t.Any]) -> dict[str, str | None]:
    """``RIVO_PASSKEY_RP_ID`` and ``RIVO_PASSKEY_ORIGIN``, checked.

    :raises ConfigError: for an origin that is no ``http(s)://host`` or
        carries a path, or an RP ID with a scheme, port or path.
    """
    origin = _text(config, "RIVO_PASSKEY_ORIGIN", optional=True)
    if origin is not None:
        origin = origin.rstrip("/")
        scheme, _, rest = origin.partition("://")
        if scheme not in ("http", "https") or not rest or "/" in rest:
            raise ConfigError(
                "RIVO_PASSKEY_ORIGIN",
                f"expected an origin such as https://example.com, got {origin!r}",
            )
    rp_id = _text(config, "RIVO_PASSKEY_RP_ID", optional=True)
    if rp_id is not None and (not rp_id or any(c in rp_id for c in ":/ ")):
        raise ConfigError(
            "RIVO_PASSKEY_RP_ID",
            f"expected a host name such as example.com, got {rp_id!r}",
        )
    return {"passkey_rp_id": rp_id, "passkey_origin": origin}

"""RIVO_SESSION_* keys, and Flask's cookie keys: defaults, parsing and
clear errors."""

from __future__ import annotations

from datetime import timedelta

import flask
import pytest
from support import session_app

from flask_rivo import ConfigError
from flask_rivo import RivoSessions
from flask_rivo.settings import SESSION_DEFAULTS
from flask_rivo.settings import SessionSettings
from flask_rivo.stores import MemoryStore


def test_defaults_match_the_contract() -> None:
    settings = SessionSettings.from_config({})
    assert settings.store == "memory"
    assert settings.store_url is None
    assert settings.idle_timeout == 14 * 86400
    assert settings.absolute_timeout == 30 * 86400
    assert settings.id_lifetime == 3600
    assert settings.id_grace == 300
    assert settings.touch_interval == 60
    assert (settings.ip_octets, settings.ipv6_prefix) == (0, 0)
    assert settings.ua_match is True
    assert settings.memory_max == 100_000
    assert settings.max_per_user == 100


def test_init_app_fills_in_the_defaults() -> None:
    app = flask.Flask(__name__)
    app.config["RIVO_SESSION_IP_OCTETS"] = 3
    RivoSessions(app)
    for key, value in SESSION_DEFAULTS.items():
        assert app.config[key] == (3 if key == "RIVO_SESSION_IP_OCTETS" else value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("RIVO_SESSION_STORE", "mongo", "expected one of memory, sqlalchemy, redis"),
        ("RIVO_SESSION_STORE", 42, "expected one of"),
        ("RIVO_SESSION_STORE_URL", 5432, "expected a URL"),
        (
            "RIVO_SESSION_IDLE_TIMEOUT",
            "14 days",
            "expected seconds or a timedelta, got str",
        ),
        ("RIVO_SESSION_IDLE_TIMEOUT", 0, "more than zero"),
        ("RIVO_SESSION_IDLE_TIMEOUT", -5, "more than zero"),
        ("RIVO_SESSION_IDLE_TIMEOUT", float("nan"), "more than zero"),
        ("RIVO_SESSION_IDLE_TIMEOUT", float("inf"), "more than zero"),
        ("RIVO_SESSION_IDLE_TIMEOUT", True, "got bool"),
        ("RIVO_SESSION_ABSOLUTE_TIMEOUT", timedelta(seconds=-1), "more than zero"),
        ("RIVO_SESSION_ID_LIFETIME", None, "got NoneType"),
        ("RIVO_SESSION_ID_GRACE", -1, "zero or more"),
        # An ID rotated out in its grace period must lead to its session.
        ("RIVO_SESSION_ID_GRACE", 36000, "less than 10 times RIVO_SESSION_ID_LIFETIME"),
        # Past what stores hold (Redis's expiry), or a float: OverflowError.
        ("RIVO_SESSION_IDLE_TIMEOUT", 10**400, "at most 100 years"),
        ("RIVO_SESSION_IDLE_TIMEOUT", -(10**400), "more than zero"),
        ("RIVO_SESSION_ABSOLUTE_TIMEOUT", 1e300, "at most 100 years"),
        ("RIVO_SESSION_ID_LIFETIME", timedelta(days=999_999), "at most 100 years"),
        (
            "RIVO_SESSION_TOUCH_INTERVAL",
            timedelta(days=15),
            "shorter than RIVO_SESSION_IDLE_TIMEOUT",
        ),
        ("RIVO_SESSION_IP_OCTETS", 5, "from 0 to 4"),
        ("RIVO_SESSION_IP_OCTETS", "3", "whole number"),
        ("RIVO_SESSION_IPV6_PREFIX", 129, "from 0 to 128"),
        ("RIVO_SESSION_IPV6_PREFIX", 6.4, "whole number"),
        ("RIVO_SESSION_UA_MATCH", "yes", "True or False"),
        ("RIVO_SESSION_MEMORY_MAX", 0, "from 1"),
        ("RIVO_SESSION_MAX_PER_USER", 0, "from 1"),
        ("RIVO_SESSION_MAX_PER_USER", 2.5, "whole number"),
        ("RIVO_SESSION_MAX_PER_USER", None, "whole number"),
    ],
)
def test_bad_values_fail_in_init_app(key: str, value: object, message: str) -> None:
    app = flask.Flask(__name__)
    app.config[key] = value
    with pytest.raises(ConfigError, match=message) as caught:
        RivoSessions(app)
    assert caught.value.key == key
    assert str(caught.value).startswith(key)


def test_zero_grace_and_touch_are_allowed() -> None:
    settings = SessionSettings.from_config(
        {"RIVO_SESSION_ID_GRACE": 0, "RIVO_SESSION_TOUCH_INTERVAL": 0}
    )
    assert (settings.id_grace, settings.touch_interval) == (0, 0)


def test_memory_store_is_rebuilt_only_when_its_settings_change() -> None:
    app = flask.Flask(__name__)
    RivoSessions(app)
    interface = app.extensions["rivo_sessions"]
    _, first = interface.configure(app.config)
    app.config["RIVO_SESSION_IDLE_TIMEOUT"] = 3600
    settings, second = interface.configure(app.config)
    assert second is first
    assert settings.idle_timeout == 3600
    app.config["RIVO_SESSION_MEMORY_MAX"] = 10
    _, third = interface.configure(app.config)
    assert third is not first
    assert third.maxsize == 10  # type: ignore[attr-defined]


#: Flask cookie settings every browser refuses to store, and the key named.
REFUSED_COOKIES = {
    "host-prefix-without-secure": (
        {"SESSION_COOKIE_NAME": "__Host-session"},
        "SESSION_COOKIE_SECURE",
    ),
    "host-prefix-in-any-case": (
        {"SESSION_COOKIE_NAME": "__HOST-session"},
        "SESSION_COOKIE_SECURE",
    ),
    "host-prefix-with-a-domain": (
        {
            "SESSION_COOKIE_NAME": "__Host-session",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_DOMAIN": "example.com",
        },
        "SESSION_COOKIE_DOMAIN",
    ),
    "host-prefix-under-an-application-root": (
        {
            "SESSION_COOKIE_NAME": "__Host-session",
            "SESSION_COOKIE_SECURE": True,
            "APPLICATION_ROOT": "/shop",  # Flask's cookie path when none is set
        },
        "SESSION_COOKIE_PATH",
    ),
    "secure-prefix-without-secure": (
        {"SESSION_COOKIE_NAME": "__Secure-session"},
        "SESSION_COOKIE_SECURE",
    ),
    "same-site-none-without-secure": (
        {"SESSION_COOKIE_SAMESITE": "None"},
        "SESSION_COOKIE_SECURE",
    ),
    "an-unknown-same-site": (
        {"SESSION_COOKIE_SAMESITE": "Bogus"},
        "SESSION_COOKIE_SAMESITE",
    ),
}


@pytest.mark.parametrize(
    ("config", "key"), REFUSED_COOKIES.values(), ids=list(REFUSED_COOKIES)
)
def test_a_cookie_no_browser_keeps_is_a_config_error(
    config: dict[str, object], key: str
) -> None:
    """The browser would drop the cookie: a new session on every request,
    nobody ever logged in."""
    app = flask.Flask(__name__)
    app.config.update(config)
    with pytest.raises(ConfigError) as caught:
        RivoSessions(app)
    assert caught.value.key == key


@pytest.mark.parametrize(
    "config",
    [
        {
            "SESSION_COOKIE_NAME": "__Host-session",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
        },
        # Werkzeug makes a partitioned cookie Secure by itself.
        {"SESSION_COOKIE_PARTITIONED": True, "SESSION_COOKIE_SAMESITE": "None"},
    ],
    ids=["host-prefix", "partitioned"],
)
def test_a_cookie_browsers_keep_is_accepted(config: dict[str, object]) -> None:
    app = session_app(**config)
    response = app.test_client().get("/set/a/1")
    assert response.status_code == 200
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_refused_cookie_set_later_fails_before_anything_is_stored() -> None:
    """Changed after ``init_app``: the settings are checked again before the
    request writes, so a cookie that cannot be sent leaves no record."""
    store = MemoryStore()
    app = session_app(RIVO_SESSION_STORE=store)
    app.config["SESSION_COOKIE_SAMESITE"] = "Bogus"
    with pytest.raises(ConfigError, match="SESSION_COOKIE_SAMESITE"):
        app.test_client().get("/set/a/b")
    assert len(store) == 0


class _Seconds(float):
    """A float that prints otherwise, as numpy's ``np.float64(3600.0)``."""

    def __repr__(self) -> str:
        return f"Seconds({float(self)!r})"


class _Count(int):
    def __repr__(self) -> str:
        return f"Count({int(self)!r})"


def test_numbers_of_a_subclass_are_read_as_plain_numbers() -> None:
    """Settings flow into every record's times and into store commands,
    which the Redis store writes as ``repr``: a subclass's would be text no
    script can read (the session then silently never stored)."""
    from flask_rivo.settings import duration
    from flask_rivo.settings import integer

    seconds = duration("RIVO_SESSION_IDLE_TIMEOUT", _Seconds(3600))
    assert type(seconds) is float
    assert repr(seconds) == "3600.0"
    count = integer("RIVO_SESSION_MAX_PER_USER", _Count(3), 1, 10)
    assert type(count) is int
    assert repr(count) == "3"

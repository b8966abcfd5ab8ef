"""Small parts of the account workflows: settings, tokens, throttle delays."""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import flask
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from users_support import User

from flask_rivo import ConfigError
from flask_rivo import RivoUsers
from flask_rivo.users import normalize_email
from flask_rivo.users.settings import USERS_DEFAULTS
from flask_rivo.users.settings import UsersSettings
from flask_rivo.users.throttle import delay
from flask_rivo.users.tokens import TOKEN_LENGTH
from flask_rivo.users.tokens import is_fresh
from flask_rivo.users.tokens import is_token
from flask_rivo.users.tokens import new_token
from flask_rivo.users.tokens import token_hash


def test_users_defaults_match_the_contract() -> None:
    settings = UsersSettings.from_config({})
    assert settings.url_prefix == ""
    assert settings.login_redirect == "/"
    assert settings.logout_redirect is None
    assert settings.external_url is None
    assert settings.site_name == "Flask-Rivo"
    assert settings.verification_ttl == 3 * 86400
    assert settings.reset_ttl == 86400
    assert settings.password_names == ()
    assert settings.bcrypt_rounds == 12
    assert settings.unverified_ttl == 7 * 86400


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("RIVO_USERS_URL_PREFIX", "account", "must start with '/'"),
        ("RIVO_USERS_URL_PREFIX", "/account/", "must start with '/'"),
        ("RIVO_EXTERNAL_URL", "shop.example.com", "expected a URL"),
        ("RIVO_EXTERNAL_URL", 42, "expected a string"),
        ("RIVO_SITE_NAME", None, "expected a string"),
        ("RIVO_VERIFICATION_TTL", "3 days", "seconds or a timedelta"),
        ("RIVO_PASSWORD_NAMES", "shop", "list of strings"),
        ("RIVO_PASSWORD_NAMES", ["shop", 3], "list of strings"),
        ("RIVO_BCRYPT_ROUNDS", 3, "from 4 to 31"),
        ("RIVO_BCRYPT_ROUNDS", 32, "from 4 to 31"),
        ("RIVO_LOGIN_FREE_ATTEMPTS", 0, "from 1"),
        ("RIVO_LOGIN_MAX_DELAY", -1, "more than zero"),
    ],
)
def test_bad_users_values_fail_in_init_app(
    key: str, value: object, message: str
) -> None:
    app = flask.Flask(__name__)
    app.config.update(
        {"RIVO_EXTERNAL_URL": "https://rivo.test", "SECRET_KEY": "s", key: value}
    )
    with pytest.raises(ConfigError, match=message) as caught:
        RivoUsers(app, user_model=User, db_session=object())
    assert caught.value.key == key


def test_init_app_fills_in_the_users_defaults() -> None:
    app = flask.Flask(__name__)
    app.config.update(RIVO_EXTERNAL_URL="https://rivo.test/", SECRET_KEY="s")
    RivoUsers(app, user_model=User, db_session=object())
    for key, value in USERS_DEFAULTS.items():
        if key != "RIVO_EXTERNAL_URL":
            assert app.config[key] == value
    with app.app_context():
        settings = app.extensions["rivo_users"].settings()
    assert settings.external_url == "https://rivo.test"  # trailing slash dropped


def test_tokens_are_random_and_stored_as_hashes() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    raw, hashed = next(iter(tokens))
    assert is_token(raw)
    assert len(raw) == TOKEN_LENGTH
    assert hashed == hashlib.sha256(raw.encode()).hexdigest() == token_hash(raw)
    assert raw not in hashed


@pytest.mark.parametrize(
    "value", [None, "", "short", "x" * 31 + "!", "x" * 33, "ä" * 32]
)
def test_malformed_tokens_are_refused(value: str | None) -> None:
    assert not is_token(value)


def test_token_freshness() -> None:
    issued = datetime(2026, 1, 1, tzinfo=timezone.utc)
    start = issued.timestamp()
    assert is_fresh(issued, 3600, start + 3599)
    assert not is_fresh(issued, 3600, start + 3600)
    assert is_fresh(issued, 3600, start - 1)  # another server's clock, a bit ahead
    assert not is_fresh(issued, 3600, start - 61)  # issued well in the future
    assert not is_fresh(None, 3600, start)
    naive = issued.replace(tzinfo=None)  # as SQLite hands it back
    assert is_fresh(naive, 3600, start + 10)


def test_throttle_delays_grow_and_stop_at_the_cap() -> None:
    cap = timedelta(minutes=15).total_seconds()
    assert [delay(n, 5, cap) for n in range(5)] == [0.0] * 5
    assert [delay(n, 5, cap) for n in range(5, 10)] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert delay(20, 5, cap) == cap
    assert delay(10**6, 5, cap) == cap  # no overflow


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        ("  bob@example.com ", "bob@example.com"),
        ("Anna@Bücher.example", "anna@bücher.example"),
    ],
)
def test_normalize_email(typed: str, normal: str) -> None:
    assert normalize_email(typed) == normal


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "ann",
        "ann@",
        "@example.com",
        "a b@example.com",
        "ann@@example.com",
        "jörg@example.com",  # a non-ASCII local part: most servers cannot deliver
    ],
)
def test_normalize_email_refuses_non_addresses(typed: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        normalize_email(typed)


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("198.51.100.23", "198.51.100.23"),
        ("2001:db8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%free text", "fe80::1"),
        ("", "an unknown address"),
        (None, "an unknown address"),
        ("unix:/run/app.sock", "an unknown address"),
        ("1.2.3.4, 5.6.7.8", "an unknown address"),
        ("1.2.3.4\r\nBcc: x@example.com", "an unknown address"),
    ],
)
def test_an_address_is_shown_only_as_an_ip_address(
    address: str | None, shown: str
) -> None:
    from flask_rivo.users.agents import where

    with flask.Flask(__name__).test_request_context():
        assert where(address) == shown


FIREFOX_UBUNTU = (
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
)


@pytest.mark.parametrize(
    ("user_agent", "words"),
    [
        (FIREFOX_UBUNTU, "Firefox 128 on Ubuntu"),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "Googlebot 2"),
        ("curl/8.5.0", "curl 8"),
        # ua-parser's generic rules copy these words from the header.
        ("Mozilla/5.0 (compatible; Call us now bot/1.0)", "an unknown browser"),
        ("Call 555-0100 now/1 CFNetwork/1410.0.3 Darwin/22.4.0", None),
        ("Mozilla/5.0 (Your account is locked; U; Spider) Gecko", None),
        # A generic rule that copied nothing: no name, not " 5".
        ("/5 CFNetwork/1.0 Darwin/22.4.0", "an unknown browser on iOS"),
        # A phone number as the version.
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0)"
            " Gecko/20100101 Firefox/18005550199.0",
            "Firefox on Windows",
        ),
        ("bingbot/0800555012345.1", "bingbot"),
        # Text of a rule's pattern that is syntax, not a name it spells out.
        ("Microsoft .{0,30} Bot/2.0", "an unknown browser"),
        ("^(.{0,200})-iPad/7 CFNetwork/1.0 Darwin/22.4.0", "an unknown browser on iOS"),
        ("NewsGator[^/1", "an unknown browser"),
        ("", "an unknown browser"),
        (None, "an unknown browser"),
    ],
)
def test_a_browser_is_named_only_in_ua_parsers_own_words(
    user_agent: str | None, words: str | None
) -> None:
    from flask_rivo.users.agents import describe

    with flask.Flask(__name__).test_request_context():
        shown = describe(user_agent)
    if words is not None:
        assert shown == words
    for stranger in ("Call", "555", "locked", "account", "{", "[", "^"):
        assert stranger not in shown


@functools.cache
def _rules() -> tuple[list[re.Pattern[str]], str]:
    """ua-parser's name templates as patterns (a ``$n`` copies any text),
    and all its rules' pattern text."""
    from ua_parser import load_builtins

    browsers, systems, _ = load_builtins()
    rules = (*browsers, *systems)
    text = "\n".join(m.regex.replace("\\", "") for m in rules).casefold()
    templates = {m.family for m in rules}
    patterns = [re.compile(re.sub(r"\\\$\d", "(.*)", re.escape(f))) for f in templates]
    return patterns, text


def _from_the_rules(name: str) -> bool:
    """Whether ``name`` is in ua-parser's rules' own words: a name a rule
    gives as is, or a rule's name template filled with text of the rules'
    patterns (the only text a description may copy from a header)."""
    patterns, text = _rules()
    for pattern in patterns:
        found = pattern.fullmatch(name)
        if found and all(part.casefold() in text for part in found.groups()):
            return True
    return False


_TEMPLATES = (
    "Mozilla/5.0 (compatible; {}bot/1.0)",
    "Mozilla/5.0 (compatible; {} Spider/2.0)",
    "{}/1 CFNetwork/1410.0.3 Darwin/22.4.0",
    "{}-iPhone/3 CFNetwork/1.0",
    "Mozilla/5.0 (X11; {}; Linux x86_64) Firefox/{}",
    "Mozilla/5.0 ({}) AppleWebKit/537.36 (KHTML, like Gecko) {}/9",
    "{} {}",
)


@given(
    template=st.sampled_from(_TEMPLATES),
    words=st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=2),
)
@settings(max_examples=300, deadline=None)
def test_no_header_puts_its_own_words_in_a_description(
    template: str, words: list[str]
) -> None:
    from flask_rivo.users.agents import _parts

    browser, system = _parts(template.format(*words))
    if browser is not None:
        family, _, major = browser.rpartition(" ")
        if not (major.isascii() and major.isdigit()):
            family = browser
        assert family and family == family.strip(), browser
        assert _from_the_rules(family), browser
        assert len(major) <= 4 or not major.isdigit(), browser
    if system is not None:
        assert system and system == system.strip(), system
        assert _from_the_rules(system), system


def test_a_name_copying_a_group_the_rule_lacks_is_not_spelt_out() -> None:
    from ua_parser.matchers import OSMatcher

    from flask_rivo.users.agents import _spelt

    rule = OSMatcher("(Plan9) ([a-z]+)", "$1 $3")  # no third group
    found = rule.pattern.search("Plan9 abc")
    assert found is not None
    assert not _spelt(rule, found)
    assert _spelt(OSMatcher("(Plan9) ([a-z]+)", "$1"), found)
    assert not _spelt(OSMatcher("(Plan9) ([a-z]+)", "$1 $2"), found)

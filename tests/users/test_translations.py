"""Every page and email of the account workflows, in German and French.

With Flask-Babel installed (and no locale selector of the application's),
a browser that asks for ``de`` or ``fr`` goes through every workflow, and
every page and email it meets is searched for English: any word of the
English msgids that the language's own catalog does not use as well (such
as "Browser" or "Link" in German) is a string left untranslated.
"""

from __future__ import annotations

import html.parser
import re
import typing as t
from datetime import datetime
from datetime import timezone
from pathlib import Path

import flask
import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from passkey_support import Authenticator
from support import CSRF
from support import FakeClock
from users.test_passkeys import add_passkey
from users.test_passkeys import passkey_log_in
from users.test_two_factor import code_at
from users.test_two_factor import wrong_code_at
from users_support import PASSWORD
from users_support import SITE
from users_support import Browser
from users_support import Mailbox
from werkzeug.exceptions import default_exceptions

from flask_rivo import ConfigError
from flask_rivo import StoreUnavailable
from flask_rivo import i18n
from flask_rivo.users import totp
from flask_rivo.users.errors import error_page
from flask_rivo.users.throttle import LOCKED
from flask_rivo.users.views.base import not_configured
from flask_rivo.users.views.base import throttled

flask_babel = pytest.importorskip("flask_babel")

#: The catalogs' sources, in the checkout: an installed package ships only
#: the compiled .mo files (``make test`` runs against the installed copy).
TRANSLATIONS = Path(__file__).resolve().parents[2] / "flask_rivo" / "translations"
LANGUAGES = ("de", "fr")
#: Words the same in English and in the page's language that no catalog
#: happens to use as well: names, and what is not ours (the site's name).
SAME_WORDS = {"flask", "rivo", "werkzeug", "localhost", "example"}
#: A password no check refuses, and another for changing to.
NEW_PASSWORD = "another quiet harbour lantern"
OTHER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|<[^>]+>")
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")
#: What a page shows that is no sentence of ours: addresses, links, IPs, and
#: the random TOTP key (groups of 4) and recovery codes, in which a group
#: such as "move" would otherwise read as an English word now and then.
_NOT_OURS = re.compile(
    r"\S+@\S+|https?://\S+|otpauth://\S+|\d+(\.\d+){3}"
    r"|\b[a-z2-7]{4}(?:-[a-z2-7]{4}){5}\b"
    r"|\b[A-Z2-7]{4}(?: [A-Z2-7]{4})+\b"
)
_SECRET = re.compile(r'class="rivo-secret"[^>]*>([A-Z2-7 ]+)</code>')
_RECOVERY_CODE = re.compile(r"<li><code>([a-z2-7]{4}(?:-[a-z2-7]{4}){5})</code></li>")


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def catalog(lang: str) -> Catalog:
    path = TRANSLATIONS / lang / "LC_MESSAGES" / "flask_rivo.po"
    with path.open("rb") as file:
        return read_po(file, locale=lang)


def english_words(lang: str) -> set[str]:
    """Words of the English msgids that would be English in a ``lang`` page."""
    english: set[str] = set()
    native: set[str] = set()
    for message in catalog(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = (
            message.string if isinstance(message.string, tuple) else (message.string,)
        )
        for text in ids:
            english |= words(_PLACEHOLDER.sub(" ", text))
        for text in strings:
            native |= words(_PLACEHOLDER.sub(" ", text))
    return {w for w in english - native - SAME_WORDS if len(w) > 3}


class _Visible(html.parser.HTMLParser):
    """The text a person reads or hears: text nodes, and labels for screen
    readers; not the values of hidden fields, links or the style sheet."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "alt", "placeholder") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return " ".join(parser.parts)


class Pages:
    """What a person met, page by page and email by email."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.english = english_words(lang)
        self.seen: dict[str, str] = {}
        self.mails: dict[str, int] = {}

    def add(self, name: str, text: str, *, markup: bool = True) -> None:
        assert name not in self.seen, name
        self.seen[name] = visible(text) if markup else text

    def page(self, name: str, response: t.Any, status: int | None = None) -> None:
        if status is not None:
            assert response.status_code == status, (name, response.status_code)
        assert f'<html lang="{self.lang}">' in response.text, name
        self.add(name, response.text)

    def mail(self, name: str, mailbox: Mailbox, address: str) -> None:
        """Keep the email that ``address`` got since the last one kept."""
        messages = mailbox.to(address)
        assert len(messages) == self.mails.get(address, 0) + 1, name
        self.mails[address] = len(messages)
        message = messages[-1]
        self.add(f"{name} (subject)", str(message["Subject"]), markup=False)
        self.add(f"{name} (text)", Mailbox.text(message), markup=False)
        self.add(f"{name} (html)", Mailbox.html(message))

    def left_in_english(self) -> dict[str, set[str]]:
        found = {}
        for name, text in self.seen.items():
            left = words(_NOT_OURS.sub(" ", text)) & self.english
            if left:
                found[name] = left
        return found


@pytest.fixture(params=["babel first", "babel last"])
def babel_app(
    request: pytest.FixtureRequest, make_users_app: t.Callable[..., flask.Flask]
) -> flask.Flask:
    """An app with Flask-Babel and no locale selector, installed before or
    after RivoUsers (Flask-Babel then replaces the Jinja globals)."""
    if request.param == "babel first":
        # RivoUsers is made inside make_users_app: Flask-Babel comes first
        # through a subclass that installs it at construction.
        original = flask.Flask.__init__

        def init(self: flask.Flask, *args: t.Any, **kwargs: t.Any) -> None:
            original(self, *args, **kwargs)
            flask_babel.Babel(self)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(flask.Flask, "__init__", init)
            app = make_users_app(RIVO_LOGIN_FREE_ATTEMPTS=2)
    else:
        app = make_users_app(RIVO_LOGIN_FREE_ATTEMPTS=2)
        flask_babel.Babel(app)

    @app.get("/")
    def index() -> str:
        return i18n.render_template("rivo/email_sent.html", email="landing@example.com")

    app.register_error_handler(404, error_page)
    return app


def speaking(app: flask.Flask, lang: str, agent: str | None = None) -> Browser:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = f"{lang},en;q=0.5"
    if agent:
        client.environ_base["HTTP_USER_AGENT"] = agent
    return Browser(client)


def end_session(browser: Browser, data: dict[str, str]) -> t.Any:
    """Press a button of the sessions page, whose forms are hand-written."""
    found = CSRF.search(browser.get("/sessions").text)
    assert found is not None
    return browser.client.post("/sessions", data={**data, "csrf_token": found[1]})


def visit_everything(
    app: flask.Flask, mailbox: Mailbox, clock: FakeClock, lang: str, pages: Pages
) -> None:
    """Go through every workflow in ``lang``, keeping each page and email."""
    ann, bob = "ann@example.com", "bob@example.com"
    browser = speaking(app, lang)
    get = browser.get

    for path in ("/signup", "/login", "/forgotten-password", "/verify/resend"):
        pages.page(f"GET {path}", get(path), 200)
    pages.page(
        "signup errors",
        browser.submit(
            "/signup",
            {"email": "not an address", "password": "abc", "password_confirm": "x"},
        ),
        400,
    )
    pages.page(
        "signup weak password",
        browser.submit(
            "/signup",
            {"email": ann, "password": "password1", "password_confirm": "password1"},
        ),
        400,
    )
    pages.page("signup empty", browser.submit("/signup", {}), 400)
    pages.page(
        "signup expired form",
        browser.client.post("/signup", data={"email": ann}),
        400,
    )
    pages.page("signup done", browser.sign_up(ann), 200)
    pages.mail("verify", mailbox, ann)
    link = mailbox.last_link(ann)
    pages.page("verify", get(link), 200)
    pages.page(
        "verify wrong password", browser.submit(link, {"password": "wrong"}), 400
    )
    assert browser.submit(link, {"password": PASSWORD}).status_code == 302
    pages.page("landing with flash", get("/"), 200)
    pages.page("link used", get(link), 400)
    pages.page("link invalid", get("/verify?token=nonsense"), 400)
    pages.page("sign up again (logged in)", browser.sign_up(ann), 200)
    pages.mail("signup notice", mailbox, ann)

    # A second browser logs in: a new device, and a second session.
    other = speaking(app, lang, OTHER_AGENT)
    assert other.log_in(ann).status_code == 302
    pages.mail("new device", mailbox, ann)
    pages.page("sessions", get("/sessions"), 200)
    pages.page(
        "sessions: no such session",
        end_session(browser, {"key": "x", "created": "y"}),
        400,
    )
    pages.page(
        "sessions: ended already",
        end_session(
            browser,
            {"key": "0" * 64, "created": datetime.now(timezone.utc).isoformat()},
        ),
        404,
    )
    assert end_session(browser, {"others": "1"}).status_code == 302
    pages.page("sessions ended", get("/sessions"), 200)

    pages.page("change", get("/change"), 200)
    pages.page("change nothing", browser.submit("/change", {"email": ann}), 400)
    pages.page(
        "change wrong password",
        browser.submit("/change", {"email": bob, "current_password": "wrong"}),
        400,
    )
    assert (
        browser.submit(
            "/change", {"email": bob, "current_password": PASSWORD}
        ).status_code
        == 302
    )
    pages.page("change pending", get("/change"), 200)
    pages.mail("verify change", mailbox, bob)
    pages.mail("change notice (address)", mailbox, ann)
    change_link = mailbox.last_link(bob)
    pages.page("verify change", get(change_link), 200)
    pages.page(
        "verify change wrong password",
        browser.submit(change_link, {"password": "wrong"}),
        400,
    )
    assert (
        browser.submit(
            "/change",
            {
                "email": ann,
                "current_password": PASSWORD,
                "password": NEW_PASSWORD,
                "password_confirm": NEW_PASSWORD,
            },
        ).status_code
        == 302
    )
    pages.page("password changed", get("/change"), 200)
    pages.mail("change notice (password)", mailbox, ann)

    # Another account's address: the change is refused by email.
    carl = "carl@example.com"
    assert speaking(app, lang).sign_up(carl).status_code == 200
    pages.mail("verify (another account)", mailbox, carl)
    assert (
        browser.submit(
            "/change", {"email": carl, "current_password": NEW_PASSWORD}
        ).status_code
        == 302
    )
    pages.mail("change taken notice", mailbox, carl)
    pages.mail("change notice (taken address)", mailbox, ann)

    assert browser.log_out().status_code == 302
    pages.page("logged out", get("/login"), 200)
    pages.page("login needed", get("/change", follow_redirects=True), 200)
    pages.page("login wrong", browser.log_in(ann, "wrong password"), 400)
    browser.log_in(ann, "wrong password")
    pages.page("login throttled", browser.log_in(ann, "wrong password"), 429)

    stranger = speaking(app, lang)
    pages.page(
        "forgotten password sent",
        stranger.submit("/forgotten-password", {"email": ann}),
        200,
    )
    pages.mail("reset", mailbox, ann)
    reset_link = mailbox.last_link(ann)
    pages.page("reset", stranger.get(reset_link, follow_redirects=True), 200)
    pages.page(
        "reset errors",
        stranger.submit(
            "/reset-password", {"password": "short", "password_confirm": "other"}
        ),
        400,
    )
    assert (
        stranger.submit(
            "/reset-password",
            {"password": PASSWORD, "password_confirm": PASSWORD},
        ).status_code
        == 302
    )
    pages.page("reset done", stranger.get("/"), 200)
    pages.mail("password changed", mailbox, ann)
    pages.page("reset link dead", stranger.get(reset_link), 400)

    clock.advance(3601)  # a new hour: ann's hourly emails may go again
    nobody = "nobody@example.com"
    stranger.submit("/forgotten-password", {"email": nobody})
    pages.mail("address notice (no account)", mailbox, nobody)
    stranger.submit("/verify/resend", {"email": ann})
    pages.mail("address notice (confirmed)", mailbox, ann)

    # An hour after the log-in: closing the account asks for the password.
    pages.page(
        "reauthenticate", stranger.get("/close-account", follow_redirects=True), 200
    )
    pages.page(
        "reauthenticate wrong",
        stranger.submit("/reauthenticate", {"password": "wrong"}),
        400,
    )
    assert stranger.submit("/reauthenticate", {"password": PASSWORD}).status_code == 302
    pages.page("close account", stranger.get("/close-account"), 200)
    pages.page(
        "close account wrong", stranger.submit("/close-account", {"password": "x"}), 400
    )
    assert stranger.submit("/close-account", {"password": PASSWORD}).status_code == 302
    pages.page("account closed", stranger.get("/login"), 200)
    pages.mail("account closed", mailbox, ann)
    stranger.submit("/forgotten-password", {"email": ann})
    pages.mail("address notice (closed)", mailbox, ann)

    pages.page("404", get("/no-such-page"), 404)
    pages.page("logout expired", browser.client.post("/logout", data={}), 400)
    # Pages no workflow above reaches without breaking something first.
    headers = {"Accept-Language": lang}
    with app.test_request_context(headers=headers):
        for code in (405, 413, 429, 500, 503):
            page, _ = error_page(default_exceptions[code]())
            pages.add(f"error {code}", page)
        page, _ = error_page(StoreUnavailable())
        pages.add("store unavailable", page)
        pages.add(
            "link invalid (reset)",
            i18n.render_template("rivo/link_invalid.html", kind="reset"),
        )
        pages.add("address taken", i18n.render_template("rivo/address_taken.html"))
        pages.add("locked", throttled(LOCKED)[0], markup=False)
        page, _ = not_configured(ConfigError("RIVO_EXTERNAL_URL", "not set"))
        pages.add("not configured", page)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_and_email_is_translated(
    babel_app: flask.Flask, mailbox: Mailbox, clock: FakeClock, lang: str
) -> None:
    pages = Pages(lang)
    visit_everything(babel_app, mailbox, clock, lang, pages)
    assert len(pages.seen) > 80
    assert pages.left_in_english() == {}


def visit_two_factor(
    app: flask.Flask, mailbox: Mailbox, clock: FakeClock, lang: str, pages: Pages
) -> None:
    """Turn a second factor on, log in with it, use a recovery code, make new
    codes and turn it off, in ``lang``, keeping each page and email."""
    dora = "dora@example.com"
    browser = speaking(app, lang)
    browser.sign_up(dora)
    pages.mail("verify (two-factor)", mailbox, dora)
    confirmed = browser.submit(mailbox.last_link(dora), {"password": PASSWORD})
    assert confirmed.status_code == 302
    setup = browser.get("/two-factor")
    pages.page("two-factor setup", setup, 200)
    found = _SECRET.search(setup.text)
    assert found is not None
    secret = found[1].replace(" ", "")
    code = code_at(secret, clock.now)
    wrong = wrong_code_at(secret, clock.now)
    pages.page(
        "two-factor wrong code",
        browser.submit("/two-factor", {"code": wrong, "password": PASSWORD}),
        400,
    )
    codes_page = browser.submit("/two-factor", {"code": code, "password": PASSWORD})
    pages.page("recovery codes", codes_page, 200)
    pages.mail("two-factor on", mailbox, dora)
    clock.advance(totp.STEP)
    pages.page("two-factor on", browser.get("/two-factor"), 200)
    renewed = browser.submit(
        "/two-factor", {"action": "regenerate", "password": PASSWORD}
    )
    pages.page("new recovery codes", renewed, 200)
    pages.mail("new recovery codes", mailbox, dora)
    codes = _RECOVERY_CODE.findall(renewed.text)
    browser.log_out()
    assert browser.log_in(dora).status_code == 302
    pages.page("second step", browser.get("/login/two-factor"), 200)
    pages.page(
        "second step wrong", browser.submit("/login/two-factor", {"code": "0"}), 400
    )
    browser.log_out()
    browser.log_in(dora)
    fresh_code = code_at(secret, clock.now)
    assert browser.submit("/login/two-factor", {"code": fresh_code}).status_code == 302
    pages.page("logged in with a code", browser.get("/two-factor"), 200)
    browser.log_out()
    browser.log_in(dora)
    assert browser.submit("/login/two-factor", {"code": codes[0]}).status_code == 302
    pages.mail("recovery code used", mailbox, dora)
    clock.advance(totp.STEP)
    off_code = code_at(secret, clock.now)
    assert (
        browser.submit(
            "/two-factor", {"code": off_code, "password": PASSWORD}
        ).status_code
        == 302
    )
    pages.page("two-factor off", browser.get("/two-factor"), 200)
    pages.mail("two-factor off", mailbox, dora)
    pages.page(
        "second step, nothing pending",
        browser.get("/login/two-factor", follow_redirects=True),
        200,
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_two_factor_pages_and_emails_are_translated(
    babel_app: flask.Flask, mailbox: Mailbox, clock: FakeClock, lang: str
) -> None:
    pages = Pages(lang)
    visit_two_factor(babel_app, mailbox, clock, lang, pages)
    assert len(pages.seen) > 15
    assert pages.left_in_english() == {}


_REMOVE = re.compile(r'name="remove" value="([^"]+)"')


def visit_passkeys(app: flask.Flask, mailbox: Mailbox, lang: str, pages: Pages) -> None:
    """Add a passkey (a real WebAuthn ceremony), log in with it from a new
    browser, re-authenticate and remove it, in ``lang``, keeping each page
    and email."""
    erin = "erin@example.com"
    browser = speaking(app, lang)
    browser.sign_up(erin)
    pages.mail("verify (passkeys)", mailbox, erin)
    assert browser.submit(mailbox.last_link(erin), {"password": PASSWORD})
    pages.page("passkeys, none", browser.get("/passkeys"), 200)
    key = Authenticator(SITE)
    assert add_passkey(browser, key, name="Laptop").status_code == 302
    pages.mail("passkey added", mailbox, erin)
    pages.page("passkeys, one", browser.get("/passkeys"), 200)
    browser.log_out()
    pages.page("log-in with the passkey button", browser.get("/login"), 200)
    phone = speaking(app, lang, agent=OTHER_AGENT)
    assert passkey_log_in(phone, key).status_code == 302
    pages.mail("new browser, by passkey", mailbox, erin)
    page = phone.get("/passkeys")
    pages.page("passkeys, logged in with one", page, 200)
    found = _REMOVE.search(page.text)
    assert found is not None
    token = CSRF.search(page.text)
    assert token is not None
    removed = phone.client.post(
        "/passkeys", data={"csrf_token": token[1], "remove": found[1]}
    )
    assert removed.status_code == 302
    pages.mail("passkey removed", mailbox, erin)
    pages.page("passkeys, removed", phone.get("/passkeys"), 200)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_passkey_pages_and_emails_are_translated(
    babel_app: flask.Flask, mailbox: Mailbox, lang: str
) -> None:
    pages = Pages(lang)
    visit_passkeys(babel_app, mailbox, lang, pages)
    assert len(pages.seen) > 15
    assert pages.left_in_english() == {}


def test_the_check_finds_english() -> None:
    pages = Pages("de")
    pages.add("half done", "<p>Ihr Passwort is wrong. <b>Please</b> retry</p>")
    assert pages.left_in_english() == {"half done": {"wrong", "please"}}


def test_without_flask_babel_pages_are_english(browser: Browser) -> None:
    browser.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = browser.get("/login")
    assert '<html lang="en">' in page.text
    assert "<h1>Log in</h1>" in page.text
    assert "Anmelden" not in page.text
    refused = browser.submit("/signup", {"email": "x"})
    assert "This field is required." in refused.text


def test_the_applications_selector_wins(
    make_users_app: t.Callable[..., flask.Flask],
) -> None:
    app = make_users_app()
    flask_babel.Babel(app, locale_selector=lambda: "fr")
    page = speaking(app, "de").get("/login")
    assert '<html lang="fr">' in page.text
    assert "<h1>Se connecter</h1>" in page.text


def test_unknown_languages_get_the_default(
    make_users_app: t.Callable[..., flask.Flask],
) -> None:
    app = make_users_app(BABEL_DEFAULT_LOCALE="de")
    flask_babel.Babel(app)
    japanese = app.test_client().get("/login", headers={"Accept-Language": "ja"})
    assert "<h1>Anmelden</h1>" in japanese.text
    assert "<h1>Log in</h1>" in speaking(app, "en-GB").get("/login").text
    assert "<h1>Se connecter</h1>" in speaking(app, "fr-CA").get("/login").text


def _app_catalog(directory: Path) -> None:
    """A catalog of the application's own, in Flask-Babel's domain."""
    messages = Catalog(locale="de")
    messages.add("Hello world", "Hallo Welt")
    messages.add("Log in", "Einloggen (app)")
    target = directory / "de" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as file:
        write_mo(file, messages)


def test_the_applications_own_catalog_works_alongside(
    make_users_app: t.Callable[..., flask.Flask], tmp_path: Path
) -> None:
    _app_catalog(tmp_path)
    app = make_users_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path))
    flask_babel.Babel(app)

    @app.get("/own")
    def own() -> str:
        return flask.render_template_string("{{ _('Hello world') }}|{{ _('Log in') }}")

    browser = speaking(app, "de")
    # The application's templates: its catalog, even for a msgid of ours.
    assert browser.get("/own").text == "Hallo Welt|Einloggen (app)"
    # Ours: our catalog.
    assert "<h1>Anmelden</h1>" in browser.get("/login").text
    with app.test_request_context(headers={"Accept-Language": "de"}):
        # A template of ours that an application overrides may say what our
        # catalog does not have: the application's catalog translates it.
        own_words = flask.render_template_string(
            "{{ _('Hello world') }}|{{ _('Log in') }}", **i18n.TEMPLATE_CONTEXT
        )
        assert own_words == "Hallo Welt|Anmelden"
        assert i18n.gettext("Log in") == "Anmelden"


def test_markup_in_translations_escapes_the_values(
    make_users_app: t.Callable[..., flask.Flask],
) -> None:
    app = make_users_app()
    flask_babel.Babel(app)
    with app.test_request_context(headers={"Accept-Language": "de"}):
        page = i18n.render_template(
            "rivo/email_sent.html", email="<b>x</b>@example.com"
        )
    assert "<strong>&lt;b&gt;x&lt;/b&gt;@example.com</strong>" in page
    assert "Wir haben eine E-Mail an" in page


def test_user_agents_are_described_in_the_page_language(
    make_users_app: t.Callable[..., flask.Flask],
) -> None:
    from flask_rivo.users.agents import describe

    app = make_users_app()
    flask_babel.Babel(app)
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert describe(OTHER_AGENT) == "Firefox 128 sous Linux"
        assert describe(None) == "un navigateur inconnu"
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert describe(OTHER_AGENT) == "Firefox 128 unter Linux"
    assert describe(OTHER_AGENT) == "Firefox 128 on Linux"  # no request: English


def test_a_mo_file_is_read_once_per_language() -> None:
    assert i18n._catalog("de") is i18n._catalog("de")
    assert i18n.languages() == ["en", "de", "fr"]


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de", "de"),
        ("de-AT", "de"),
        ("fr-CA,en;q=0.5", "fr"),
        ("en-GB,de;q=0.9", "en"),
        ("ja,fr;q=0.3", "fr"),
        ("de;q=0,fr;q=0.1", "fr"),
        ("ja", None),
        ("*", None),
        ("", None),
    ],
)
def test_the_browsers_first_translated_language_is_chosen(
    header: str, chosen: str | None
) -> None:
    app = flask.Flask(__name__)
    with app.test_request_context(headers={"Accept-Language": header}):
        assert i18n.best_locale() == chosen
    assert i18n.best_locale() is None  # no request


PACKAGE = Path(i18n.__file__).parent


def test_every_template_of_ours_is_rendered_with_our_catalogs() -> None:
    """Flask's own render_template would hand our templates Flask-Babel's
    gettext (the application's catalogs), and macros imported without
    context see only the globals: new pages must not slip back to either."""
    flask_renders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path != Path(i18n.__file__)
        and re.search(r"from flask import render_template\b", path.read_text())
    ]
    assert flask_renders == []
    imports = re.compile(r"{%-?\s*(?:from|import)\s+\"rivo/_forms.html\"[^%]*%}")
    without_context = [
        f"{path.name}: {found}"
        for path in (PACKAGE / "templates").rglob("*.*")
        for found in imports.findall(path.read_text())
        if "with context" not in found
    ]
    assert without_context == []

"""The example site in a real browser: headless Chromium driven by Playwright.

Sign up, read the email the SMTP server on loopback received, confirm the
address with the password (which logs in), see the account page, log out,
log in again, and from a second browser (whose log-in the owner is told
of); reset a forgotten password, change the password and the address, end
another browser's session, close the account, and find no private page
behind the back button after logging out: as a person would.
"""

from __future__ import annotations

import contextlib
import importlib
import time
import typing as t
from pathlib import Path

import pytest
from e2e.chromium import chromium
from support import free_port
from support import http_server
from users_support import Mailbox

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "zebra violin cactus"


@contextlib.contextmanager
def serve_example(
    smtp_port: int, tmp_path: Path, host: str = "127.0.0.1", **config: t.Any
) -> Iterator[str]:
    """The example app on a real threaded HTTP server; yields its base URL.

    ``host`` names the server in its URL (and so in the emailed links and
    the passkeys' relying-party ID); it listens on loopback either way.
    ``config`` goes on top.
    """
    create_app = importlib.import_module("example.app").create_app
    port = free_port()
    base = f"http://{host}:{port}"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.sqlite3'}",
            "SECRET_KEY": "e2e",
            "RIVO_EXTERNAL_URL": base,
            "RIVO_BCRYPT_ROUNDS": 4,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_port,
            "MAIL_DEFAULT_SENDER": "shop@rivo.test",
            **config,
        }
    )
    with http_server(app, port):
        yield base


@pytest.fixture
def site(
    smtp_server: tuple[int, Mailbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The example app on a real threaded HTTP server; yields its base URL."""
    monkeypatch.syspath_prepend(str(ROOT))
    with serve_example(smtp_server[0], tmp_path) as base:
        yield base


@pytest.fixture
def page(tmp_path: Path) -> Iterator[t.Any]:
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(10_000)
        yield page
        context.close()


def test_sign_up_confirm_log_in_and_out(
    page: t.Any, site: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    page.goto(site + "/")
    page.get_by_role("link", name="Sign up").first.click()
    page.get_by_label("Email address").fill("Eve@Example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your email").wait_for()

    [message] = mailbox.to("eve@example.com")
    [link] = mailbox.links(message)
    assert link.startswith(site + "/verify?token=")
    page.goto(link)
    page.get_by_text("eve@example.com").first.wait_for()
    # A wrong password confirms nothing and says what to do.
    page.get_by_label("Your password").fill("not the one at all")
    page.get_by_role("button", name="Confirm and log in").click()
    page.get_by_text("not the password this account was signed up with").wait_for()
    # The right one confirms and logs in.
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and log in").click()
    page.get_by_text("Your email address is confirmed").wait_for()
    page.goto(site + "/account")
    page.get_by_text("eve@example.com").first.wait_for()
    page.screenshot(path=str(tmp_path / "account.png"), full_page=True)
    [cookie] = [c for c in page.context.cookies() if c["name"] == "session"]
    assert cookie["httpOnly"] is True
    assert len(cookie["value"]) == 43

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    page.goto(site + "/account")
    assert "/login?next=/account" in page.url

    # Logging in again, from the log-in page: a browser that logged in
    # before, so its owner is not told.
    mailbox.clear()
    page.get_by_label("Email address").fill("eve@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("eve@example.com").first.wait_for()
    assert page.url.endswith("/account")
    assert mailbox.to("eve@example.com") == []

    # Another browser logs in: the owner gets a notice that names it.
    other = page.context.browser.new_context()
    try:
        second = other.new_page()
        second.goto(site + "/login")
        second.get_by_label("Email address").fill("eve@example.com")
        second.get_by_label("Password").fill(PASSWORD)
        second.get_by_role("button", name="Log in").click()
        second.get_by_text("eve@example.com").first.wait_for()
    finally:
        other.close()
    [notice] = mailbox.to("eve@example.com")
    assert notice["Subject"] == "A new log-in to your Rivo Shop account"
    body = Mailbox.text(notice)
    assert "on Linux" in body
    assert "127.0.0.1" in body


def test_wrong_password_and_weak_password_show_form_errors(
    page: t.Any, site: str
) -> None:
    page.goto(site + "/login")
    page.get_by_label("Email address").fill("nobody@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("The email address or the password is wrong").wait_for()

    page.goto(site + "/signup")
    page.get_by_label("Email address").fill("weak@example.com")
    page.get_by_label("Password", exact=True).fill("password")
    page.get_by_label("Repeat the password").fill("password")
    page.get_by_role("button", name="Sign up").click()
    field = page.get_by_label("Password", exact=True)
    assert field.get_attribute("aria-invalid") == "true"
    assert page.locator("#password-error").inner_text()


def sign_up_and_confirm(page: t.Any, site: str, mailbox: Mailbox, address: str) -> None:
    """Sign up through the pages and confirm with the emailed link."""
    page.goto(site + "/signup")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    page.goto(mailbox.links(mailbox.to(address)[-1])[0])
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and log in").click()
    page.get_by_text("Your email address is confirmed").wait_for()


def test_back_after_log_out_shows_no_private_page(
    page: t.Any, site: str, mailbox: Mailbox
) -> None:
    sign_up_and_confirm(page, site, mailbox, "bea@example.com")
    page.goto(site + "/account")
    page.get_by_text("bea@example.com").first.wait_for()
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    page.go_back()
    page.wait_for_load_state()
    assert "bea@example.com" not in page.content()
    assert "/login" in page.url


def test_forgotten_password_reset_and_closing_the_account(
    page: t.Any, site: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    address = "fay@example.com"
    sign_up_and_confirm(page, site, mailbox, address)
    page.get_by_role("button", name="Log out").click()

    # Forgotten: the link from the email, a new password, logged in.
    page.goto(site + "/login")
    page.get_by_role("link", name="Forgotten your password?").click()
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Send me a link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    link = mailbox.links(mailbox.to(address)[-1])[0]
    assert "/reset-password?token=" in link
    page.goto(link)
    assert page.url == site + "/reset-password"  # the token left the address bar
    new = "otter marimba lantern"
    page.get_by_label("Password", exact=True).fill(new)
    page.get_by_label("Repeat the password").fill(new)
    page.get_by_role("button", name="Set the new password").click()
    page.get_by_text("Your password is changed").wait_for()
    page.screenshot(path=str(tmp_path / "reset.png"), full_page=True)
    assert "password" in mailbox.to(address)[-1]["Subject"].lower()

    # Closing the account, with the new password.
    page.goto(site + "/close-account")
    page.get_by_text("deletes it for good").wait_for()
    page.get_by_label("Your password").fill(new)
    page.get_by_role("button", name="Close my account").click()
    page.get_by_text("Your account is closed").wait_for()
    assert "closed" in mailbox.to(address)[-1]["Subject"]
    page.goto(site + "/login")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(new)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("The email address or the password is wrong").wait_for()


def test_change_of_password_and_email_and_the_sessions_page(
    page: t.Any, site: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    address, new_address = "gus@example.com", "gus.new@example.com"
    sign_up_and_confirm(page, site, mailbox, address)

    # A second browser logs in; the sessions page lists both, in words.
    other = page.context.browser.new_context(
        user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0)"
        " Gecko/20100101 Firefox/128.0"
    )
    try:
        second = other.new_page()
        second.goto(site + "/login")
        second.get_by_label("Email address").fill(address)
        second.get_by_label("Password").fill(PASSWORD)
        second.get_by_role("button", name="Log in").click()
        second.get_by_text(address).first.wait_for()

        page.goto(site + "/sessions")
        page.get_by_text("Firefox 128 on Windows").wait_for()
        page.get_by_text("(this browser)").wait_for()
        page.screenshot(path=str(tmp_path / "sessions.png"), full_page=True)
        page.get_by_role("button", name="End this session").click()
        page.get_by_role("heading", name="Your sessions").wait_for()
        assert "Firefox 128 on Windows" not in page.content()
        second.goto(site + "/account")
        assert "/login" in second.url
    finally:
        other.close()

    # A new password: this browser stays logged in; a notice is emailed.
    new = "otter marimba lantern"
    mailbox.clear()
    page.goto(site + "/change")
    page.get_by_label("New password (leave empty to keep yours)").fill(new)
    page.get_by_label("Repeat the password").fill(new)
    page.get_by_label("Your current password").fill(PASSWORD)
    page.get_by_role("button", name="Save changes").click()
    page.goto(site + "/account")
    page.get_by_text(address).first.wait_for()
    assert mailbox.to(address), "no notice of the password change"

    # A new address: confirmed from the link, with the (new) password.
    page.goto(site + "/change")
    page.get_by_label("Email address").fill(new_address)
    page.get_by_label("Your current password").fill(new)
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Waiting for confirmation").wait_for()
    page.goto(mailbox.links(mailbox.to(new_address)[-1])[0])
    page.get_by_text(new_address).first.wait_for()
    page.get_by_label("Your password").fill(new)
    page.get_by_role("button", name="Confirm and log in").click()
    page.get_by_text("confirmed").first.wait_for()
    page.goto(site + "/account")
    page.get_by_text(new_address).first.wait_for()


def box(locator: t.Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None
    return t.cast("dict[str, float]", found)


def test_pages_look_finished(
    page: t.Any, site: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    requested: list[str] = []
    failed: list[tuple[int, str]] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on(
        "response",
        lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None,
    )
    page.goto(site + "/login")
    page.wait_for_load_state("networkidle")
    # The icon is in the page. (Headless Chromium asks for /favicon.ico of
    # no page, icon or not, so the requests below cannot show its absence;
    # a headed browser asks for it on every page that names no icon.)
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon.startswith("data:image/svg+xml,")
    header_out = box(page.locator("header.rivo-header"))["height"]

    # "Stay logged in" on one line with its checkbox, after it.
    check = box(page.get_by_label("Stay logged in"))
    label = box(page.locator("label[for=remember]"))
    assert label["x"] > check["x"] + check["width"] - 1
    middle = check["y"] + check["height"] / 2
    assert label["y"] <= middle <= label["y"] + label["height"]

    # An invalid field's border is red, a valid one's is not.
    page.get_by_role("button", name="Log in").click()
    email = page.get_by_label("Email address")
    assert email.get_attribute("aria-invalid") == "true"
    red = "rgb(179, 38, 30)"
    border = "e => getComputedStyle(e).borderTopColor"
    assert email.evaluate(border) == red
    page.screenshot(path=str(tmp_path / "login-invalid.png"), full_page=True)
    page.goto(site + "/signup")
    assert page.get_by_label("Email address").evaluate(border) != red

    # Logged in, the header is as high as logged out.
    sign_up_and_confirm(page, site, mailbox, "hal@example.com")
    page.goto(site + "/account")
    page.get_by_role("button", name="Log out").wait_for()
    assert box(page.locator("header.rivo-header"))["height"] == header_out
    page.screenshot(path=str(tmp_path / "header-logged-in.png"))

    # The 404 page, in the site's layout.
    page.goto(site + "/no/such/page")
    page.get_by_role("heading", name="Page not found").wait_for()
    assert page.locator("header.rivo-header").is_visible()
    page.screenshot(path=str(tmp_path / "404.png"), full_page=True)

    assert not [url for url in requested if url.endswith("/favicon.ico")]
    # No request of any page failed (style sheets, icons...) but the two
    # above: the invalid form, and the missing page.
    assert failed == [(400, site + "/login"), (404, site + "/no/such/page")]


def test_two_factor_set_up_then_log_in_with_a_code(
    page: t.Any, site: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    import pyotp

    address = "ida@example.com"
    sign_up_and_confirm(page, site, mailbox, address)
    page.goto(site + "/two-factor")
    qr = page.get_by_role("img", name="QR code to scan with your authenticator app")
    assert qr.evaluate("e => e.tagName") == "svg"
    assert box(qr)["width"] >= 150  # big enough to scan
    secret = page.locator(".rivo-secret").inner_text().replace(" ", "")
    page.screenshot(path=str(tmp_path / "two-factor-setup.png"), full_page=True)
    totp = pyotp.TOTP(secret)
    page.get_by_label("The 6-digit code your app shows").fill(totp.now())
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    assert page.locator(".rivo-codes li").count() == 10
    page.screenshot(path=str(tmp_path / "two-factor-codes.png"), full_page=True)

    page.get_by_role("button", name="Log out").click()
    page.goto(site + "/account")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Enter your code").wait_for()
    page.screenshot(path=str(tmp_path / "two-factor-login.png"), full_page=True)
    # The setup used this step's code: the next step's is in the window.
    page.get_by_label("Code from your app, or a recovery code").fill(
        totp.at(time.time() + 30)
    )
    page.get_by_role("button", name="Log in").click()
    page.get_by_text(address).first.wait_for()
    assert page.url.endswith("/account")

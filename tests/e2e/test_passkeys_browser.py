"""Passkeys in the real browser: headless Chromium with its virtual
authenticator (the DevTools protocol's WebAuthn domain, through Playwright's
CDP session), so the page's script, the browser's WebAuthn and the server's
py_webauthn checks all run for real: add a passkey, log out, log in with
it, confirm it is you with it on the re-authentication page, remove it.

WebAuthn needs a secure context and a relying-party ID that is a domain
name, not an IP address: the site is served as ``http://localhost``.
"""

from __future__ import annotations

import time
import typing as t
from pathlib import Path

import pytest
from e2e import test_browser
from e2e.test_browser import PASSWORD
from e2e.test_browser import ROOT
from e2e.test_browser import serve_example
from e2e.test_browser import sign_up_and_confirm
from users_support import Mailbox

if t.TYPE_CHECKING:
    from collections.abc import Iterator

page = test_browser.page
#: Seconds a log-in opens the passkeys page without asking again: short, so
#: the test sees the passkey re-authenticate too.
REAUTH_WINDOW = 4


@pytest.fixture
def local_site(
    smtp_server: tuple[int, Mailbox], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.syspath_prepend(str(ROOT))
    with serve_example(
        smtp_server[0], tmp_path, host="localhost", RIVO_REAUTH_WINDOW=REAUTH_WINDOW
    ) as base:
        yield base


def virtual_authenticator(page: t.Any) -> tuple[t.Any, str]:
    """A platform authenticator with resident keys and user verification
    (a phone's or laptop's screen lock), answering without a person."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def test_add_a_passkey_log_in_with_it_and_remove_it(
    page: t.Any, local_site: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    address = "pia@example.com"
    cdp, authenticator = virtual_authenticator(page)
    sign_up_and_confirm(page, local_site, mailbox, address)

    # Add a passkey from the account; its name defaults to the browser's.
    page.goto(local_site + "/passkeys")
    page.get_by_text("You have no passkeys yet.").wait_for()
    name = page.get_by_label("Name of the passkey")
    assert "Chrome" in name.input_value()
    name.fill("Test laptop")
    page.screenshot(path=str(tmp_path / "passkeys-empty.png"), full_page=True)
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_text("The passkey “Test laptop” is added.").wait_for()
    page.get_by_text("Not used yet").wait_for()
    [credential] = cdp.send(
        "WebAuthn.getCredentials", {"authenticatorId": authenticator}
    )["credentials"]
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"
    assert "A passkey was added" in mailbox.to(address)[-1]["Subject"]

    # Log out; log in with the passkey: no address typed, no password.
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    page.goto(local_site + "/account")
    assert "/login?next=/account" in page.url
    page.screenshot(path=str(tmp_path / "passkeys-login.png"), full_page=True)
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_text(address).first.wait_for()
    assert page.url == local_site + "/account"
    assert "You are logged in." in page.content()

    # Later, the passkeys page asks to confirm it is you: the passkey can.
    time.sleep(REAUTH_WINDOW + 0.5)
    page.goto(local_site + "/passkeys")
    page.get_by_role("heading", name="Confirm it is you").wait_for()
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("heading", name="Your passkeys").wait_for()
    assert page.url == local_site + "/passkeys"

    # The list shows its last use; remove it.
    page.get_by_text("Last used").wait_for()
    page.screenshot(path=str(tmp_path / "passkeys-list.png"), full_page=True)
    page.get_by_role("button", name="Remove the passkey Test laptop").click()
    page.get_by_text("The passkey “Test laptop” is removed.").wait_for()
    page.get_by_text("You have no passkeys yet.").wait_for()
    assert "A passkey was removed" in mailbox.to(address)[-1]["Subject"]

    # The authenticator still holds the key, but the site no longer knows it.
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_text("This passkey is not known here").wait_for()
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text(address).first.wait_for()


def test_without_webauthn_the_passkey_button_stays_hidden(
    page: t.Any, local_site: str
) -> None:
    page.add_init_script("delete window.PublicKeyCredential;")
    page.goto(local_site + "/login")
    page.get_by_role("button", name="Log in").wait_for()
    assert page.get_by_role("button", name="Use a passkey").count() == 0

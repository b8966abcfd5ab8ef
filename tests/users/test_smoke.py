from __future__ import annotations

from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox


def test_sign_up_verify_log_in_log_out(browser: Browser, mailbox: Mailbox) -> None:
    assert browser.sign_up("Ann@Example.com").status_code == 200
    link = mailbox.last_link("ann@example.com")
    assert browser.get(link).status_code == 200
    assert browser.submit(link, {"password": PASSWORD}).headers["Location"] == "/"
    assert browser.get("/account").text == "Account of ann@example.com"
    assert browser.log_out().status_code == 302
    response = browser.log_in("ANN@example.com", next="/account")
    assert response.headers["Location"] == "/account"
    assert browser.get("/account").text == "Account of ann@example.com"
    assert browser.log_out().status_code == 302
    assert browser.get("/account").status_code == 302

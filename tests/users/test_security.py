"""Defences found missing in review, each proven here."""

from __future__ import annotations

import re
import threading
import time
import typing as t

import flask
import pytest
from support import CSRF
from support import FakeClock
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox

from flask_rivo.stores import MemoryStore
from flask_rivo.users.throttle import MAIL_PER_HOUR
from flask_rivo.users.throttle import Throttle
from flask_rivo.users.throttle import client_network
from flask_rivo.users.throttle import take_mail_quota

WRONG = "not the password at all"


def test_parallel_claims_pass_one_at_a_time() -> None:
    """After the free attempts, 16 simultaneous attempts get exactly one try."""
    store = MemoryStore()
    now = time.time()
    throttle = Throttle(store, now, free=5, address_free=1000, longest=900)
    for _ in range(5):
        assert throttle.claim("ann@example.com", "192.0.2.1") == 0
    later = Throttle(store, now + 1, free=5, address_free=1000, longest=900)
    barrier = threading.Barrier(16)
    granted: list[float] = []

    def attempt() -> None:
        barrier.wait()
        granted.append(later.claim("ann@example.com", "192.0.2.1"))

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(0.0) == 1
    assert all(wait > 0 for wait in granted if wait != 0.0)


def test_parallel_log_ins_check_one_password(
    users_app: flask.Flask, verified: str, clock: FakeClock, monkeypatch: t.Any
) -> None:
    import bcrypt

    browsers = [Browser(users_app.test_client()) for _ in range(8)]
    for _ in range(5):
        browsers[0].log_in(verified, WRONG)
    clock.advance(1)  # the first delay is over: one attempt may be made
    tokens = []
    for browser in browsers:
        found = CSRF.search(browser.get("/signup").text)
        assert found is not None
        tokens.append(found.group(1))
    checks: list[bytes] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda p, h: checks.append(p) or real(p, h))
    barrier = threading.Barrier(len(browsers))
    statuses: list[int] = []

    def attempt(browser: Browser, token: str) -> None:
        data = {"csrf_token": token, "email": verified, "password": WRONG}
        barrier.wait()
        statuses.append(browser.client.post("/login", data=data).status_code)

    threads = [
        threading.Thread(target=attempt, args=pair)
        for pair in zip(browsers, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(checks) == 1
    assert sorted(statuses) == [400] + [429] * (len(browsers) - 1)


def test_csrf_secret_is_renewed_at_log_in(
    make_users_app: t.Callable[..., flask.Flask], mailbox: Mailbox
) -> None:
    """A token read from a planted, pre-log-in session stops working."""
    from flask_wtf import CSRFProtect

    app = make_users_app()
    CSRFProtect(app)

    @app.post("/transfer")
    def transfer() -> str:
        return "sent"

    browser = Browser(app.test_client())
    browser.sign_up("ann@example.com")
    browser.submit(mailbox.last_link("ann@example.com"), {"password": PASSWORD})
    found = CSRF.search(browser.get("/signup").text)
    assert found is not None
    before = found.group(1)
    assert browser.log_in("ann@example.com").status_code == 302
    forged = browser.client.post("/transfer", data={"csrf_token": before})
    assert forged.status_code == 400
    found = CSRF.search(browser.get("/signup").text)
    assert found is not None
    fresh = browser.client.post("/transfer", data={"csrf_token": found.group(1)})
    assert fresh.text == "sent"


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unix", "unix"),
    ],
)
def test_client_network(address: str, counted_as: str) -> None:
    assert client_network(address) == counted_as


def test_one_ipv6_64_is_one_client(users_app: flask.Flask) -> None:
    users_app.config["RIVO_LOGIN_ADDRESS_FREE_ATTEMPTS"] = 3
    browser = Browser(users_app.test_client())

    def attempt(account: str, address: str) -> int:
        data = {"email": account, "password": WRONG}
        environ = {"REMOTE_ADDR": address}
        return browser.submit("/login", data, environ_overrides=environ).status_code

    statuses = [
        attempt(f"user{n}@example.com", f"2001:db8:7:7::{n + 1:x}") for n in range(5)
    ]
    assert statuses == [400, 400, 400, 429, 429]
    assert attempt("user9@example.com", "2001:db8:7:8::1") == 400  # another /64


def test_mail_quota_counts_per_address_and_per_hour() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    now = clock.now
    assert all(
        take_mail_quota(store, "a@example.com", now) for _ in range(MAIL_PER_HOUR)
    )
    assert not take_mail_quota(store, "a@example.com", now + 10)
    assert take_mail_quota(store, "b@example.com", now + 10)
    clock.advance(3601)
    assert take_mail_quota(store, "a@example.com", now + 3601)


def test_sign_up_cannot_flood_an_inbox(
    browser: Browser, mailbox: Mailbox, clock: FakeClock
) -> None:
    pages = [browser.sign_up("victim@example.com").text for _ in range(6)]
    assert len(mailbox.to("victim@example.com")) == MAIL_PER_HOUR
    assert len({re.sub(r'value="[^"]+"', "", page) for page in pages}) == 1
    clock.advance(3601)
    browser.sign_up("victim@example.com")
    assert len(mailbox.to("victim@example.com")) == MAIL_PER_HOUR + 1


def test_successes_at_a_shared_address_do_not_keep_old_failures_alive() -> None:
    """An office behind one address: a typo a day, many right passwords."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    office = "203.0.113.7"

    def attempt(email: str, right: bool) -> float:
        throttle = Throttle(store, clock.now, free=5, address_free=20, longest=900)
        wait = throttle.claim(email, office)
        if wait == 0 and right:
            throttle.succeeded(email, office)
        return wait

    for day in range(30):
        clock.advance(3600)
        assert attempt(f"typo{day}@example.org", right=False) == 0, day
        for hour in range(24):
            clock.advance(3600)
            assert attempt(f"user{hour}@example.org", right=True) == 0, day
    for colleague in ("ann", "bob", "cid"):
        clock.advance(60)
        assert attempt(f"{colleague}@example.org", right=True) == 0
    from flask_rivo.ids import counter_key
    from flask_rivo.users.throttle import client_network

    counter = store.load(counter_key("address", client_network(office)))
    assert counter is None or int(counter.data["count"]) <= 1


def test_a_refused_attempt_is_not_counted() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    nat = "198.51.100.9"

    def throttle() -> Throttle:
        return Throttle(store, clock.now, free=5, address_free=3, longest=900)

    for n in range(2):
        throttle().claim(f"x{n}@example.org", nat)

    class Racing(Throttle):
        def wait(self, email: str, address: str, device: str | None = None) -> float:
            found = super().wait(email, address, device)
            throttle().claim("other@example.org", nat)  # fills the address
            return found

    victim = Racing(store, clock.now, 5, 3, 900)
    assert victim.claim("victim@example.org", nat) > 0
    assert throttle().wait("victim@example.org", "192.0.2.1") == 0
    from flask_rivo.ids import counter_key

    assert store.load(counter_key("account", "victim@example.org")) is None

"""The demo site of ``python -m flask_rivo``: every account page, no mail server.

The flow runs through the werkzeug test client against
:func:`flask_rivo.demo.create_demo_app`, with CSRF on; the command itself is
started as a real process and driven over HTTP with :mod:`urllib`.
"""

from __future__ import annotations

import contextlib
import html
import http.cookiejar
import os
import re
import signal
import sqlite3
import threading
import typing as t
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from servers import DemoServer
from servers import port_is_free
from servers import wait_until
from support import CSRF
from support import free_port
from users_support import PASSWORD
from users_support import Browser

from flask_rivo.__main__ import is_loopback
from flask_rivo.__main__ import main
from flask_rivo.__main__ import site_address
from flask_rivo.demo import DATABASE_FILE
from flask_rivo.demo import close_demo_app
from flask_rivo.demo import create_demo_app
from flask_rivo.demo import linkify

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask
    from flask.testing import FlaskClient

SITE = "http://127.0.0.1:5050"
NEW_PASSWORD = "walrus kettle origami"
_OUTBOX_LINK = re.compile(r'<a href="http://127\.0\.0\.1:5050(/[^"]+)">')
_WHO = re.compile(r'<p id="who">(.*?)</p>', re.DOTALL)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Flask]:
    app = create_demo_app(tmp_path, SITE, {"RIVO_BCRYPT_ROUNDS": 4})
    yield app
    close_demo_app(app)


@pytest.fixture
def client(demo: Flask) -> FlaskClient:
    return demo.test_client()


def who(client: FlaskClient) -> str:
    found = _WHO.search(client.get("/").text)
    assert found is not None
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def outbox_links(client: FlaskClient) -> list[str]:
    """The paths of the links on the outbox page, newest email first."""
    page = client.get("/_outbox")
    assert page.status_code == 200
    return [html.unescape(path) for path in _OUTBOX_LINK.findall(page.text)]


def newest_link(client: FlaskClient, start: str) -> str:
    """The newest link in the outbox whose path begins with ``start``."""
    return next(path for path in outbox_links(client) if path.startswith(start))


def test_home_links_every_account_page_a_browser_can_open(demo: Flask) -> None:
    page = demo.test_client().get("/").text
    # Every GET page of the blueprint, but those opened from emailed links.
    from_email = {"rivo_users.verify", "rivo_users.reset_password"}
    # Steps of a flow, which send a visitor who did not begin it elsewhere.
    in_a_flow = {"rivo_users.two_factor_login", "rivo_users.reauthenticate"}
    for rule in demo.url_map.iter_rules():
        if (
            rule.endpoint.startswith("rivo_users.")
            and rule.methods is not None
            and "GET" in rule.methods
            and rule.endpoint not in {*from_email, *in_a_flow, "rivo_users.static"}
        ):
            assert f'href="{rule.rule}"' in page, rule.endpoint
    assert 'href="/account"' in page
    assert 'href="/_outbox"' in page
    assert "You are not logged in." in page


def test_the_demo_factory_never_turns_debug_on(demo: Flask) -> None:
    assert demo.debug is False
    assert demo.config["RIVO_EXTERNAL_URL"] == SITE


def test_sign_up_confirm_reset_and_change_without_a_mail_server(
    demo: Flask,
    client: FlaskClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    browser = Browser(client)
    assert "No email yet" in client.get("/_outbox").text
    assert client.get("/account").headers["Location"] == "/login?next=/account"

    # Sign-up: the email is in the terminal and in the outbox, its link
    # clickable and pointing at the demo's own address.
    assert browser.sign_up("ada@example.com").status_code == 200
    printed = capsys.readouterr().out
    assert "email to ada@example.com" in printed
    assert f"{SITE}/verify?token=" in printed
    outbox = client.get("/_outbox").text
    assert "Confirm your email address for Flask-Rivo demo" in outbox
    [verify] = outbox_links(client)
    assert verify.startswith("/verify?token=")
    assert verify in printed

    assert browser.submit(verify, {"password": PASSWORD}).status_code == 302
    assert who(client) == "Logged in as ada@example.com. Your account"
    account = client.get("/account")
    assert account.status_code == 200
    assert "ada@example.com" in account.text

    # Forgotten password, from a browser that is not logged in.
    stranger = Browser(demo.test_client())
    assert (
        stranger.submit("/forgotten-password", {"email": "ada@example.com"}).status_code
        == 200
    )
    reset = newest_link(client, "/reset-password?token=")
    stranger.get(reset)  # moves the token into the session
    new = {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    assert stranger.submit("/reset-password", new).status_code == 302
    assert who(stranger.client) == "Logged in as ada@example.com. Your account"

    # Change of address: confirmed from its emailed link, with the password.
    change = {
        "email": "ada@example.org",
        "current_password": NEW_PASSWORD,
        "password": "",
        "password_confirm": "",
    }
    assert stranger.submit("/change", change).status_code == 302
    confirm = newest_link(client, "/verify?token=")
    assert confirm != verify
    assert stranger.submit(confirm, {"password": NEW_PASSWORD}).status_code == 302
    assert who(stranger.client) == "Logged in as ada@example.org. Your account"

    # Users and sessions share one SQLite file in the data folder.
    with contextlib.closing(sqlite3.connect(tmp_path / DATABASE_FILE)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        [(email,)] = db.execute("SELECT email FROM users")
    assert {"users", "rivo_sessions"} <= tables
    assert email == "ada@example.org"


def test_outbox_escapes_the_text_and_links_only_urls() -> None:
    shown = linkify('<b>hi</b> open http://127.0.0.1:5050/verify?token=a&b=c"x now')
    assert shown == (
        "&lt;b&gt;hi&lt;/b&gt; open "
        '<a href="http://127.0.0.1:5050/verify?token=a&amp;b=c">'
        "http://127.0.0.1:5050/verify?token=a&amp;b=c</a>&#34;x now"
    )


@pytest.mark.parametrize(
    ("host", "port", "url", "loopback"),
    [
        ("127.0.0.1", 5050, "http://127.0.0.1:5050", True),
        ("localhost", 8000, "http://localhost:8000", True),
        ("0.0.0.0", 5050, "http://127.0.0.1:5050", False),  # noqa: S104
        ("::1", 5051, "http://[::1]:5051", True),
        ("::", 5050, "http://127.0.0.1:5050", False),
        ("192.168.1.20", 5050, "http://192.168.1.20:5050", False),
        ("demo.lan", 5050, "http://demo.lan:5050", False),
    ],
)
def test_links_follow_the_host_and_port_it_serves_on(
    host: str, port: int, url: str, loopback: bool
) -> None:
    assert site_address(host, port) == url
    assert is_loopback(host) is loopback


def _stop_when_answering(
    port: int,
    check: t.Callable[[str], None],
    errors: list[BaseException],
    returned: threading.Event,
) -> threading.Thread:
    """In a thread: wait for the server, run ``check`` on its URL, then press
    Ctrl-C (SIGINT to this process, which runs the server), unless the
    server has ``returned`` already. What goes wrong lands in ``errors``."""

    def run() -> None:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until("the demo to answer", lambda: port_is_free(port) is False)
            check(url)
        except BaseException as error:
            errors.append(error)
        finally:
            if not returned.is_set():
                os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_main_keeps_a_data_folder_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a ``flask`` command run in this process before leaves it: the
    # command must serve all the same (monkeypatch puts it back after).
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    port = free_port()
    pages: list[str] = []

    def check(url: str) -> None:
        with urllib.request.urlopen(url + "/_outbox", timeout=5) as response:  # noqa: S310
            pages.append(response.read().decode())

    errors: list[BaseException] = []
    returned = threading.Event()
    thread = _stop_when_answering(port, check, errors, returned)
    data = tmp_path / "data"
    try:
        assert main(["--port", str(port), "--data", str(data)]) == 0
    finally:
        returned.set()
    thread.join(5)
    assert errors == []
    assert "No email yet" in pages[0]
    assert (data / DATABASE_FILE).is_file()
    # The SIGTERM handler of the command is gone with it.
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_demo_command_serves_the_site_and_lists_a_sign_up_email(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The newcomer's path: ``python -m flask_rivo``, open the page, sign up,
    and find the verification email on the outbox page. Started from a
    ``flask`` command's environment, it still serves."""
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    with DemoServer() as server:
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(server.url + "/signup", timeout=10) as response:
            found = CSRF.search(response.read().decode())
        assert found is not None
        form = {
            "csrf_token": html.unescape(found.group(1)),
            "email": "newcomer@example.com",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
        body = urllib.parse.urlencode(form).encode()
        with opener.open(server.url + "/signup", body, timeout=10) as response:
            assert "Check your email" in response.read().decode()
        with opener.open(server.url + "/_outbox", timeout=10) as response:
            outbox = response.read().decode()
        assert "Confirm your email address for Flask-Rivo demo" in outbox
        assert f'<a href="{server.url}/verify?token=' in outbox
        log = server.log.read_text()
        [folder] = re.findall(r"^Data: (\S+)", log, re.MULTILINE)
        assert Path(folder, DATABASE_FILE).is_file()
        assert "email to newcomer@example.com" in log
        assert "Debug mode: on" in log
    # SIGTERM ended it, and the temporary folder went with it.
    assert not Path(folder).exists()


def test_the_demo_speaks_the_browsers_language(client: FlaskClient) -> None:
    pytest.importorskip("flask_babel")
    german = client.get("/", headers={"Accept-Language": "de"}).text
    assert '<html lang="de">' in german
    assert "<h1>Flask-Rivo-Demo</h1>" in german
    assert "Sie sind nicht angemeldet." in german
    french = client.get("/_outbox", headers={"Accept-Language": "fr"}).text
    assert "<h1>Boîte d\u2019envoi</h1>" in french
    assert "<h1>Flask-Rivo demo</h1>" in client.get("/").text

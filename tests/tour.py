"""A guided tour of the demo site in a real browser, for the screenshots.

:class:`Tour` is what each screenshot's recipe (``tests/shots.py``) drives:
the demo site of ``python -m flask_rivo`` on a real threaded HTTP server,
a Chromium page, and helpers that do what a visitor does (fill a form,
press a button, open the newest link of an email). Every recipe gets a
site of its own, so recipes do not depend on one another's order or leave
accounts, sessions, throttles or emails behind for the next one.

The pictures must not change when nothing in the pages did, so nothing in
them depends on the run: the clock is frozen (``T0``, moved only by the
recipes), emails are addressed to the demo's usual ``127.0.0.1:5050``
whatever port the server got, the browser's User-Agent, locale, time zone
and colour scheme are fixed, the addresses are written out, and the
second factor's secret and recovery codes, which a page shows, are the
same on every run (:data:`TOTP_SECRET`, :func:`recovery_codes`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import tempfile
import typing as t
from datetime import datetime
from datetime import timezone
from pathlib import Path
from unittest import mock

from support import CountingStore
from support import FakeClock
from support import free_port
from support import http_server

from flask_rivo.demo import User
from flask_rivo.demo import close_demo_app
from flask_rivo.demo import create_demo_app
from flask_rivo.stores import MemoryStore
from flask_rivo.users import totp
from flask_rivo.users.models import UserState
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from flask import Flask

#: The address emails point at: the one ``python -m flask_rivo`` prints.
SHOWN_SITE = "http://127.0.0.1:5050"
#: The moment the clock shows when a recipe starts.
T0 = datetime(2026, 5, 4, 9, 30, tzinfo=timezone.utc).timestamp()
PASSWORD = "zebra violin cactus"
#: The browser of the pictures, whatever Chromium runs them.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/131.0.0.0 Safari/537.36"
)
#: Another browser, for the sessions page and the new-device notice.
FIREFOX = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)
#: Wide enough for the header and the form column; as high as the content
#: (full-page screenshots of a short viewport are cropped to the page).
VIEWPORT = {"width": 600, "height": 200}
#: The second factor's secret that the set-up page offers (Base32).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_LINK = re.compile(r"https?://[^\s<>\"']+")


def recovery_codes() -> list[str]:
    """Recovery codes of the shape :func:`totp.new_recovery_codes` makes
    (24 Base32 characters in groups of four), the same on every run."""
    codes = []
    for number in range(totp.RECOVERY_CODES):
        digest = hashlib.sha256(f"tour {number}".encode()).digest()[:15]
        raw = base64.b32encode(digest).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


class Site:
    """The demo app on a loopback port, with a frozen clock and a store
    that can be taken down (for the 503 page)."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.clock.now = T0
        inner = MemoryStore(clock=self.clock)
        self.store = CountingStore(inner, records=dict)
        self._folder = tempfile.TemporaryDirectory(prefix="rivo-tour-")
        self.app: Flask = create_demo_app(
            self._folder.name,
            SHOWN_SITE,
            {
                "RIVO_BCRYPT_ROUNDS": 4,
                "RIVO_SESSION_STORE": self.store,
                "SECRET_KEY": "the tour",
            },
        )
        self.app.session_interface.clock = self.clock  # type: ignore[attr-defined]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._fixed = [
            mock.patch.object(totp, "new_secret", return_value=TOTP_SECRET),
            mock.patch.object(totp, "new_recovery_codes", recovery_codes),
        ]
        for patch in self._fixed:
            patch.start()
        self._serving = contextlib.ExitStack()
        self._serving.enter_context(http_server(self.app, self.port))

    def close(self) -> None:
        self._serving.close()
        for patch in self._fixed:
            patch.stop()
        close_demo_app(self.app)
        self._folder.cleanup()


class Tour:
    """One recipe's visit: its own site, and a fresh browser on it."""

    def __init__(self, browser: t.Any, site: Site) -> None:
        self.browser = browser
        self.site = site
        self.clock = site.clock
        self._contexts: list[t.Any] = []
        #: Requests of any page that failed, or whose answer was an error,
        #: but the pages themselves (a recipe may show a 400 or a 404).
        self.broken: list[str] = []
        self.page = self.new_page(USER_AGENT)

    def new_page(self, user_agent: str) -> t.Any:
        """A page in a browser of its own (no cookies shared)."""
        context = self.browser.new_context(
            viewport=VIEWPORT,
            device_scale_factor=1,
            user_agent=user_agent,
            locale="en-US",
            timezone_id="UTC",
            color_scheme="light",
            reduced_motion="reduce",
        )
        self._contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("requestfailed", lambda request: self.broken.append(request.url))
        page.on("response", self._check)
        return page

    def _check(self, response: t.Any) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.broken.append(f"{response.status} {response.url}")

    def close(self) -> None:
        for context in self._contexts:
            context.close()

    # -- what a visitor does --------------------------------------------------

    def open(self, path: str, page: t.Any = None) -> t.Any:
        """Open ``path`` of the site (or a URL of an email) in ``page``."""
        page = page or self.page
        if path.startswith(SHOWN_SITE):
            path = path[len(SHOWN_SITE) :]
        page.goto(self.site.base + path)
        return page

    def fill(
        self,
        fields: dict[str, str],
        press: str,
        page: t.Any = None,
        then: str | None = None,
    ) -> None:
        """Fill in the fields, by their labels, press the button, and wait
        for the text ``then`` of the page it leads to."""
        page = page or self.page
        for label, value in fields.items():
            page.get_by_label(label, exact=True).fill(value)
        page.get_by_role("button", name=press).click()
        page.wait_for_load_state()
        if then is not None:
            self.see(then, page)

    def see(self, text: str, page: t.Any = None) -> None:
        """Wait until ``text`` shows (the page the recipe wants is there)."""
        (page or self.page).get_by_text(text).first.wait_for()

    # -- accounts -------------------------------------------------------------

    def account(self, email: str, state: UserState = UserState.VERIFIED) -> None:
        """An account with ``PASSWORD``, put straight into the database."""
        db = self.site.app.extensions["rivo_demo"].db_session
        db.add(User(email=email, password_hash=hash_password(PASSWORD, 4), state=state))
        db.commit()
        db.remove()

    def sign_up(self, email: str) -> None:
        self.open("/signup")
        self.fill(
            {
                "Email address": email,
                "Password": PASSWORD,
                "Repeat the password": PASSWORD,
            },
            press="Sign up",
        )
        self.see("Check your email")

    def log_out(self) -> None:
        self.page.get_by_role("button", name="Log out").click()
        self.see("You are logged out")

    def log_in(self, email: str, page: t.Any = None) -> None:
        """Log in with ``PASSWORD`` (to an account made by :meth:`account`)."""
        page = self.open("/login", page)
        self.fill({"Email address": email, "Password": PASSWORD}, "Log in", page)
        page.get_by_role("button", name="Log out").wait_for()

    def totp_code(self) -> str:
        """The code an authenticator app shows now (on the site's clock)."""
        import pyotp

        return t.cast("str", pyotp.TOTP(TOTP_SECRET).at(self.clock()))

    # -- emails ---------------------------------------------------------------

    def emails(self, to: str) -> list[t.Any]:
        """The emails sent to ``to``, newest first."""
        outbox = self.site.app.extensions["rivo_demo"].outbox
        return [email for email in outbox.emails() if email.to == to]

    def link(self, to: str, path: str) -> str:
        """The newest link to ``path`` emailed to ``to``."""
        for email in self.emails(to):
            for url in _LINK.findall(email.text):
                if url.startswith(SHOWN_SITE + path):
                    return t.cast("str", url)
        raise AssertionError(f"no email to {to} links to {path}")


def tours(browser: t.Any) -> Iterator[Tour]:
    """A tour on a site of its own, closed afterwards (a fixture's body)."""
    site = Site()
    tour = Tour(browser, site)
    try:
        yield tour
    finally:
        tour.close()
        site.close()


def optimize(png: Path) -> None:
    """Make a screenshot small: 256 colours, no dithering (flat pages with
    text lose nothing visible), and zlib's best compression."""
    from PIL import Image

    with Image.open(png) as image:
        small = image.convert("RGB").quantize(256, dither=Image.Dither.NONE)
    small.save(png, optimize=True)

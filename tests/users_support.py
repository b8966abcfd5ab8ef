"""Helpers for the account tests: the user model, the mailbox of the SMTP
server, and a browser-like client that reads CSRF tokens from the forms."""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import threading
import typing as t
import uuid
from email.message import EmailMessage

import flask
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from support import CSRF
from support import require

from flask_rivo import UserMixin
from flask_rivo import cuid
from flask_rivo import current_user
from flask_rivo import login_required
from flask_rivo.users import UserState
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

SITE = "https://rivo.test"
PASSWORD = "zebra violin cactus"


class Base(DeclarativeBase):
    pass


class User(UserMixin, Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)


def with_account_page(app: flask.Flask) -> flask.Flask:
    """``app`` with ``/account``: behind ``login_required``, it names the
    logged-in user (a test's way to see who, if anyone, is logged in)."""

    @app.get("/account")
    @login_required
    def account() -> str:
        return f"Account of {current_user.email}"

    return app


def own_user_model(prefix: str) -> t.Any:
    """A user model on a table of its own (``prefix`` and a random suffix),
    on metadata of its own: for a module whose tests race requests on a
    shared server, where another run's tables must not be touched."""

    class OwnBase(DeclarativeBase):
        pass

    class Person(UserMixin, OwnBase):
        __tablename__ = f"{prefix}_{uuid.uuid4().hex[:10]}"
        id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)

    return Person


@contextlib.contextmanager
def tables_on(url: str, metadata: sa.MetaData) -> t.Iterator[sa.Engine]:
    """An engine on the server at ``url`` with ``metadata``'s tables made,
    and dropped after; a server that does not answer skips the test (fails
    it under ``RIVO_REQUIRE_SERVICES``)."""
    engine = sa.create_engine(url)
    try:
        engine.connect().close()
    except sa.exc.OperationalError as error:
        engine.dispose()
        require(False, f"{url}: {error}")
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def add_user(db: t.Any, email: str, state: UserState = UserState.VERIFIED) -> None:
    """Put an account with the password ``PASSWORD`` straight into ``db``."""
    db.add(User(email=email, password_hash=hash_password(PASSWORD, 4), state=state))
    db.commit()
    db.remove()


class Mailbox:
    """What the SMTP server on loopback received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: t.Any, session: t.Any, envelope: t.Any) -> str:  # noqa: N802
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        with self._lock:
            self.messages.append(t.cast("EmailMessage", message))
        return "250 OK"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    @staticmethod
    def text(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain",))
        assert part is not None
        return t.cast("str", part.get_content())

    @staticmethod
    def html(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("html",))
        assert part is not None
        return t.cast("str", part.get_content())

    def links(self, message: EmailMessage) -> list[str]:
        return re.findall(r"https?://\S+", self.text(message))

    def last_link(self, address: str) -> str:
        """The path of the link in the newest email to ``address``."""
        [*_, message] = self.to(address)
        [link] = self.links(message)
        assert link.startswith(SITE)
        return link[len(SITE) :]


_TOKEN = re.compile(r'name="token" type="hidden" value="([^"]+)"')


class Browser:
    """A test client used as a person would: read the form, then submit it."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **kwargs: t.Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def submit(self, path: str, data: dict[str, str], **kwargs: t.Any) -> TestResponse:
        """GET ``path``, take the CSRF token (and hidden token) from its form, POST.

        A page that redirects instead (the log-in page of someone logged in
        already) has no form: the token is the session's, so it is read
        from the sign-up page.
        """
        page = self.client.get(path)
        if page.status_code == 302:
            page = self.client.get("/signup")
        fields = dict(data)
        found = CSRF.search(page.text)
        assert found is not None, f"no CSRF token on {path}: {page.status_code}"
        fields.setdefault("csrf_token", found.group(1))
        token = _TOKEN.search(page.text)
        if token is not None:
            fields.setdefault("token", token.group(1))
        return self.client.post(path, data=fields, **kwargs)

    def sign_up(self, address: str, password: str = PASSWORD) -> TestResponse:
        return self.submit(
            "/signup",
            {"email": address, "password": password, "password_confirm": password},
        )

    def log_in(
        self, address: str, password: str = PASSWORD, **extra: str
    ) -> TestResponse:
        path = "/login" + (f"?next={extra.pop('next')}" if "next" in extra else "")
        return self.submit(path, {"email": address, "password": password, **extra})

    def reauthenticate(self, password: str = PASSWORD) -> TestResponse:
        """Confirm the password again (sudo mode), as after a long pause."""
        return self.submit("/reauthenticate", {"password": password})

    def log_out(self) -> TestResponse:
        page = self.client.get("/signup")
        found = CSRF.search(page.text)
        assert found is not None
        return self.client.post("/logout", data={"csrf_token": found.group(1)})

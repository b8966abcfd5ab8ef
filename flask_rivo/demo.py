"""The demo site that ``python -m flask_rivo`` serves, as rivo/users' ``Main()``.

A newcomer should see every account page work, emails included, before
writing a line of code or configuring a mail server. So the site keeps its
users and sessions in one SQLite file of a folder it is given, and instead
of sending emails it prints each one to the terminal and lists it on a
development outbox page, ``/_outbox``, whose links can be clicked.

:func:`create_demo_app` never turns debug mode on: only the command, in
:mod:`flask_rivo.__main__`, runs the site with it. An application that
imports this module for its own use gets no debug mode by surprise.
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import threading
import typing as t
from datetime import datetime
from datetime import timezone

import click
import sqlalchemy as sa
from flask import Flask
from flask_mail import email_dispatched
from markupsafe import Markup
from markupsafe import escape
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker

from .i18n import gettext_noop
from .i18n import render_template
from .ids import cuid
from .users import RivoUsers
from .users import UserMixin
from .users import current_user
from .users import login_required
from .users.errors import error_page

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from flask_mail import Message

#: The SQLite file, in the data folder, that holds users and sessions.
DATABASE_FILE = "demo.sqlite3"

#: How many emails the outbox keeps; the oldest go first.
OUTBOX_SIZE = 200

#: The account pages the home page links to, with what each one shows. The
#: verification and reset pages are missing on purpose: they open from the
#: links in emails. Log-out is the button in the header.
ACCOUNT_PAGES: tuple[tuple[str, str], ...] = (
    ("rivo_users.signup", gettext_noop("Sign up, and get a verification email")),
    ("rivo_users.resend_verification", gettext_noop("A fresh verification link")),
    ("rivo_users.login", gettext_noop("Log in")),
    ("rivo_users.forgotten_password", gettext_noop("Forgotten password: a reset link")),
    (
        "rivo_users.change",
        gettext_noop("Change the email address or the password"),
    ),
    ("rivo_users.sessions", gettext_noop("Your sessions, to end one or all others")),
    ("rivo_users.two_factor", gettext_noop("Two-factor authentication (TOTP)")),
    (
        "rivo_users.passkeys",
        gettext_noop("Your passkeys (browsers allow them on a name, not 127.0.0.1)"),
    ),
    ("rivo_users.close_account", gettext_noop("Close the account")),
)

_LINK = re.compile(r"https?://[^\s<>\"']+")


class Base(DeclarativeBase):
    """The demo's models: plain SQLAlchemy, as an application may have."""


class User(UserMixin, Base):
    """A demo account: :class:`~flask_rivo.UserMixin` and a CUID key."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)


class SentEmail(t.NamedTuple):
    """One email as the outbox page shows it."""

    to: str
    subject: str
    text: str
    sent_at: datetime


class Outbox:
    """The emails the demo site "sent", newest first, safe across threads.

    Flask-Mail sends its ``email_dispatched`` signal even with
    ``MAIL_SUPPRESS_SEND``, so the account workflows run exactly as with a
    mail server (quotas, templates, errors) and only the last step, SMTP,
    is left out.
    """

    def __init__(self, size: int = OUTBOX_SIZE) -> None:
        self.size = size
        self._emails: list[SentEmail] = []
        self._lock = threading.Lock()

    def add(self, email: SentEmail) -> None:
        with self._lock:
            self._emails.insert(0, email)
            del self._emails[self.size :]

    def emails(self) -> list[SentEmail]:
        """A copy, newest first, so a page renders while others are added."""
        with self._lock:
            return list(self._emails)

    def record(self, app: Flask, message: Message, **extra: t.Any) -> None:
        """Keep ``message`` and print it: the signal's receiver."""
        email = SentEmail(
            to=", ".join(str(to) for to in message.recipients),
            subject=message.subject or "",
            text=message.body or "",
            # The sessions' clock, the one hook every time of the site
            # comes from, so a test that moves it sees the outbox move too.
            sent_at=datetime.fromtimestamp(
                app.extensions["rivo_sessions"].now(), timezone.utc
            ),
        )
        self.add(email)
        click.echo(
            f"\n--- email to {email.to} (also on /_outbox) ---\n"
            f"Subject: {email.subject}\n\n{email.text}\n--- end of email ---\n"
        )


def linkify(text: str) -> Markup:
    """Escape ``text`` and make every http(s) URL in it a link."""
    parts: list[str] = []
    end = 0
    for found in _LINK.finditer(text):
        url = found.group(0)
        parts.append(escape(text[end : found.start()]))
        parts.append(Markup('<a href="{0}">{0}</a>').format(url))
        end = found.end()
    parts.append(escape(text[end:]))
    return Markup("").join(parts)


def create_demo_app(
    data_dir: str | os.PathLike[str],
    external_url: str,
    config: Mapping[str, t.Any] | None = None,
) -> Flask:
    """Build the demo site, keeping its data in ``data_dir``.

    :param data_dir: an existing folder for the SQLite file; users and
        sessions outlive a restart with the same folder.
    :param external_url: where the site answers, such as
        ``http://127.0.0.1:5050``: the links in emails point there.
    :param config: settings applied last (tests lower the bcrypt cost).
    """
    app = Flask(__name__)
    database = f"sqlite:///{os.path.join(os.fspath(data_dir), DATABASE_FILE)}"
    app.config.update(
        # Only Flask-WTF's CSRF tokens are signed; a key made up at start
        # turns forms left open over a restart stale, nothing more.
        SECRET_KEY=secrets.token_hex(32),
        RIVO_SITE_NAME="Flask-Rivo demo",
        RIVO_EXTERNAL_URL=external_url,
        # Sessions beside the users, so both survive a restart with --data.
        RIVO_SESSION_STORE="sqlalchemy",
        RIVO_SESSION_STORE_URL=database,
        # Never contacted: with MAIL_SUPPRESS_SEND, Flask-Mail stops short of
        # SMTP and only signals the email to the outbox.
        MAIL_SERVER="mail.invalid",
        MAIL_SUPPRESS_SEND=True,
        MAIL_DEFAULT_SENDER="Flask-Rivo demo <noreply@demo.invalid>",
    )
    if config is not None:
        app.config.update(config)

    engine = sa.create_engine(database)
    db_session = scoped_session(sessionmaker(engine))
    Base.metadata.create_all(engine)
    outbox = Outbox()
    app.extensions["rivo_demo"] = DemoState(engine, db_session, outbox)
    email_dispatched.connect(outbox.record, app, weak=False)
    RivoUsers(app, user_model=User, db_session=db_session)
    _speak_the_browsers_language(app)
    app.jinja_env.filters["linkify"] = linkify

    @app.teardown_appcontext
    def remove_db_session(error: BaseException | None) -> None:
        db_session.remove()

    # A mistyped address gets the site's layout, as the docs suggest.
    app.register_error_handler(404, error_page)

    @app.get("/")
    def home() -> str:
        """Who is logged in, and a link to every account page."""
        return render_template("rivo_demo/home.html", pages=ACCOUNT_PAGES)

    @app.get("/account")
    @login_required
    def account() -> str:
        """A page only a logged-in user sees."""
        return render_template("rivo_demo/account.html", user=current_user)

    @app.get("/_outbox")
    def outbox_page() -> str:
        """Every email the site sent, newest first, links clickable."""
        return render_template("rivo_demo/outbox.html", emails=outbox.emails())

    return app


def _speak_the_browsers_language(app: Flask) -> None:
    """Pages and emails in the browser's language (German, French or
    English), when Flask-Babel (the ``babel`` extra) is installed."""
    try:
        flask_babel = importlib.import_module("flask_babel")
    except ImportError:
        return
    flask_babel.Babel(app)


class DemoState(t.NamedTuple):
    """What the demo app holds in ``app.extensions["rivo_demo"]``."""

    engine: sa.Engine
    db_session: scoped_session[t.Any]
    outbox: Outbox


def close_demo_app(app: Flask) -> None:
    """Stop listening for emails and close the database files, so the data
    folder can be removed."""
    state: DemoState = app.extensions["rivo_demo"]
    email_dispatched.disconnect(state.outbox.record, app)
    with app.app_context():
        app.extensions["rivo_sessions"].store.close()
    state.db_session.remove()
    state.engine.dispose()

"""Emails: render the templates, build links, send through Flask-Mail.

Links are built from ``RIVO_EXTERNAL_URL`` (or ``SERVER_NAME``), never from
the request's Host header: an attacker who sends a request with a forged
Host would otherwise get the victim's reset link pointing at the attacker's
site (password-reset poisoning).
"""

from __future__ import annotations

import smtplib
import typing as t
from urllib.parse import urlsplit

from flask import current_app
from flask import has_request_context
from flask import request
from flask import url_for
from flask_mail import Mail
from flask_mail import Message

from ..exceptions import ConfigError
from ..exceptions import RivoError
from ..i18n import render_template

if t.TYPE_CHECKING:
    from flask import Flask

#: Where links point in debug mode when neither ``RIVO_EXTERNAL_URL`` nor
#: ``SERVER_NAME`` is set and no request says better (an email sent from a
#: ``flask`` command): ``flask run``'s own address.
DEBUG_URL = "http://127.0.0.1:5000"


#: Marks a Flask-Mail state that flask_rivo made (the app installed none).
OWN_MAIL = "rivo_users_mail"


class MailError(RivoError):
    """An email could not be handed to the mail server."""


def site_url(app: Flask) -> str | None:
    """Scheme and host for links in emails, or ``None`` if not configured.

    In debug mode without ``RIVO_EXTERNAL_URL`` or ``SERVER_NAME``, the
    scheme, host and port of the current request: a fixed guess such as
    ``http://127.0.0.1:5000`` is a dead link under ``flask run --port 5100``.
    Outside debug mode the request is never asked, as its Host header is
    the client's to forge.
    """
    external = app.config.get("RIVO_EXTERNAL_URL")
    if external:
        return str(external).rstrip("/")
    server_name = app.config.get("SERVER_NAME")
    if server_name:
        # PREFERRED_URL_SCHEME defaults to http, which on a live site would
        # send people (and their tokens) over plain HTTP: outside debug mode
        # links are https; RIVO_EXTERNAL_URL can still say http.
        scheme = app.config["PREFERRED_URL_SCHEME"] if app.debug else "https"
        return f"{scheme}://{server_name}"
    if not app.debug:
        return None
    if has_request_context():
        return request.host_url.rstrip("/")
    return DEBUG_URL


def check_site_url(app: Flask) -> str:
    """The site URL for links in emails, or an error that says what to set.

    Checked where a link is built, not when the application is made, so
    that every ``flask`` command (``flask routes``, ``flask shell``,
    ``flask db upgrade``, ``flask users``) works without mail settings.

    :raises ConfigError: when links in emails would have nowhere to point.
    """
    base = site_url(app)
    if base is None:
        raise ConfigError(
            "RIVO_EXTERNAL_URL",
            "set it (or SERVER_NAME) to your site's address, such as"
            " https://example.com, so that links in emails point at it",
        )
    return base


def external_url(endpoint: str, **values: t.Any) -> str:
    """An absolute link to ``endpoint`` for an email.

    :raises ConfigError: without ``RIVO_EXTERNAL_URL`` or ``SERVER_NAME``
        outside debug mode; the account pages answer it with HTTP 503.
    """
    base = check_site_url(current_app._get_current_object())  # type: ignore[attr-defined]
    parts = urlsplit(url_for(endpoint, **values))
    return f"{base}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def send_email(template: str, to: str, subject: str, **context: t.Any) -> None:
    """Render ``rivo/email/<template>.txt`` and ``.html`` and send them to ``to``.

    In debug mode with no ``MAIL_SERVER`` configured, the email is written to
    the log instead, so a newcomer can follow its links.

    :raises MailError: if the mail server refused or could not be reached.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    context.setdefault("site_name", app.config["RIVO_SITE_NAME"])
    text = render_template(f"rivo/email/{template}.txt", **context)
    html = render_template(f"rivo/email/{template}.html", **context)
    if app.debug and not app.config.get("MAIL_SERVER"):
        app.logger.warning(
            "No MAIL_SERVER is set; this email to %s was not sent:\nSubject: %s\n\n%s",
            to,
            subject,
            text,
        )
        return
    sender = app.config.get("MAIL_DEFAULT_SENDER") or (
        app.config["RIVO_SITE_NAME"],
        f"noreply@{urlsplit(site_url(app) or DEBUG_URL).hostname}",
    )
    message = Message(subject, recipients=[to], body=text, html=html, sender=sender)
    if app.extensions.get(OWN_MAIL) or "mail" not in app.extensions:
        # Flask-Mail reads MAIL_* once; reread them, as config may come late.
        app.extensions[OWN_MAIL] = True
        app.extensions["mail"] = Mail().init_mail(app.config, app.debug, app.testing)
    mail = app.extensions["mail"]
    try:
        mail.send(message)
    except (smtplib.SMTPException, OSError, UnicodeError) as error:
        app.logger.error("Could not send email to %s: %s", to, error)
        raise MailError(str(error)) from error

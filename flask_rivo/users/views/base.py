"""The ``rivo_users`` blueprint, and what its views share."""

from __future__ import annotations

import math
import typing as t

from flask import Blueprint
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from werkzeug.exceptions import HTTPException

from ...exceptions import ConfigError
from ...i18n import gettext as _
from ...i18n import gettext_noop
from ...i18n import render_template
from .. import humanize
from ..errors import fallback_page
from ..shared import spend_client_budget
from ..state import users_state
from ..throttle import LOCKED

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from flask_wtf import FlaskForm
    from werkzeug import Response

    from ..models import UserChangedError

bp = Blueprint(
    "rivo_users",
    __name__,
    template_folder="../../templates",
    static_folder="../../static",
    static_url_path="/rivo-static",
)
# The account pages' own errors (an expired form, a mail server down) in the
# site's layout, unless the application has a page of its own for them.
bp.register_error_handler(HTTPException, fallback_page)
# For every template of the application: durations and moments in words.
bp.add_app_template_filter(humanize.duration, "rivo_duration")
bp.add_app_template_filter(humanize.moment, "rivo_moment")


@bp.before_request
def _refuse_what_is_no_form() -> None:
    """A 400 for a body Flask-WTF would hand the forms as something other
    than text fields.

    Flask-WTF takes a JSON body for the form's fields, and a multipart
    body's files beside its text fields. A JSON body that is not an object
    of text fields (a list, a number, a field that is a number or an
    object), or a file part, whatever its name (no account form takes a
    file), would reach WTForms' validators as an object they fail on with a
    ``TypeError``, before the CSRF check: bad input is a 400, never a 500.
    A malformed body is Flask's 400 already.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.files:
        abort(400)
    if not request.is_json:
        return
    body = request.get_json(silent=True)
    if body is None:
        return
    if not isinstance(body, dict) or not all(map(_is_field, body.values())):
        abort(400)


def _is_field(value: object) -> bool:
    """Whether ``value`` is what a form field takes: text, or a list of it."""
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, str)


#: Shown when a form's CSRF token is missing or stale.
FORM_EXPIRED = gettext_noop("The form expired. Open the link from your email again.")
#: Shown when an email could not be sent: the request changed nothing.
MAIL_DOWN = gettext_noop(
    "We could not send you an email just now. Please try again in a few minutes."
)


def changed_meanwhile(error: UserChangedError, endpoint: str) -> Response:
    """``endpoint``'s page again, saying that nothing was changed: the
    account changed (a password reset) while the form was handled. A
    session the reset ended lands on the log-in page instead."""
    flash(_(error.description or ""), "error")
    return redirect(url_for(endpoint))


def form_status() -> int:
    """200 for showing a form, 400 for a submitted one with errors."""
    return 400 if request.method == "POST" else 200


def link_form_posted(form: FlaskForm) -> bool:
    """Whether the POST of a page opened from an emailed link validated.

    GET and HEAD (link scanners send both) only show the form: ``False``.
    A missing or stale CSRF token answers 400 (:data:`FORM_EXPIRED`) at
    once; other errors leave the form to be shown again with them.
    """
    if request.method != "POST":
        return False
    if form.validate_on_submit():
        return True
    if form.csrf_token.errors:
        abort(400, description=_(FORM_EXPIRED))
    return False


def over_budget(
    form: FlaskForm, template: str, **context: t.Any
) -> ResponseReturnValue | None:
    """The 429 page for a costly POST past the client's hourly budget, or
    ``None`` when it may go ahead (see :func:`shared.spend_client_budget`)."""
    wait = spend_client_budget()
    if wait <= 0:
        return None
    form.form_errors.append(
        _(
            "Too many requests from your network. Try again in %(wait)s.",
            wait=humanize.wait(max(wait, 60)),
        )
    )
    page = render_template(template, form=form, **context)
    return page, 429, {"Retry-After": str(math.ceil(wait))}


def throttled(wait: float) -> tuple[str, int, dict[str, str]]:
    """The form error, status and ``Retry-After`` of a throttled attempt."""
    if wait == LOCKED:
        return (
            _(
                "This account takes no more attempts from new browsers after"
                " too many failed ones. Log in from a browser you used before,"
                " or reset your password."
            ),
            429,
            {},
        )
    return (
        _(
            "Too many failed attempts. Try again in %(wait)s.",
            wait=humanize.wait(wait),
        ),
        429,
        {"Retry-After": str(max(1, math.ceil(wait)))},
    )


#: Shown when the site is not set up to email links (no RIVO_EXTERNAL_URL).
NOT_CONFIGURED = gettext_noop(
    "This site cannot send emails yet: it is not set up completely. Please"
    " try again later."
)


@bp.errorhandler(ConfigError)
def not_configured(error: ConfigError) -> ResponseReturnValue:
    """A setting a page needs is missing (such as ``RIVO_EXTERNAL_URL`` for
    an emailed link): HTTP 503, the request's changes dropped, and the log
    says what to set. The check happens here, at the page, so that the
    application and its ``flask`` commands start without mail settings."""
    current_app.logger.error("A page needs a setting: %s", error)
    users_state().store.rollback()
    page = render_template("rivo/unavailable.html", message=_(NOT_CONFIGURED))
    return page, 503

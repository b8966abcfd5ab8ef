"""Getting back in: ``/forgotten-password``, ``/reset-password`` and
``/verify/resend``."""

from __future__ import annotations

import typing as t

from flask import current_app
from flask import flash
from flask import redirect
from flask import request
from flask import url_for

from ...i18n import gettext as _
from ...i18n import render_template
from .. import recovery
from ..forms import EmailForm
from ..forms import ResetPasswordForm
from ..mail import MailError
from ..models import UserChangedError
from ..state import users_state
from .base import bp
from .base import form_status
from .base import link_form_posted
from .base import over_budget

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from werkzeug import Response


def _send(step: t.Callable[[str], None], email: str) -> None:
    """Run a step that emails ``email``; a mail failure changes nothing the
    visitor sees (the page is the same), and is logged by send_email. Nor
    does an account deleted meanwhile (a 409 would tell that there was
    one): what the step wrote of it is gone with it."""
    try:
        step(email)
        users_state().store.commit()
    except MailError:
        users_state().store.rollback()
        current_app.logger.error("The email of %s was not sent", step.__name__)
    except UserChangedError:
        pass  # rolled back by the store


def _email_page(step: t.Callable[[str], None], template: str) -> ResponseReturnValue:
    """The one-address form of ``template``: every address gets the same page."""
    form = EmailForm()
    if form.validate_on_submit():
        refused = over_budget(form, template)
        if refused is not None:
            return refused
        email = form.email.normalized  # type: ignore[attr-defined]
        _send(step, email)
        return render_template("rivo/email_sent.html", email=email)
    return render_template(template, form=form), form_status()


@bp.route("/forgotten-password", methods=["GET", "POST"])
def forgotten_password() -> ResponseReturnValue:
    return _email_page(recovery.forgotten_password, "rivo/forgotten_password.html")


@bp.route("/verify/resend", methods=["GET", "POST"])
def resend_verification() -> ResponseReturnValue:
    return _email_page(recovery.resend_verification, "rivo/verify_resend.html")


def _private(response: Response) -> Response:
    """No Referer may carry a reset token off the page, and no cache keep it."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/reset-password", methods=["GET", "POST"])
def reset_password() -> ResponseReturnValue:
    if request.method != "POST" and "token" in request.args:
        # From the emailed link (a scanner's GET or HEAD included): nothing is
        # used; the token moves into the session and out of the address bar.
        opened = request.args["token"]
        if recovery.user_for_reset(opened) is None:
            return _private(_dead_link())
        recovery.keep_reset_token(opened)
        return _private(redirect(url_for("rivo_users.reset_password")))
    token = recovery.kept_reset_token()
    user = recovery.user_for_reset(token)
    if user is None:
        return _private(_dead_link())
    form = ResetPasswordForm()
    form.context_names = [user.email]
    if link_form_posted(form):
        refused = over_budget(form, "rivo/reset_password.html", user=user)
        if refused is not None:
            return refused
        outcome = recovery.reset_password(token, form.password.data or "")
        if outcome is recovery.ResetOutcome.DEAD:
            return _private(_dead_link())
        users_state().store.commit()
        if outcome is recovery.ResetOutcome.TWO_FACTOR:
            flash(_("Your password is changed. Enter a code to log in."), "success")
            return _private(redirect(url_for("rivo_users.two_factor_login")))
        flash(_("Your password is changed, and you are logged in."), "success")
        return _private(redirect(users_state().settings().login_redirect))
    page = render_template("rivo/reset_password.html", form=form, user=user)
    return _private(current_app.make_response((page, form_status())))


def _dead_link() -> Response:
    page = render_template("rivo/link_invalid.html", kind="reset")
    return current_app.make_response((page, 400))

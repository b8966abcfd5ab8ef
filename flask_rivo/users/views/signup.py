"""Sign-up and confirming the address: ``/signup``, ``/verify``."""

from __future__ import annotations

import contextlib
import typing as t

from flask import flash
from flask import redirect
from flask import request
from flask import url_for

from ...i18n import gettext as _
from ...i18n import render_template
from .. import accounts
from ..forms import SignupForm
from ..forms import VerifyForm
from ..mail import MailError
from ..models import UserConflictError
from ..state import users_state
from .base import MAIL_DOWN
from .base import bp
from .base import form_status
from .base import link_form_posted
from .base import over_budget
from .base import throttled

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    form = SignupForm()
    if form.validate_on_submit():
        refused = over_budget(form, "rivo/signup.html")
        if refused is not None:
            return refused
        email = form.email.normalized  # type: ignore[attr-defined]
        try:
            accounts.sign_up(email, form.password.data or "")
        except MailError:
            users_state().store.rollback()
            # The form again, as typed (but the passwords), with the reason.
            form.form_errors.append(_(MAIL_DOWN))
            return render_template("rivo/signup.html", form=form), 503
        # A parallel sign-up of the same address made the account first; its
        # email is on the way, so this one answers as if it had.
        with contextlib.suppress(UserConflictError):
            users_state().store.commit()
        return render_template("rivo/signup_done.html", email=email)
    return render_template("rivo/signup.html", form=form), form_status()


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    form = VerifyForm()
    token = form.token.data if request.method == "POST" else request.args.get("token")
    link, user = accounts.verification_link(token)
    if link is accounts.Link.USED:
        return render_template("rivo/link_used.html"), 400
    if user is None:
        return render_template("rivo/link_invalid.html"), 400
    if link_form_posted(form):
        refused = over_budget(form, "rivo/verify.html", user=user)
        if refused is not None:
            return refused
        changing = user.pending_email is not None
        outcome, wait = accounts.confirm(token, form.password.data or "")
        if outcome is accounts.ConfirmOutcome.OK:
            users_state().store.commit()
            flash(
                _("Your new email address is confirmed.")
                if changing
                else _("Your email address is confirmed. Welcome!"),
                "success",
            )
            return redirect(users_state().settings().login_redirect)
        if outcome is accounts.ConfirmOutcome.TWO_FACTOR:
            users_state().store.commit()
            flash(
                _("Your new email address is confirmed. Enter a code to log in."),
                "success",
            )
            return redirect(url_for("rivo_users.two_factor_login"))
        if outcome is accounts.ConfirmOutcome.DEAD:
            return render_template("rivo/link_invalid.html"), 400
        if outcome is accounts.ConfirmOutcome.TAKEN:
            return render_template("rivo/address_taken.html"), 400
        error, status, headers = _confirm_error(outcome, wait, user)
        form.form_errors.append(error)
        page = render_template("rivo/verify.html", form=form, user=user)
        return page, status, headers
    form.token.data = token
    page = render_template("rivo/verify.html", form=form, user=user)
    return page, form_status()


def _confirm_error(
    outcome: accounts.ConfirmOutcome, wait: float, user: t.Any
) -> tuple[str, int, dict[str, str]]:
    if outcome is accounts.ConfirmOutcome.THROTTLED:
        return throttled(wait)
    if user.pending_email:
        return _("This is not the password of your account."), 400, {}
    return (
        _(
            "This is not the password this account was signed up with. If you"
            " do not know it, sign up again with this address to choose one."
        ),
        400,
        {},
    )

"""The ``rivo_users`` blueprint: one thin view per step of each workflow."""

from __future__ import annotations

import contextlib
import math
import typing as t

from flask import Blueprint
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from . import accounts
from .auth import current_user
from .auth import logout_user
from .auth import safe_next
from .forms import LoginForm
from .forms import LogoutForm
from .forms import SignupForm
from .forms import VerifyForm
from .mail import MailError
from .models import UserConflictError
from .state import users_state
from .throttle import LOCKED

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from flask_wtf import FlaskForm

bp = Blueprint(
    "rivo_users",
    __name__,
    template_folder="../templates",
    static_folder="../static",
    static_url_path="/rivo-static",
)

#: Shown when a form's CSRF token is missing or stale.
FORM_EXPIRED = "The form expired. Open the link from your email again."
#: Shown when an email could not be sent: the request changed nothing.
MAIL_DOWN = (
    "We could not send you an email just now. Please try again in a few minutes."
)


def _form_status() -> int:
    """200 for showing a form, 400 for a submitted one with errors."""
    return 400 if request.method == "POST" else 200


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    form = SignupForm()
    if form.validate_on_submit():
        refused = _over_budget(form, "rivo/signup.html")
        if refused is not None:
            return refused
        email = form.email.normalized  # type: ignore[attr-defined]
        try:
            accounts.sign_up(email, form.password.data or "")
        except MailError:
            users_state().store.rollback()
            abort(503, description=MAIL_DOWN)
        # A parallel sign-up of the same address made the account first; its
        # email is on the way, so this one answers as if it had.
        with contextlib.suppress(UserConflictError):
            users_state().store.commit()
        return render_template("rivo/signup_done.html", email=email)
    return render_template("rivo/signup.html", form=form), _form_status()


@bp.route("/verify", methods=["GET", "POST"])
def verify() -> ResponseReturnValue:
    form = VerifyForm()
    token = form.token.data if request.method == "POST" else request.args.get("token")
    link, user = accounts.verification_link(token)
    if link is accounts.Link.USED:
        return render_template("rivo/link_used.html"), 400
    if user is None:
        return render_template("rivo/link_invalid.html"), 400
    # GET and HEAD (link scanners send both) only show the form.
    if request.method == "POST":
        if not form.validate_on_submit():
            if form.csrf_token.errors:
                abort(400, description=FORM_EXPIRED)
        else:
            refused = _over_budget(form, "rivo/verify.html", user=user)
            if refused is not None:
                return refused
            outcome, wait = accounts.confirm(token, form.password.data or "")
            if outcome is accounts.ConfirmOutcome.OK:
                users_state().store.commit()
                flash("Your email address is confirmed. Welcome!", "success")
                return redirect(users_state().settings().login_redirect)
            if outcome is accounts.ConfirmOutcome.DEAD:
                return render_template("rivo/link_invalid.html"), 400
            error, status, headers = _confirm_error(outcome, wait, user)
            form.form_errors.append(error)
            page = render_template("rivo/verify.html", form=form, user=user)
            return page, status, headers
    form.token.data = token
    page = render_template("rivo/verify.html", form=form, user=user)
    return page, _form_status()


def _confirm_error(
    outcome: accounts.ConfirmOutcome, wait: float, user: t.Any
) -> tuple[str, int, dict[str, str]]:
    if outcome is accounts.ConfirmOutcome.THROTTLED:
        return _throttled(wait)
    if user.pending_email:
        return "This is not the password of your account.", 400, {}
    return (
        "This is not the password this account was signed up with. If you do"
        " not know it, sign up again with this address to choose one.",
        400,
        {},
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        outcome, wait = accounts.log_in(
            form.email.normalized,  # type: ignore[attr-defined]
            form.password.data or "",
            remember=bool(form.remember.data),
        )
        if outcome is accounts.LoginOutcome.OK:
            return redirect(next_url or users_state().settings().login_redirect)
        error, status, headers = _login_error(outcome, wait)
        form.form_errors.append(error)
        page = render_template("rivo/login.html", form=form, next=next_url)
        return page, status, headers
    page = render_template("rivo/login.html", form=form, next=next_url)
    return page, _form_status()


def _login_error(
    outcome: accounts.LoginOutcome, wait: float
) -> tuple[str, int, dict[str, str]]:
    if outcome is accounts.LoginOutcome.THROTTLED:
        return _throttled(wait)
    if outcome is accounts.LoginOutcome.INACTIVE:
        return "This account is closed.", 400, {}
    # Also for an account whose address is not confirmed: see accounts.log_in.
    return (
        "The email address or the password is wrong, or the address is not"
        " confirmed yet.",
        400,
        {},
    )


def _over_budget(
    form: FlaskForm, template: str, **context: t.Any
) -> ResponseReturnValue | None:
    """The 429 page for a costly POST past the client's hourly budget, or
    ``None`` when it may go ahead (see :func:`accounts.spend_client_budget`)."""
    wait = accounts.spend_client_budget()
    if wait <= 0:
        return None
    seconds = math.ceil(wait)
    minutes = math.ceil(seconds / 60)
    unit = "minute" if minutes == 1 else "minutes"
    form.form_errors.append(
        f"Too many requests from your network. Try again in {minutes} {unit}."
    )
    page = render_template(template, form=form, **context)
    return page, 429, {"Retry-After": str(seconds)}


def _throttled(wait: float) -> tuple[str, int, dict[str, str]]:
    """The form error, status and ``Retry-After`` of a throttled attempt."""
    if wait == LOCKED:
        return (
            "This account takes no more attempts from new browsers after too"
            " many failed ones. Log in from a browser you used before, or reset"
            " your password.",
            429,
            {},
        )
    seconds = max(1, math.ceil(wait))
    unit = "second" if seconds == 1 else "seconds"
    return (
        f"Too many failed attempts. Try again in {seconds} {unit}.",
        429,
        {"Retry-After": str(seconds)},
    )


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    if not LogoutForm().validate_on_submit():
        abort(400, description="The log-out form expired. Please try again.")
    was_logged_in = current_user.is_authenticated
    logout_user()
    if was_logged_in:
        flash("You are logged out.", "success")
    target = users_state().settings().logout_redirect
    return redirect(target or url_for("rivo_users.login"))

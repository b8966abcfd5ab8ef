"""The TOTP second factor: ``/two-factor`` (set up, turn off, new recovery
codes) and ``/login/two-factor`` (the second page of a log-in)."""

from __future__ import annotations

import typing as t

from flask import flash
from flask import make_response
from flask import redirect
from flask import request
from flask import url_for

from ...i18n import gettext as _
from ...i18n import render_template
from .. import halfway
from .. import totp
from .. import two_factor
from ..auth import fresh_login_required
from ..auth import logged_in_user
from ..auth import safe_next
from ..forms import RecoveryCodesForm
from ..forms import TwoFactorForm
from ..forms import TwoFactorLoginForm
from ..models import UserChangedError
from ..state import users_state
from ..throttle import LOCKED
from .base import bp
from .base import changed_meanwhile
from .base import form_status
from .base import throttled
from .login import LOGGED_IN

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from flask_wtf import FlaskForm

    from ..models import User

Outcome = two_factor.Outcome


@bp.route("/two-factor", methods=["GET", "POST"], endpoint="two_factor")
@fresh_login_required
def two_factor_page() -> ResponseReturnValue:
    user = logged_in_user()
    try:
        return _two_factor_answer(user)
    except UserChangedError as changed:
        # Its password reset meanwhile: this session has ended with it.
        return changed_meanwhile(changed, "rivo_users.two_factor")


def _two_factor_answer(user: User) -> ResponseReturnValue:
    if request.method == "POST" and request.form.get("action") == "regenerate":
        return _regenerate(user)
    form = TwoFactorForm()
    if not form.validate_on_submit():
        return _page(user, form=form), form_status()
    code, password = form.code.data or "", form.password.data or ""
    if two_factor.is_on(user):
        outcome, wait = two_factor.disable(user, password, code)
        if outcome is Outcome.OK:
            flash(
                _("The second factor is off. Your other sessions have ended."),
                "success",
            )
            return redirect(url_for("rivo_users.two_factor"))
        return _refused(user, form, outcome, wait)
    outcome, wait, codes = two_factor.enable(user, password, code)
    if outcome is Outcome.OK:
        return _codes(codes, first=True)
    return _refused(user, form, outcome, wait)


def _regenerate(user: User) -> ResponseReturnValue:
    form = RecoveryCodesForm()
    if not form.validate_on_submit():
        return _page(user, codes_form=form), 400
    outcome, wait, codes = two_factor.regenerate(user, form.password.data or "")
    if outcome is Outcome.OK:
        return _codes(codes, first=False)
    return _refused(user, form, outcome, wait, codes_form=True)


def _refused(
    user: User,
    form: FlaskForm,
    outcome: two_factor.Outcome,
    wait: float,
    *,
    codes_form: bool = False,
) -> ResponseReturnValue:
    """The page again, with what was wrong."""
    headers: dict[str, str] = {}
    status = 400
    if outcome is Outcome.THROTTLED:
        error, status, headers = throttled(wait)
        form.form_errors.append(error)
    elif outcome is Outcome.WRONG_PASSWORD:
        form.password.errors.append(_("This is not your password."))
    elif outcome is Outcome.WRONG_CODE:
        form.code.errors.append(
            _("This code is not right, or it was used already. Try the next one.")
        )
    else:
        form.form_errors.append(_("The page expired. Please start again."))
    page = _page(user, **({"codes_form": form} if codes_form else {"form": form}))
    return page, status, headers


def _page(
    user: User,
    *,
    form: TwoFactorForm | None = None,
    codes_form: RecoveryCodesForm | None = None,
) -> str:
    """The settings page: set up (QR code, secret) or turn off."""
    form = form or TwoFactorForm(formdata=None)
    codes_form = codes_form or RecoveryCodesForm(formdata=None)
    if two_factor.is_on(user):
        return render_template(
            "rivo/two_factor.html",
            form=form,
            codes_form=codes_form,
            on=True,
            since=user.two_factor_since,
            left=two_factor.codes_left(user),
        )
    form.code.label.text = _("The 6-digit code your app shows")
    secret = two_factor.setup_secret(user)
    uri = totp.provisioning_uri(secret, user.email, users_state().settings().site_name)
    return render_template(
        "rivo/two_factor.html",
        form=form,
        on=False,
        qr=totp.qr_svg(uri, _("QR code to scan with your authenticator app")),
        secret=totp.grouped(secret),
        uri=uri,
    )


def _codes(codes: list[str], *, first: bool) -> ResponseReturnValue:
    """The recovery codes, shown this once: never cached, never stored."""
    response = make_response(
        render_template("rivo/two_factor_codes.html", codes=codes, first=first)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/login/two-factor", methods=["GET", "POST"])
def two_factor_login() -> ResponseReturnValue:
    next_url = safe_next(request.args.get("next"))
    form = TwoFactorLoginForm()
    if form.validate_on_submit():
        outcome, wait = two_factor.second_step(form.code.data or "")
        if outcome is Outcome.OK:
            flash(_(LOGGED_IN), "success")
            return redirect(next_url or users_state().settings().login_redirect)
        if outcome is Outcome.THROTTLED:
            error, status, headers = throttled(wait)
            if wait == LOCKED:
                # Not throttled()'s advice: a password reset does not lift
                # the lock on codes (the mailbox is not the phone).
                error = _(
                    "This account takes no more codes from new browsers after"
                    " too many wrong ones. Log in from a browser you used"
                    " before, or ask the site to remove your second factor."
                )
            form.form_errors.append(error)
            return _login_page(form, next_url), status, headers
        if outcome is Outcome.WRONG_CODE:
            form.code.errors.append(  # type: ignore[attr-defined]
                _("This code is not right, or it was used already.")
            )
            return _login_page(form, next_url), 400
        return _start_again(next_url)
    if halfway.pending() is None:
        return _start_again(next_url)
    return _login_page(form, next_url), form_status()


def _login_page(form: TwoFactorLoginForm, next_url: str | None) -> str:
    return render_template("rivo/two_factor_login.html", form=form, next=next_url)


def _start_again(next_url: str | None) -> ResponseReturnValue:
    """No log-in waits for a code here: back to the password."""
    flash(
        _("Your log-in took too long, or it was not started. Please log in again."),
        "info",
    )
    return redirect(url_for("rivo_users.login", next=next_url))

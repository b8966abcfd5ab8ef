"""Logging in, and re-authenticating, with a passkey.

* ``POST /login/passkey/options`` (``rivo_users.passkey_login_options``):
  authentication options for the log-in page, for anybody (no account is
  named: the browser offers its discoverable passkeys for the site);
* ``POST /login/passkey`` (``rivo_users.passkey_login``): the assertion
  (``credential``, ``remember``; query ``next``) logs in, counting as both
  factors, or shows the log-in page again with the error;
* ``POST /reauthenticate/passkey/options``
  (``rivo_users.passkey_reauthenticate_options``): options listing the
  logged-in user's passkeys;
* ``POST /reauthenticate/passkey`` (``rivo_users.passkey_reauthenticate``):
  the assertion (``credential``; query ``next``) confirms the log-in, as the
  password does on ``/reauthenticate``.
"""

from __future__ import annotations

import typing as t

from flask import abort
from flask import flash
from flask import redirect
from flask import request

from ...i18n import gettext as _
from ...i18n import render_template
from .. import passkey_login
from .. import passkeys as ceremonies
from ..auth import logged_in_user
from ..auth import login_required
from ..auth import safe_next
from ..forms import LoginForm
from ..forms import ReauthenticateForm
from ..passkey_forms import PasskeyLoginForm
from ..passkey_login import PasskeyLogin
from ..state import users_state
from .base import bp
from .base import throttled
from .login import LOGGED_IN
from .passkeys import PAGE_EXPIRED
from .passkeys import check_csrf_header
from .passkeys import options_response

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.route("/login/passkey/options", methods=["POST"])
def passkey_login_options() -> ResponseReturnValue:
    """Authentication options for ``navigator.credentials.get()``."""
    check_csrf_header()
    return options_response(ceremonies.authentication_options())


@bp.route("/login/passkey", methods=["POST"], endpoint="passkey_login")
def passkey_login_view() -> ResponseReturnValue:
    """The assertion from the log-in page: logs in, or shows the page again."""
    form = _posted()
    if form is None:
        return _login_page(_missing(), 400, {})
    outcome, wait = passkey_login.log_in_with_passkey(
        form.credential.data or "", remember=bool(form.remember.data)
    )
    if outcome is PasskeyLogin.OK:
        flash(_(LOGGED_IN), "success")
        return redirect(_landing())
    return _login_page(*_error(outcome, wait))


@bp.route("/reauthenticate/passkey/options", methods=["POST"])
@login_required
def passkey_reauthenticate_options() -> ResponseReturnValue:
    """Options for ``navigator.credentials.get()`` with the user's passkeys."""
    check_csrf_header()
    return options_response(ceremonies.authentication_options(logged_in_user()))


@bp.route("/reauthenticate/passkey", methods=["POST"])
@login_required
def passkey_reauthenticate() -> ResponseReturnValue:
    """The assertion from ``/reauthenticate``: on to ``next``, or the page again."""
    form = _posted()
    if form is None:
        return _reauth_page(_missing(), 400, {})
    user = logged_in_user()
    outcome, wait = passkey_login.reauthenticate_with_passkey(
        user, form.credential.data or ""
    )
    if outcome is PasskeyLogin.OK:
        return redirect(_landing())
    return _reauth_page(*_error(outcome, wait))


def _posted() -> PasskeyLoginForm | None:
    """The posted assertion form, or ``None`` if it has no assertion; a
    missing or stale CSRF token is a 400."""
    form = PasskeyLoginForm()
    if form.validate_on_submit():
        return form
    if form.csrf_token.errors:
        abort(400, description=PAGE_EXPIRED)
    return None


def _missing() -> str:
    return _("The passkey answer was missing. Try again.")


def _landing() -> str:
    return (
        safe_next(request.args.get("next")) or users_state().settings().login_redirect
    )


def _error(outcome: PasskeyLogin, wait: float) -> tuple[str, int, dict[str, str]]:
    """The form error, status and headers of a failed passkey assertion."""
    if outcome is PasskeyLogin.THROTTLED:
        return throttled(wait)
    if outcome is PasskeyLogin.EXPIRED:
        message = _("That took too long, or was done twice. Try again.")
    elif outcome is PasskeyLogin.UNKNOWN:
        message = _(
            "This passkey is not known here: it may have been removed. Log in"
            " with your email address and password."
        )
    else:
        message = _("The passkey could not be checked. Try again.")
    return message, 400, {}


def _login_page(
    error: str, status: int, headers: dict[str, str]
) -> ResponseReturnValue:
    form = LoginForm(formdata=None)
    form.form_errors.append(error)
    next_url = safe_next(request.args.get("next"))
    page = render_template("rivo/login.html", form=form, next=next_url)
    return page, status, headers


def _reauth_page(
    error: str, status: int, headers: dict[str, str]
) -> ResponseReturnValue:
    form = ReauthenticateForm(formdata=None)
    form.form_errors.append(error)
    next_url = safe_next(request.args.get("next"))
    page = render_template(
        "rivo/reauthenticate.html", form=form, next=next_url, user=logged_in_user()
    )
    return page, status, headers

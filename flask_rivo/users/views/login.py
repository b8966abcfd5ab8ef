"""Log-in and log-out: ``/login``, ``/logout``."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for

from ...i18n import gettext as _
from ...i18n import gettext_noop
from ...i18n import render_template
from .. import accounts
from ..auth import current_user
from ..auth import logout_user
from ..auth import safe_next
from ..forms import LoginForm
from ..forms import LogoutForm
from ..state import users_state
from .base import bp
from .base import form_status
from .base import throttled

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


#: Flashed on the page a log-in lands on.
LOGGED_IN = gettext_noop("You are logged in.")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    landing = next_url or users_state().settings().login_redirect
    # Logged in already: on to where a log-in would have led. A POST still
    # logs in (as someone else, say); a landing page that is this page
    # itself (a misconfiguration) shows the form, not a redirect loop.
    if (
        request.method == "GET"
        and current_user.is_authenticated
        and urlsplit(landing).path != url_for("rivo_users.login")
    ):
        return redirect(landing)
    if form.validate_on_submit():
        outcome, wait = accounts.log_in(
            form.email.normalized,  # type: ignore[attr-defined]
            form.password.data or "",
            remember=bool(form.remember.data),
        )
        if outcome is accounts.LoginOutcome.OK:
            flash(_(LOGGED_IN), "success")
            return redirect(landing)
        if outcome is accounts.LoginOutcome.TWO_FACTOR:
            return redirect(url_for("rivo_users.two_factor_login", next=next_url))
        error, status, headers = _login_error(outcome, wait)
        form.form_errors.append(error)
        page = render_template("rivo/login.html", form=form, next=next_url)
        return page, status, headers
    page = render_template("rivo/login.html", form=form, next=next_url)
    return page, form_status()


def _login_error(
    outcome: accounts.LoginOutcome, wait: float
) -> tuple[str, int, dict[str, str]]:
    if outcome is accounts.LoginOutcome.THROTTLED:
        return throttled(wait)
    # Also for an account whose address is not confirmed, or that is closed:
    # see accounts.log_in.
    return (
        _(
            "The email address or the password is wrong, or the address is not"
            " confirmed yet."
        ),
        400,
        {},
    )


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    if not LogoutForm().validate_on_submit():
        abort(400, description=_("The log-out form expired. Please try again."))
    was_logged_in = current_user.is_authenticated
    logout_user()
    if was_logged_in:
        flash(_("You are logged out."), "success")
    target = users_state().settings().logout_redirect
    return redirect(target or url_for("rivo_users.login"))

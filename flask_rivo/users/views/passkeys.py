"""Passkeys: ``/passkeys`` (list, add, remove) and logging in with one.

Each WebAuthn ceremony is two requests: a JSON endpoint hands the browser
its options (and keeps the challenge in the session), then the page's form
posts the browser's answer in a hidden field, so that errors show on the
page as any form's do and no page needs an inline script:

* ``POST /passkeys/options`` (``rivo_users.passkey_options``): registration
  options, for a logged-in user;
* ``POST /passkeys``: add (``name``, ``credential``) or remove (``remove``);
* ``POST /login/passkey/options`` (``rivo_users.passkey_login_options``):
  authentication options, for anybody;
* ``POST /login/passkey`` (``rivo_users.passkey_login``): the assertion
  (``credential``, ``remember``; query ``next``).

The JSON endpoints take the CSRF token in the ``X-CSRFToken`` header.
"""

from __future__ import annotations

import typing as t
from datetime import datetime
from datetime import timezone

from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from ...i18n import gettext as _
from .. import passkey_login
from .. import passkeys as ceremonies
from ..agents import describe
from ..auth import logged_in_user
from ..auth import login_required
from ..auth import safe_next
from ..forms import LoginForm
from ..humanize import ago
from ..humanize import moment as in_words
from ..passkey_forms import PasskeyAddForm
from ..passkey_forms import PasskeyLoginForm
from ..passkey_forms import PasskeyRemoveForm
from ..shared import moment
from ..state import users_state
from .base import bp
from .base import throttled
from .login import LOGGED_IN

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from ..passkeys import Passkey


def _options_response(body: str) -> ResponseReturnValue:
    return body, 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}


def _check_csrf_header() -> None:
    """Refuse a JSON POST without the page's CSRF token (a 400)."""
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError:
        abort(400, description=_("The page expired. Reload it and try again."))


@bp.route("/passkeys", methods=["GET", "POST"], endpoint="passkeys")
@login_required
def passkeys_page() -> ResponseReturnValue:
    add = PasskeyAddForm()
    if request.method == "POST" and "remove" in request.form:
        return _remove(add)
    if request.method == "POST":
        if add.validate_on_submit():
            return _add(add)
        if add.csrf_token.errors:
            abort(400, description=_("The page expired. Reload it and try again."))
        return _page(add, status=400)
    add.name.data = describe(request.headers.get("User-Agent"))
    return _page(add)


def _add(form: PasskeyAddForm) -> ResponseReturnValue:
    user = logged_in_user()
    try:
        added = ceremonies.register(
            user, form.credential.data or "", form.name.data or ""
        )
    except ceremonies.PasskeyError as error:
        users_state().store.rollback()
        form.form_errors.append(_registration_error(error.reason))
        return _page(form, status=400)
    users_state().store.commit()
    passkey_login.notify_change(user, "passkey_added", added.name)
    flash(_("The passkey “%(name)s” is added.", name=added.name), "success")
    return redirect(url_for("rivo_users.passkeys"))


def _registration_error(reason: str) -> str:
    if reason == "challenge":
        return _("Adding the passkey took too long, or was done twice. Try again.")
    if reason == "duplicate":
        return _("This passkey is on your account already.")
    if reason == "full":
        return _(
            "Your account has %(count)d passkeys, the most it may hold. Remove one"
            " first.",
            count=ceremonies.MAX_PASSKEYS,
        )
    return _("The passkey could not be checked. Try again.")


def _remove(add: PasskeyAddForm) -> ResponseReturnValue:
    form = PasskeyRemoveForm()
    if not form.validate_on_submit():
        abort(400, description=_("The page expired. Reload it and try again."))
    user = logged_in_user()
    gone = ceremonies.remove(user, form.remove.data or "")
    if gone is None:
        add.form_errors.append(_("That passkey is not on your account (any more)."))
        return _page(add, status=404)
    users_state().store.commit()
    passkey_login.notify_change(user, "passkey_removed", gone.name)
    flash(_("The passkey “%(name)s” is removed.", name=gone.name), "success")
    return redirect(url_for("rivo_users.passkeys"))


def _page(form: PasskeyAddForm, status: int = 200) -> ResponseReturnValue:
    now = moment()
    rows = [_row(key, now) for key in ceremonies.passkeys_of(logged_in_user())]
    return render_template("rivo/passkeys.html", form=form, passkeys=rows), status


def _row(key: Passkey, now: datetime) -> dict[str, t.Any]:
    """What the page shows of one passkey, in words."""

    def when(stamp: float | None) -> str | None:
        if stamp is None:
            return None
        moment_ = datetime.fromtimestamp(stamp, tz=timezone.utc)
        return f"{in_words(moment_)} ({ago(now - moment_)})"

    return {
        "id": key.id,
        "name": key.name,
        "added": when(key.created_at),
        "last_used": when(key.last_used_at),
        "synced": key.backed_up,
    }


@bp.route("/passkeys/options", methods=["POST"])
@login_required
def passkey_options() -> ResponseReturnValue:
    """Registration options for ``navigator.credentials.create()``."""
    _check_csrf_header()
    body = ceremonies.registration_options(logged_in_user())
    users_state().store.commit()  # the user handle, made for the first passkey
    return _options_response(body)


@bp.route("/login/passkey/options", methods=["POST"])
def passkey_login_options() -> ResponseReturnValue:
    """Authentication options for ``navigator.credentials.get()``."""
    _check_csrf_header()
    return _options_response(ceremonies.authentication_options())


@bp.route("/login/passkey", methods=["POST"], endpoint="passkey_login")
def passkey_login_view() -> ResponseReturnValue:
    """The assertion from the log-in page: logs in, or shows the page again."""
    form = PasskeyLoginForm()
    next_url = safe_next(request.args.get("next"))
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400, description=_("The page expired. Reload it and try again."))
        return _login_page(_("The passkey answer was missing. Try again."), 400, {})
    outcome, wait = passkey_login.log_in_with_passkey(
        form.credential.data or "", remember=bool(form.remember.data)
    )
    if outcome is passkey_login.PasskeyLogin.OK:
        flash(LOGGED_IN, "success")
        return redirect(next_url or users_state().settings().login_redirect)
    if outcome is passkey_login.PasskeyLogin.THROTTLED:
        return _login_page(*throttled(wait))
    if outcome is passkey_login.PasskeyLogin.EXPIRED:
        message = _("Logging in took too long, or was done twice. Try again.")
    elif outcome is passkey_login.PasskeyLogin.UNKNOWN:
        message = _(
            "This passkey is not known here: it may have been removed. Log in"
            " with your email address and password."
        )
    else:
        message = _("The passkey could not be checked. Try again.")
    return _login_page(message, 400, {})


def _login_page(
    error: str, status: int, headers: dict[str, str]
) -> ResponseReturnValue:
    form = LoginForm(formdata=None)
    form.form_errors.append(error)
    next_url = safe_next(request.args.get("next"))
    return render_template("rivo/login.html", form=form, next=next_url), status, headers

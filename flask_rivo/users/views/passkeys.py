"""Passkeys: ``/passkeys`` lists, adds and removes them.

Each WebAuthn ceremony is two requests: a JSON endpoint hands the browser
its options (and keeps the challenge in the session), then the page's form
posts the browser's answer in a hidden field, so that errors show on the
page as any form's do and no page needs an inline script:

* ``POST /passkeys/options`` (``rivo_users.passkey_options``): registration
  options, for a logged-in user;
* ``POST /passkeys``: add (``name``, ``credential``) or remove (``remove``);
* the log-in and re-authentication ceremonies: see :mod:`.passkey_login`.

The JSON endpoints take the CSRF token in the ``X-CSRFToken`` header. Adding
and removing a passkey change how the account can be entered, so the page
asks for the password (or a passkey) again after ``RIVO_REAUTH_WINDOW``.
"""

from __future__ import annotations

import typing as t
from datetime import datetime
from datetime import timezone

from flask import abort
from flask import flash
from flask import redirect
from flask import request
from flask import url_for
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from ...i18n import gettext as _
from ...i18n import lazy_gettext as _l
from ...i18n import render_template
from .. import passkey_login
from .. import passkey_store as records
from .. import passkeys as ceremonies
from ..agents import describe
from ..auth import fresh_login_required
from ..auth import logged_in_user
from ..humanize import ago
from ..humanize import moment as in_words
from ..passkey_forms import PasskeyAddForm
from ..passkey_forms import PasskeyRemoveForm
from ..shared import moment
from ..state import users_state
from .base import bp

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from ..passkey_store import Passkey

#: Shown when a passkey form's CSRF token is missing or stale.
PAGE_EXPIRED = _l("The page expired. Reload it and try again.")


def options_response(body: str) -> ResponseReturnValue:
    """Ceremony options (JSON text), never cached."""
    return body, 200, {"Content-Type": "application/json", "Cache-Control": "no-store"}


def check_csrf_header() -> None:
    """Refuse a JSON POST without the page's CSRF token (a 400)."""
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except ValidationError:
        abort(400, description=PAGE_EXPIRED)


@bp.route("/passkeys", methods=["GET", "POST"], endpoint="passkeys")
@fresh_login_required
def passkeys_page() -> ResponseReturnValue:
    add = PasskeyAddForm()
    if request.method == "POST" and "remove" in request.form:
        return _remove(add)
    if request.method == "POST":
        if add.validate_on_submit():
            return _add(add)
        if add.csrf_token.errors:
            abort(400, description=PAGE_EXPIRED)
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
            count=records.MAX_PASSKEYS,
        )
    return _("The passkey could not be checked. Try again.")


def _remove(add: PasskeyAddForm) -> ResponseReturnValue:
    form = PasskeyRemoveForm()
    if not form.validate_on_submit():
        abort(400, description=PAGE_EXPIRED)
    user = logged_in_user()
    try:
        gone = records.remove(user, form.remove.data or "")
    except records.PasskeysBusyError:
        # Other requests kept changing the passkeys: what the page showed is
        # out of date.
        users_state().store.rollback()
        add.form_errors.append(str(PAGE_EXPIRED))
        return _page(add, status=409)
    if gone is None:
        add.form_errors.append(_("That passkey is not on your account (any more)."))
        return _page(add, status=404)
    passkey_login.end_their_sessions(user, {gone.id})
    passkey_login.notify_change(user, "passkey_removed", gone.name)
    flash(_("The passkey “%(name)s” is removed.", name=gone.name), "success")
    return redirect(url_for("rivo_users.passkeys"))


def _page(form: PasskeyAddForm, status: int = 200) -> ResponseReturnValue:
    now = moment()
    rows = [_row(key, now) for key in records.passkeys_of(logged_in_user())]
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
@fresh_login_required
def passkey_options() -> ResponseReturnValue:
    """Registration options for ``navigator.credentials.create()``."""
    check_csrf_header()
    body = ceremonies.registration_options(logged_in_user())
    users_state().store.commit()  # the user handle, made for the first passkey
    return options_response(body)

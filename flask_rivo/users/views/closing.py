"""Closing an account: ``/close-account``."""

from __future__ import annotations

import typing as t

from flask import flash
from flask import redirect
from flask import url_for

from ...i18n import gettext as _
from ...i18n import render_template
from .. import closing
from ..auth import fresh_login_required
from ..auth import logged_in_user
from ..forms import CloseAccountForm
from ..models import UserChangedError
from .base import bp
from .base import changed_meanwhile
from .base import form_status
from .base import throttled

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.route("/close-account", methods=["GET", "POST"])
@fresh_login_required
def close_account() -> ResponseReturnValue:
    form = CloseAccountForm()
    if form.validate_on_submit():
        user = logged_in_user()
        try:
            outcome, wait = closing.close_account(user, form.password.data or "")
        except UserChangedError as changed:
            # Its password reset meanwhile: this session has ended with it.
            return changed_meanwhile(changed, "rivo_users.close_account")
        if outcome is closing.CloseOutcome.CLOSED:
            flash(_("Your account is closed, and everything in it deleted."), "success")
            return redirect(url_for("rivo_users.login"))
        if outcome is closing.CloseOutcome.THROTTLED:
            error, status, headers = throttled(wait)
        else:
            error, status, headers = _("This is not your password."), 400, {}
        form.form_errors.append(error)
        return render_template("rivo/close_account.html", form=form), status, headers
    return render_template("rivo/close_account.html", form=form), form_status()

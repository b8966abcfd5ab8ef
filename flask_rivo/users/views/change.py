"""Changing the address and the password: ``/change``."""

from __future__ import annotations

import typing as t

from flask import abort
from flask import flash
from flask import redirect
from flask import url_for

from ...i18n import gettext as _
from ...i18n import gettext_noop
from ...i18n import render_template
from .. import changes
from ..auth import current_user
from ..auth import fresh_login_required
from ..forms import ChangeForm
from ..mail import MailError
from ..models import UserChangedError
from ..state import users_state
from .base import MAIL_DOWN
from .base import bp
from .base import changed_meanwhile
from .base import form_status
from .base import throttled

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from ..models import User

#: Shown when the form asks for no change at all.
NOTHING_TO_CHANGE = gettext_noop(
    "Type a new email address or a new password: nothing was changed."
)
#: Shown when the current password is wrong.
WRONG_PASSWORD = gettext_noop("This is not your current password.")


@bp.route("/change", methods=["GET", "POST"])
@fresh_login_required
def change() -> ResponseReturnValue:
    # The user object itself, not the proxy: the workflow hands it to the ORM.
    user = t.cast("User", t.cast("t.Any", current_user)._get_current_object())
    form = ChangeForm(email=user.email)
    if form.validate_on_submit():
        email = form.email.normalized  # type: ignore[attr-defined]
        new_email = None if email == user.email else email
        new_password = form.password.data or None
        if new_email is None and new_password is None:
            form.form_errors.append(_(NOTHING_TO_CHANGE))
            return _page(form, user), 400
        old_email = user.email
        try:
            outcome, wait = changes.change(
                user,
                form.current_password.data or "",
                email=new_email,
                password=new_password,
            )
        except MailError:
            users_state().store.rollback()
            abort(503, description=_(MAIL_DOWN))
        except UserChangedError as changed:
            # Reset or closed meanwhile: the page again, if this session
            # still may see it (a reset ended it).
            return changed_meanwhile(changed, "rivo_users.change")
        if outcome is changes.ChangeOutcome.THROTTLED:
            error, status, headers = throttled(wait)
            form.form_errors.append(error)
            return _page(form, user), status, headers
        if outcome is changes.ChangeOutcome.WRONG_PASSWORD:
            form.current_password.errors.append(_(WRONG_PASSWORD))  # type: ignore[attr-defined]
            return _page(form, user), 400
        if new_password is not None:
            flash(
                _("Your password is changed. Your other sessions have ended."),
                "success",
            )
        if new_email is not None:
            flash(
                _(
                    "We have sent a link to %(new_email)s. Your address changes"
                    " when you follow it and enter your password; until then,"
                    " log in with %(old_email)s.",
                    new_email=new_email,
                    old_email=old_email,
                ),
                "success",
            )
        return redirect(url_for("rivo_users.change"))
    return _page(form, user), form_status()


def _page(form: ChangeForm, user: User) -> str:
    return render_template("rivo/change.html", form=form, user=user)

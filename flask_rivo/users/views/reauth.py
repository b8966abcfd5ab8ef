"""Re-authentication ("sudo mode"): ``/reauthenticate``.

A logged-in user whose log-in is older than ``RIVO_REAUTH_WINDOW`` proves
again that they are who the session says, before a sensitive page
(:func:`~..auth.fresh_login_required`), and goes on to it.
"""

from __future__ import annotations

import typing as t

from flask import redirect
from flask import request

from ...i18n import gettext as _
from ...i18n import render_template
from ..auth import confirm_login
from ..auth import logged_in_user
from ..auth import login_required
from ..auth import safe_next
from ..forms import ReauthenticateForm
from ..shared import password_attempt
from ..state import users_state
from .base import bp
from .base import form_status
from .base import throttled

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.route("/reauthenticate", methods=["GET", "POST"])
@login_required
def reauthenticate() -> ResponseReturnValue:
    form = ReauthenticateForm()
    next_url = safe_next(request.args.get("next"))
    user = logged_in_user()
    headers: dict[str, str] = {}
    status = form_status()
    if form.validate_on_submit():
        right, wait = password_attempt(
            user, form.password.data or "", known_browser=True
        )
        if right:
            confirm_login()
            return redirect(next_url or users_state().settings().login_redirect)
        if wait > 0:
            error, status, headers = throttled(wait)
        else:
            error, status = _("This is not your password."), 400
        form.form_errors.append(error)
    page = render_template(
        "rivo/reauthenticate.html", form=form, next=next_url, user=user
    )
    return page, status, headers

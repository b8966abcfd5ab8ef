"""The user's active sessions: ``/sessions`` lists them and ends them."""

from __future__ import annotations

import re
import typing as t
from datetime import datetime

from flask import abort
from flask import flash
from flask import redirect
from flask import url_for

from ...i18n import gettext as _
from ...i18n import gettext_noop
from ...i18n import ngettext
from ...i18n import render_template
from ...sessions import RivoSessions
from ..agents import describe
from ..agents import where
from ..auth import LOGIN_PASSKEY
from ..auth import current_user
from ..auth import is_fresh
from ..auth import login_required
from ..auth import reauthentication_needed
from ..forms import EndSessionForm
from ..humanize import ago
from ..humanize import moment as in_words
from ..shared import moment
from .base import bp

if t.TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from ...sessions import SessionInfo

#: The shape of a store key: the hex SHA-256 of a session ID.
_KEY = re.compile(r"[0-9a-f]{64}")
#: Shown when the page's CSRF token is missing or stale.
_EXPIRED = gettext_noop(
    "The page expired. Open your sessions again and repeat the click."
)
#: Shown when the session to end is not (or no longer) one of the user's.
_GONE = gettext_noop("That session has ended already, or it is not one of yours.")


@bp.route("/sessions", methods=["GET", "POST"])
@login_required
def sessions() -> ResponseReturnValue:
    form = EndSessionForm()
    if form.is_submitted():
        if not form.validate():
            abort(400, description=_(_EXPIRED))
        if not is_fresh():
            # Listing is harmless; ending sessions is not (a thief of this
            # session would end the owner's others): re-authentication.
            return reauthentication_needed()
        return _end(form)
    return _page(form)


def _end(form: EndSessionForm) -> ResponseReturnValue:
    """End what the button asked for, then show the list again (PRG)."""
    user_id = current_user.get_id()
    assert user_id is not None  # login_required
    if form.others.data:
        ended = RivoSessions().end_user_sessions(user_id, keep_current=True)
        if ended:
            flash(
                ngettext(
                    "Ended %(num)d other session; it is logged out.",
                    "Ended %(num)d other sessions; they are logged out.",
                    ended,
                ),
                "success",
            )
        else:
            flash(_("You had no other sessions."), "success")
        return redirect(url_for("rivo_users.sessions"))
    key = form.key.data or ""
    created = _when(form.created.data)
    if _KEY.fullmatch(key) is None or created is None:
        abort(400, description=_("This is no session of the list."))
    if not RivoSessions().end_user_session(user_id, key, created_at=created):
        return _page(form, error=_(_GONE), status=404)
    flash(_("The session is ended; that browser is logged out."), "success")
    return redirect(url_for("rivo_users.sessions"))


def _when(text: str | None) -> datetime | None:
    """The moment a row's ``created`` field names, if it is one."""
    try:
        found = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def _page(
    form: EndSessionForm, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    user_id = current_user.get_id()
    assert user_id is not None  # login_required
    now = moment()
    rows = [_row(info, now) for info in RivoSessions().user_sessions(user_id)]
    if error is not None:
        form.form_errors.append(error)
    page = render_template("rivo/sessions.html", form=form, sessions=rows)
    return page, status


def _row(info: SessionInfo, now: datetime) -> dict[str, t.Any]:
    """What the page shows of one session, in words."""
    return {
        "key": info.key,
        "created": info.created_at.isoformat(),
        "browser": describe(info.user_agent),
        "address": where(info.address),
        "started": _date(info.created_at, now),
        "last_seen": _date(info.accessed_at, now),
        "current": info.current,
        "passkey": LOGIN_PASSKEY in info.keys,
    }


def _date(when: datetime, now: datetime) -> str:
    """``"May 1, 2024, 2:03 PM UTC (3 hours ago)"``."""
    # TRANSLATORS: a moment, then how long ago it was.
    return _("%(moment)s (%(ago)s)", moment=in_words(when), ago=ago(now - when))

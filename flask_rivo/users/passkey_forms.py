"""The forms of the passkey pages (Flask-WTF: every POST carries a CSRF token).

The WebAuthn answer of the browser travels in the hidden ``credential``
field, as JSON text that :mod:`.passkeys` (py_webauthn) checks.
"""

from __future__ import annotations

import typing as t

from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import StringField
from wtforms.validators import InputRequired
from wtforms.validators import Length

from ..i18n import lazy_gettext
from .passkey_store import NAME_LENGTH

#: The longest ``PublicKeyCredential`` JSON taken: attestation objects with
#: certificate chains run to a few kilobytes.
CREDENTIAL_LENGTH = 32_000


def _l(message: str) -> str:
    """A label translated when shown (WTForms renders it late), typed as
    the ``str`` it stands for."""
    return t.cast("str", lazy_gettext(message))


def _credential() -> HiddenField:
    return HiddenField(validators=[InputRequired(), Length(max=CREDENTIAL_LENGTH)])


class PasskeyAddForm(FlaskForm):
    """Add a passkey: its name, and the browser's registration answer."""

    name = StringField(
        _l("Name of the passkey"),
        validators=[InputRequired(), Length(max=NAME_LENGTH)],
        description=_l("So you can tell your passkeys apart."),
        render_kw={"autocomplete": "off", "maxlength": NAME_LENGTH},
    )
    credential = _credential()


class PasskeyRemoveForm(FlaskForm):
    """Remove one passkey, named by its credential ID."""

    remove = HiddenField(validators=[InputRequired(), Length(max=1400)])


class PasskeyLoginForm(FlaskForm):
    """Log in with a passkey: the browser's assertion."""

    credential = _credential()
    remember = BooleanField()

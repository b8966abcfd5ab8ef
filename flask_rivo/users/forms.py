"""The forms of the account pages (Flask-WTF: every POST carries a CSRF token)."""

from __future__ import annotations

import typing as t

from email_validator import EmailNotValidError
from email_validator import validate_email
from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField
from wtforms import EmailField
from wtforms import HiddenField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import EqualTo
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from ..i18n import gettext as _
from ..i18n import lazy_gettext
from ..i18n import locale
from .passwords import MAX_LENGTH
from .passwords import MIN_LENGTH
from .passwords import reasonable_password

if t.TYPE_CHECKING:
    from wtforms import Field


def _l(message: str, **variables: t.Any) -> str:
    """A label or message translated when shown, in the page's language.

    WTForms turns labels and messages into text only when it shows them,
    so a lazy string (typed as the ``str`` it stands for) is taken as one.
    """
    return t.cast("str", lazy_gettext(message, **variables))


def normalize_email(address: str) -> str:
    """The canonical form of an email address: checked, then lower-cased.

    Letter case is dropped from the whole address, so ``Ann@Example.com``
    and ``ann@example.com`` are one account (and one throttle counter).
    Internationalized domains are fine; a non-ASCII local part is refused,
    since most mail servers (and Flask-Mail) cannot deliver to it.

    :raises ValueError: with a message for the user if it is no address.
    """
    try:
        checked = validate_email(
            address.strip(), check_deliverability=False, allow_smtputf8=False
        )
    except EmailNotValidError as error:
        raise ValueError(str(error)) from error
    return checked.normalized.lower()


class _Email:
    """Validate an address and keep its normalized form on the field."""

    def __call__(self, form: FlaskForm, field: Field) -> None:
        try:
            field.normalized = normalize_email(field.data or "")  # type: ignore[attr-defined]
        except ValueError as error:
            message = _("Enter a valid email address.")
            if locale().language == "en":
                # email_validator says what is wrong, in English only.
                message = f"{message} {error}"
            raise ValidationError(message) from error


#: WTForms' own "This field is required.", in flask_rivo's catalogs.
REQUIRED = _l("This field is required.")


def _required() -> InputRequired:
    return InputRequired(message=REQUIRED)


def _email_field(autocomplete: str) -> EmailField:
    return EmailField(
        _l("Email address"),
        validators=[
            _required(),
            Length(
                max=254,
                message=_l("Use at most %(max_length)d characters.", max_length=254),
            ),
            _Email(),
        ],
        render_kw={"autocomplete": autocomplete, "spellcheck": "false"},
    )


class _NewPassword:
    """Check a new password against NIST SP 800-63B (``reasonable_password``)."""

    def __call__(self, form: FlaskForm, field: Field) -> None:
        names = list(current_app.config["RIVO_PASSWORD_NAMES"])
        names.append(current_app.config["RIVO_SITE_NAME"])
        email = getattr(form, "email", None)
        if email is not None and email.data:
            names.append(str(email.data))
        # Forms without the address (a reset) are given the account's.
        names.extend(getattr(form, "context_names", ()))
        problem = reasonable_password(field.data or "", names)
        if problem is not None:
            raise ValidationError(problem.message)


def _new_password_fields(
    label: str | None = None, *, required: bool = True
) -> tuple[PasswordField, PasswordField]:
    """A new password and its repetition; left empty, ``required=False``
    means "no new password" (the repetition must then be empty too)."""
    password = PasswordField(
        label or _l("Password"),
        validators=[_required() if required else Optional(), _NewPassword()],
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH},
        description=_l(
            "At least %(min_length)d characters. A few unusual words make a"
            " strong one.",
            min_length=MIN_LENGTH,
        ),
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            *([_required()] if required else []),
            EqualTo(
                "password",
                message=_l("The two passwords are not the same."),
            ),
        ],
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH},
    )
    return password, confirm


def _current_password(label: str | None = None) -> PasswordField:
    return PasswordField(
        label or _l("Password"),
        validators=[
            _required(),
            Length(
                max=MAX_LENGTH,
                message=_l(
                    "Use at most %(max_length)d characters.", max_length=MAX_LENGTH
                ),
            ),
        ],
        render_kw={"autocomplete": "current-password"},
    )


class SignupForm(FlaskForm):
    email = _email_field("email")
    password, password_confirm = _new_password_fields()


class LoginForm(FlaskForm):
    email = _email_field("username")
    password = _current_password()
    remember = BooleanField(_l("Stay logged in on this device"))


class TokenForm(FlaskForm):
    """The confirm button of an emailed link: the POST that uses the token."""

    token = HiddenField()


class VerifyForm(TokenForm):
    """Confirming an address takes the account's password with the token."""

    password = _current_password(_l("Your password"))


class LogoutForm(FlaskForm):
    """No fields: only the CSRF token, so no other site can log a user out."""


class EmailForm(FlaskForm):
    """One address: a forgotten password, or a fresh verification link."""

    email = _email_field("email")


class ResetPasswordForm(FlaskForm):
    """A new password, set with an emailed reset link."""

    password, password_confirm = _new_password_fields()


class ReauthenticateForm(FlaskForm):
    """The account's password, again, before a sensitive page."""

    password = _current_password()


class CloseAccountForm(FlaskForm):
    """Closing an account takes its password."""

    password = _current_password(_l("Your password"))


class EndSessionForm(FlaskForm):
    """A button of the sessions page: end one session, or every other one.

    A row's button sends the session's store key (a hash, never a usable
    session ID) and when it began, which survives an ID rotation between
    the listing and the click; the "end all others" button sends ``others``.
    """

    key = HiddenField()
    created = HiddenField()
    others = HiddenField()


class ChangeForm(FlaskForm):
    """Change the address, the password, or both; the current password
    proves it is the account's owner. An empty new password keeps the old
    one; the address as it is keeps it."""

    email = _email_field("email")
    current_password = _current_password(_l("Your current password"))
    password, password_confirm = _new_password_fields(
        _l("New password (leave empty to keep yours)"), required=False
    )


def _code_field(label: str, *, numeric: bool) -> StringField:
    """A one-time code: browsers offer the code from an SMS or app
    (``autocomplete="one-time-code"``), phones show a number pad when only
    digits fit."""
    return StringField(
        label,
        validators=[
            _required(),
            Length(
                max=64,
                message=_l("Use at most %(max_length)d characters.", max_length=64),
            ),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric" if numeric else "text",
            "spellcheck": "false",
            "autocapitalize": "off",
        },
    )


class TwoFactorForm(FlaskForm):
    """Set up or turn off the second factor: a code and the password."""

    code = _code_field(_l("Code from your app, or a recovery code"), numeric=False)
    password = _current_password(_l("Your password"))


class RecoveryCodesForm(FlaskForm):
    """New recovery codes for old ones: the password is enough.

    Sent to ``/two-factor`` with ``action=regenerate``.
    """

    action = HiddenField(default="regenerate")
    password = _current_password(_l("Your password"))


class TwoFactorLoginForm(FlaskForm):
    """The second page of a log-in: a code from the app or a recovery code."""

    code = _code_field(_l("Code from your app, or a recovery code"), numeric=False)

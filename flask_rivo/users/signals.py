"""Signals of the account workflows, sent with the application as sender.

Connect to them as to Flask's own signals::

    from flask_rivo.users.signals import user_logged_in

    @user_logged_in.connect_via(app)
    def audit(app, user, **extra): ...
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A new account was created (``user``); its address is not verified yet.
user_signed_up = _signals.signal("rivo-user-signed-up")
#: An account's address was verified (``user``).
user_verified = _signals.signal("rivo-user-verified")
#: A user logged in (``user``, ``remember``).
user_logged_in = _signals.signal("rivo-user-logged-in")
#: A user logged out (``user``).
user_logged_out = _signals.signal("rivo-user-logged-out")
#: A log-in failed (``email`` as typed, normalized; ``reason``: "password",
#: "unverified", "inactive", "throttled", or "two_factor" for a wrong code).
#: For a passkey ``email`` is ``None`` (none was typed) and ``reason`` one
#: of "throttled", "passkey-challenge", "passkey-unknown" or
#: "passkey-invalid".
user_login_failed = _signals.signal("rivo-user-login-failed")
#: A user added a passkey (``user``, ``name``).
user_passkey_added = _signals.signal("rivo-user-passkey-added")
#: A user removed a passkey (``user``, ``name``).
user_passkey_removed = _signals.signal("rivo-user-passkey-removed")
#: A user set a new password with an emailed reset link (``user``).
user_password_reset = _signals.signal("rivo-user-password-reset")
#: An account is about to be closed and deleted (``user``): delete the
#: application's own data of the user now, in the same database session.
user_closing = _signals.signal("rivo-user-closing")
#: A user turned on a TOTP second factor (``user``).
two_factor_enabled = _signals.signal("rivo-two-factor-enabled")
#: A second factor was turned off (``user``; ``by``: "user" or "admin").
two_factor_disabled = _signals.signal("rivo-two-factor-disabled")
#: A recovery code was used to log in or to turn the second factor off
#: (``user``, ``left``: the codes still unused).
recovery_code_used = _signals.signal("rivo-recovery-code-used")

"""The screenshots of the docs: one recipe per picture, in the order of the
gallery (``docs/pages.rst``).

A recipe takes a :class:`~tour.Tour` (a fresh demo site and browser) and
leaves the page to photograph on screen; ``tests/e2e/test_screenshots.py``
takes the picture. To picture a new page, add a recipe here with the
:func:`shot` decorator (its name is the file name,
``docs/_static/screenshots/<name>.png``, and ``endpoint`` the route it
shows), run ``make screenshots``, and put the picture in the docs: the
completeness test fails until every page of the blueprint has one.
"""

from __future__ import annotations

import typing as t

from tour import FIREFOX
from tour import PASSWORD
from tour import Tour

from flask_rivo.users.models import UserState

#: A new password, for the reset.
NEW_PASSWORD = "otter marimba lantern"


class Shot(t.NamedTuple):
    """One screenshot: its file name, the page it shows, how to get there."""

    name: str
    #: The ``rivo_users`` endpoint shown, or ``None`` for a page of the
    #: site (the home page, the outbox, error pages).
    endpoint: str | None
    recipe: t.Callable[[Tour], None]


SHOTS: list[Shot] = []


def shot(
    name: str, endpoint: str | None
) -> t.Callable[[t.Callable[[Tour], None]], t.Callable[[Tour], None]]:
    """Register the decorated recipe as the screenshot ``name``."""

    def register(recipe: t.Callable[[Tour], None]) -> t.Callable[[Tour], None]:
        assert name not in {s.name for s in SHOTS}, f"two shots named {name}"
        SHOTS.append(Shot(name, endpoint, recipe))
        return recipe

    return register


# -- signing up -------------------------------------------------------------


@shot("signup", "rivo_users.signup")
def signup(tour: Tour) -> None:
    tour.open("/signup")


@shot("signup-errors", "rivo_users.signup")
def signup_errors(tour: Tour) -> None:
    tour.open("/signup")
    tour.fill(
        {
            "Email address": "ada@example",
            "Password": "password1",
            "Repeat the password": "password2",
        },
        press="Sign up",
        then="one of the most common passwords",
    )


@shot("signup-done", "rivo_users.signup")
def signup_done(tour: Tour) -> None:
    tour.sign_up("ada@example.com")


@shot("verify", "rivo_users.verify")
def verify(tour: Tour) -> None:
    tour.sign_up("ada@example.com")
    tour.open(tour.link("ada@example.com", "/verify?token="))
    tour.see("Confirm your email address")


@shot("verify-wrong-password", "rivo_users.verify")
def verify_wrong_password(tour: Tour) -> None:
    verify(tour)
    tour.fill(
        {"Your password": "not the one at all"},
        press="Confirm and log in",
        then="not the password this account was signed up with",
    )


@shot("verified", None)
def verified(tour: Tour) -> None:
    verify(tour)
    tour.fill(
        {"Your password": PASSWORD},
        press="Confirm and log in",
        then="Your email address is confirmed",
    )


@shot("verify-resend", "rivo_users.resend_verification")
def verify_resend(tour: Tour) -> None:
    tour.open("/verify/resend")


@shot("link-invalid", "rivo_users.verify")
def link_invalid(tour: Tour) -> None:
    tour.open("/verify?token=NoSuchTokenOfAnyAccount0123456789abcdefgh")
    tour.see("This link does not work")


@shot("link-used", "rivo_users.verify")
def link_used(tour: Tour) -> None:
    """The link opened again, days later (logged out by then)."""
    verified(tour)
    tour.log_out()
    tour.open(tour.link("ada@example.com", "/verify?token="))
    tour.see("already confirmed")


# -- logging in ---------------------------------------------------------------


@shot("login", "rivo_users.login")
def login(tour: Tour) -> None:
    tour.open("/login")


@shot("login-error", "rivo_users.login")
def login_error(tour: Tour) -> None:
    tour.account("ada@example.com")
    tour.open("/login")
    tour.fill(
        {"Email address": "ada@example.com", "Password": "a wrong guess"},
        press="Log in",
        then="The email address or the password is wrong",
    )


@shot("home-logged-in", None)
def home_logged_in(tour: Tour) -> None:
    tour.account("ada@example.com")
    tour.log_in("ada@example.com")
    tour.open("/")
    tour.see("Logged in as")


# -- a forgotten password -----------------------------------------------------


@shot("forgotten-password", "rivo_users.forgotten_password")
def forgotten_password(tour: Tour) -> None:
    tour.open("/forgotten-password")


@shot("email-sent", "rivo_users.forgotten_password")
def email_sent(tour: Tour) -> None:
    tour.account("ada@example.com")
    tour.open("/forgotten-password")
    tour.fill(
        {"Email address": "ada@example.com"},
        press="Send me a link",
        then="Check your email",
    )


@shot("reset-password", "rivo_users.reset_password")
def reset_password(tour: Tour) -> None:
    email_sent(tour)
    tour.open(tour.link("ada@example.com", "/reset-password?token="))
    tour.see("Choose a new password")


@shot("password-reset", None)
def password_reset(tour: Tour) -> None:
    reset_password(tour)
    tour.fill(
        {"Password": NEW_PASSWORD, "Repeat the password": NEW_PASSWORD},
        press="Set the new password",
        then="Your password is changed",
    )


# -- the account --------------------------------------------------------------


@shot("change", "rivo_users.change")
def change(tour: Tour) -> None:
    tour.account("ada@example.com")
    tour.log_in("ada@example.com")
    tour.open("/change")


@shot("change-pending", "rivo_users.change")
def change_pending(tour: Tour) -> None:
    change(tour)
    tour.fill(
        {
            "Email address": "ada.lovelace@example.org",
            "Your current password": PASSWORD,
        },
        press="Save changes",
        then="Waiting for confirmation",
    )


@shot("address-taken", "rivo_users.verify")
def address_taken(tour: Tour) -> None:
    change_pending(tour)
    link = tour.link("ada.lovelace@example.org", "/verify?token=")
    tour.account("ada.lovelace@example.org")  # somebody else takes it meanwhile
    tour.open(link)
    tour.fill(
        {"Your password": PASSWORD},
        press="Confirm and log in",
        then="This address belongs to another account",
    )


@shot("sessions", "rivo_users.sessions")
def sessions(tour: Tour) -> None:
    tour.account("ada@example.com")
    tour.log_in("ada@example.com", tour.new_page(FIREFOX))
    tour.clock.advance(3 * 3600 + 25 * 60)
    tour.log_in("ada@example.com")
    tour.open("/sessions")
    tour.see("Firefox 128 on Windows")


@shot("close-account", "rivo_users.close_account")
def close_account(tour: Tour) -> None:
    tour.account("ada@example.com")
    tour.log_in("ada@example.com")
    tour.open("/close-account")


@shot("reauthenticate", "rivo_users.reauthenticate")
def reauthenticate(tour: Tour) -> None:
    """A change asked for an hour after logging in: the password first."""
    tour.account("ada@example.com")
    tour.log_in("ada@example.com")
    tour.clock.advance(3600)
    tour.open("/change")
    tour.see("Confirm it is you")


# -- a second factor -------------------------------------------------------


@shot("two-factor-setup", "rivo_users.two_factor")
def two_factor_setup(tour: Tour) -> None:
    tour.account("ada@example.com")
    tour.log_in("ada@example.com")
    tour.open("/two-factor")
    tour.see("Scan this QR code")


@shot("two-factor-codes", "rivo_users.two_factor")
def two_factor_codes(tour: Tour) -> None:
    two_factor_setup(tour)
    tour.fill(
        {
            "The 6-digit code your app shows": tour.totp_code(),
            "Your password": PASSWORD,
        },
        press="Turn on two-factor authentication",
        then="Your recovery codes",
    )


@shot("two-factor-on", "rivo_users.two_factor")
def two_factor_on(tour: Tour) -> None:
    two_factor_codes(tour)
    tour.page.get_by_role("link", name="Done").click()
    tour.see("unused recovery codes")


@shot("login-two-factor", "rivo_users.two_factor_login")
def login_two_factor(tour: Tour) -> None:
    """The log-in of an account with a second factor, after the password."""
    two_factor_codes(tour)
    tour.log_out()
    tour.fill(
        {"Email address": "ada@example.com", "Password": PASSWORD},
        press="Log in",
        then="Enter your code",
    )


@shot("passkeys", "rivo_users.passkeys")
def passkeys(tour: Tour) -> None:
    """The passkeys page of an account that has none yet (adding one takes
    WebAuthn on a ``localhost`` site: see tests/e2e/test_passkeys_browser.py)."""
    tour.account("ada@example.com")
    tour.log_in("ada@example.com")
    tour.open("/passkeys")
    tour.see("You have no passkeys yet")


# -- errors and the demo's own pages ------------------------------------------


@shot("not-found", None)
def not_found(tour: Tour) -> None:
    tour.open("/no/such/page")
    tour.see("Page not found")


@shot("error", None)
def error(tour: Tour) -> None:
    """An account page's own HTTP error: a log-out form that expired."""
    tour.account("ada@example.com")
    tour.log_in("ada@example.com")
    tour.page.locator("header input[name=csrf_token]").evaluate(
        "input => { input.value = 'expired' }"
    )
    tour.page.get_by_role("button", name="Log out").click()
    tour.see("The log-out form expired")


@shot("unavailable", None)
def unavailable(tour: Tour) -> None:
    """The session store cannot be reached: 503."""
    tour.site.store.down = True
    tour.open("/login")
    tour.see("Not available just now")


@shot("outbox", None)
def outbox(tour: Tour) -> None:
    """The demo's outbox, with an email that carries no token (a token is
    new on every run, and would change the picture)."""
    tour.account("ada@example.com", UserState.VERIFIED)
    tour.sign_up("ada@example.com")
    tour.open("/_outbox")
    tour.see("To ada@example.com")

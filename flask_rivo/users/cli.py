"""``flask users``: the administrator's commands for accounts.

Each command runs in the application's context, so it uses the same user
store, session store, settings and clock as the site. Users are named by
email address or by ID. Errors (an unknown user, a bad password) print a
message and exit with status 1; bad options exit with click's status 2.
"""

from __future__ import annotations

import typing as t
from datetime import datetime
from datetime import timezone

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from ..sessions import RivoSessions
from . import purge as purging
from . import shared
from . import two_factor
from .agents import describe
from .agents import where
from .forms import normalize_email
from .models import SQLAlchemyUserStore
from .models import UserChangedError
from .models import UserConflictError
from .models import UserState
from .passkey_login import end_their_sessions
from .passkey_store import PasskeysBusyError
from .passkey_store import passkeys_of
from .passkey_store import remove_all
from .passwords import hash_password
from .passwords import reasonable_password
from .state import users_state

if t.TYPE_CHECKING:
    from .models import User


#: The ``flask users`` group; :class:`~flask_rivo.RivoUsers` adds it.
class _UsersGroup(AppGroup):
    """The ``users`` commands: an account deleted while one of them worked
    on it (by another command, or the site) is a message, not a traceback,
    wherever the command commits."""

    def invoke(self, ctx: click.Context) -> t.Any:
        try:
            return super().invoke(ctx)
        except UserChangedError as error:  # rolled back by the store
            raise click.ClickException(
                "The account was deleted meanwhile; nothing was changed."
            ) from error


users_cli = _UsersGroup("users", help="Manage user accounts; purge what expired.")

#: A purge task with at least this many rows shows a progress bar.
PROGRESS_FROM = 10 * purging.BATCH

_STATES = click.Choice([state.value for state in UserState])


def _sql_store(command: str) -> SQLAlchemyUserStore:
    store = users_state().store
    if not isinstance(store, SQLAlchemyUserStore):
        raise click.ClickException(
            f"'flask users {command}' needs the SQLAlchemy user store"
            " (RivoUsers(app, user_model=..., db_session=...)); this application"
            " keeps its users in a store of its own."
        )
    return store


def _find(who: str) -> User:
    """The user with the email address or ID ``who``."""
    store = users_state().store
    user: User | None = None
    if "@" in who:
        try:
            user = store.by_email(normalize_email(who))
        except ValueError:
            user = None
    if user is None and _is_text(who):
        user = store.get(who)
    if user is None:
        raise click.ClickException(f"No user has the email address or ID {who!r}.")
    return user


def _is_text(argument: str) -> bool:
    """Whether ``argument`` is text a database can hold: bytes of the command
    line that are no UTF-8 reach Python as lone surrogates (PEP 383), which
    name no user, and which the driver would fail to send."""
    try:
        argument.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _date(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _commit() -> None:
    try:
        users_state().store.commit()
    except UserConflictError as error:
        raise click.ClickException("Another account has this address.") from error


@users_cli.command("create")
@click.argument("email")
@click.option("--verified", is_flag=True, help="Mark the address as verified.")
def create(email: str, verified: bool) -> None:
    """Create an account for EMAIL; the password is asked for, hidden.

    Never an option: a password on the command line stays in the shell's
    history and shows in the process list.
    """
    try:
        address = normalize_email(email)
    except ValueError as error:
        raise click.ClickException(f"Not a valid email address: {error}") from error
    password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    config = current_app.config
    names = [*config["RIVO_PASSWORD_NAMES"], config["RIVO_SITE_NAME"], address]
    problem = reasonable_password(password, names)
    if problem is not None:
        raise click.ClickException(f"The password is refused: {problem.message}")
    store = users_state().store
    if store.by_email(address) is not None:
        raise click.ClickException(f"{address} has an account already.")
    rounds = users_state().settings().bcrypt_rounds
    user = store.create(address, hash_password(password, rounds))
    if verified:
        user.state = UserState.VERIFIED
        user.verified_at = shared.moment()
    _commit()
    click.echo(f"Created {address} ({user.get_id()}), {user.state.value}.")


@users_cli.command("list")
@click.option("--state", type=_STATES, help="Only accounts in this state.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--per-page", type=click.IntRange(1, 1000), default=50, show_default=True)
def list_users(state: str | None, page: int, per_page: int) -> None:
    """List accounts, oldest first, a page at a time."""
    store = _sql_store("list")
    model = store.model
    where = sa.true() if state is None else model.state == UserState(state)
    total = store.session.scalar(
        sa.select(sa.func.count()).select_from(model).where(where)
    )
    key = sa.inspect(model).primary_key[0]
    skipped = (page - 1) * per_page
    query = (
        sa.select(model)
        .where(where)
        .order_by(model.created_at, key)
        .offset(skipped)
        .limit(per_page)
    )
    # A page past the end has nobody on it, and is not asked for: its
    # offset may be past every database's integers (an error, not a page).
    found = store.session.scalars(query) if skipped < int(total or 0) else ()
    for user in found:
        click.echo(
            f"{user.get_id()}  {user.email}  {user.state.value}"
            f"  created {_date(user.created_at)}"
            f"  last log-in {_date(user.last_login_at)}"
        )
    pages = max(1, -(-int(total or 0) // per_page))
    click.echo(f"Page {page} of {pages} ({total} accounts).")


@users_cli.command("show")
@click.argument("user")
def show(user: str) -> None:
    """Show one account (by email address or ID) and its sessions."""
    found = _find(user)
    user_id = found.get_id()
    for label, value in (
        ("ID", user_id),
        ("Email", found.email),
        ("Pending email", found.pending_email or "-"),
        ("State", found.state.value),
        ("Created", _date(found.created_at)),
        ("Verified", _date(found.verified_at)),
        ("Last log-in", _date(found.last_login_at)),
        ("Verification link sent", _date(found.verification_created_at)),
        ("Password-reset link sent", _date(found.reset_created_at)),
        ("Two-factor", _second_factor(found)),
    ):
        click.echo(f"{label}: {value}")
    keys = passkeys_of(found)
    click.echo(f"Passkeys: {len(keys)}")
    for key in keys:
        used = None if key.last_used_at is None else _stamp(key.last_used_at)
        click.echo(
            f"  {key.name}, added {_date(_stamp(key.created_at))},"
            f" last used {_date(used)}"
        )
    sessions = RivoSessions().user_sessions(user_id)
    click.echo(f"Sessions: {len(sessions)}")
    for info in sessions:
        click.echo(
            f"  {describe(info.user_agent)} from {where(info.address)},"
            f" last seen {_date(info.accessed_at)}"
        )


def _second_factor(user: User) -> str:
    if not two_factor.is_on(user):
        return "off"
    left = two_factor.codes_left(user)
    return (
        f"TOTP, on since {_date(user.two_factor_since)};"
        f" {left} recovery code{'' if left == 1 else 's'} left"
    )


@users_cli.command("reset-2fa")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_2fa(user: str, yes: bool) -> None:
    """Remove an account's second factor (a lost phone, no recovery codes
    left); its sessions end, and the password alone logs in again.

    Make sure first that the request comes from the account's owner.
    """
    found = _find(user)
    if not two_factor.is_on(found):
        raise click.ClickException(f"{found.email} has no second factor.")
    if not yes:
        click.confirm(
            f"Remove the second factor of {found.email}? Only the password will"
            " protect the account.",
            abort=True,
        )
    ended = two_factor.reset(found)
    click.echo(
        f"Removed the second factor of {found.email}; ended {ended}"
        f" session{'' if ended == 1 else 's'}."
    )


@users_cli.command("set-state")
@click.argument("user")
@click.argument("state", type=_STATES)
def set_state(user: str, state: str) -> None:
    """Move an account to STATE; leaving "verified" ends its sessions."""
    found = _find(user)
    found.state = UserState(state)
    if found.state is UserState.VERIFIED and found.verified_at is None:
        found.verified_at = shared.moment()
    # Binding's ORM event ends the sessions of an account leaving "verified".
    _commit()
    click.echo(f"{found.email} is {state} now.")


@users_cli.command("logout")
@click.argument("user")
def logout(user: str) -> None:
    """End every session of an account."""
    found = _find(user)
    ended = RivoSessions().end_user_sessions(found.get_id())
    click.echo(f"Ended {ended} session{'' if ended == 1 else 's'} of {found.email}.")


@users_cli.command("delete")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(user: str, yes: bool) -> None:
    """Delete an account; its sessions end."""
    found = _find(user)
    email = found.email
    if not yes:
        click.confirm(f"Delete the account of {email}?", abort=True)
    users_state().store.delete(found)
    _commit()
    click.echo(f"Deleted the account of {email}.")


@users_cli.command("remove-passkeys")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_passkeys(user: str, yes: bool) -> None:
    """Remove every passkey of an account (a lost device, a taken-over
    account), and end the sessions they logged in; the password keeps
    working."""
    found = _find(user)
    count = len(passkeys_of(found))
    if count == 0:
        click.echo(f"{found.email} has no passkeys.")
        return
    if not yes:
        click.confirm(f"Remove the {count} passkey(s) of {found.email}?", abort=True)
    try:
        # Those stored as they go, which a log-in or an addition meanwhile
        # may have changed since they were counted.
        removed = remove_all(found)
    except PasskeysBusyError as error:
        raise click.ClickException(
            "The passkeys kept changing, or the account is gone; try again."
        ) from error
    ended = end_their_sessions(found, {key.id for key in removed})
    click.echo(
        f"Removed {len(removed)} passkey(s) of {found.email}; ended the {ended}"
        " session(s) they logged in."
    )


@users_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go; remove nothing.")
def purge(dry_run: bool) -> None:
    """Remove expired sessions and throttle counters, never-verified
    accounts older than RIVO_UNVERIFIED_TTL, and expired links."""
    now = shared.now()
    tasks = purging.session_tasks(RivoSessions.interface().store, now)
    if tasks is None:
        click.echo("Sessions: the session store drops expired ones by itself.")
        tasks = []
    store = users_state().store
    if isinstance(store, SQLAlchemyUserStore):
        tasks += purging.account_tasks(store, users_state().settings(), now)
    else:
        click.echo(
            "Accounts and links: skipped; purging them needs the SQLAlchemy"
            " user store.",
            err=True,
        )
    for task in tasks:
        count = task.count()
        if dry_run:
            click.echo(f"{task.what}: {count} would be removed")
            continue
        removed = 0
        if count >= PROGRESS_FROM:
            with click.progressbar(length=count, label=task.what, file=None) as bar:
                for done in task.run():
                    removed += done
                    bar.update(done)
        else:
            removed = sum(task.run())
        click.echo(f"{task.what}: {removed} removed")

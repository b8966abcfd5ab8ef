"""The user model mixin, the account states, and the seam to where users live."""

from __future__ import annotations

import enum
import typing as t
import uuid
from datetime import datetime  # noqa: TC003 (SQLAlchemy reads Mapped[datetime] at run time)

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm.exc import ObjectDeletedError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import Conflict

from ..exceptions import RivoError
from ..i18n import gettext_noop
from .columns import Base64Url as Base64Url
from .columns import EmailAddress as EmailAddress
from .columns import UTCDateTime as UTCDateTime
from .columns import utcnow as utcnow


class UserConflictError(RivoError):
    """Saving users broke a uniqueness rule: another request won a race.

    Two sign-ups for one new address at the same moment both try to create
    the account; the second one's commit raises this.
    """


class UserChangedError(RivoError, Conflict):
    """HTTP 409: the stored user changed, or was deleted, since this request
    read it, so what the request checked no longer holds.

    A password reset, a confirmation or a deletion that another request
    committed meanwhile wins: this request saves nothing rather than undo
    it (a stale password check must never set a password or end the
    sessions the reset made). The workflows answer it as they should (a
    refused log-in, "try again"); a view that lets it through answers 409
    with :attr:`description`, never 500. Its :attr:`description` is English
    (a catalog msgid): the error pages of RivoUsers show it translated.

    .. versionadded:: 0.2
    """

    description = gettext_noop(
        "Your account changed while this was being done, so nothing was"
        " changed. Please try again."
    )

    def __init__(self, detail: str = "") -> None:
        # Werkzeug would show its first argument as the page's description:
        # the detail (SQLAlchemy's text names the table) is for logs only.
        super().__init__()
        #: What changed, for logs; never shown.
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code} {self.name}: {self.detail or self.description}"


class UserState(str, enum.Enum):
    """The one state every account is in (rivo/users' life cycle)."""

    #: Signed up, address not yet verified: cannot log in.
    CREATED = "created"
    #: Address verified: a working account.
    VERIFIED = "verified"
    #: Closed or locked by the site: cannot log in.
    EXPIRED = "expired"


class UserMixin:
    """Columns and behaviour the account workflows need, for a SQLAlchemy model.

    Mix it into a Flask-SQLAlchemy ``db.Model`` or a plain SQLAlchemy 2.0
    ``DeclarativeBase`` subclass; the primary key stays the application's::

        class User(UserMixin, db.Model):
            id: Mapped[str] = mapped_column(String(25), primary_key=True, default=cuid)

    Tokens are stored only as SHA-256 hashes, so a copy of the table holds no
    link that would verify an address or reset a password.

    .. versionadded:: 0.1
    """

    #: The normalized address (see :func:`~flask_rivo.users.normalize_email`).
    email: Mapped[str] = mapped_column(EmailAddress, unique=True, index=True)
    #: A ``$rivo1$`` bcrypt hash; never the password.
    password_hash: Mapped[str] = mapped_column(sa.String(128))
    state: Mapped[UserState] = mapped_column(
        sa.Enum(
            UserState,
            native_enum=False,
            length=16,
            values_callable=lambda states: [s.value for s in states],
            validate_strings=True,
        ),
        default=UserState.CREATED,
    )
    verification_token_hash: Mapped[str | None] = mapped_column(
        sa.String(64), index=True, default=None
    )
    verification_created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )
    reset_token_hash: Mapped[str | None] = mapped_column(
        sa.String(64), index=True, default=None
    )
    reset_created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )
    #: A new address waiting for verification; the old one stays in use.
    pending_email: Mapped[str | None] = mapped_column(EmailAddress, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: The TOTP secret, encrypted (Fernet, keyed by ``SECRET_KEY``); ``None``
    #: while the account has no second factor.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    #: The last TOTP time step accepted, so that no code is accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger(), default=None)
    #: The unused recovery codes, as a JSON list of their SHA-256 hashes.
    recovery_codes: Mapped[str | None] = mapped_column(sa.Text(), default=None)
    #: When the second factor was turned on.
    two_factor_since: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None
    )
    #: The WebAuthn user handle of the account's passkeys: random, never the
    #: address or anything personal (WebAuthn Level 3, 5.4.3), made when the
    #: first passkey is added. A passkey log-in finds the account by it.
    passkey_handle: Mapped[str | None] = mapped_column(
        Base64Url, unique=True, index=True, default=None
    )
    #: The account's passkeys as JSON (see :mod:`flask_rivo.users.passkeys`):
    #: credential IDs, public keys, sign counts, names and times; no secret.
    passkeys: Mapped[str | None] = mapped_column(sa.Text(), default=None)

    #: Always true for a real user; :class:`AnonymousUser` has it false.
    is_authenticated: t.ClassVar[bool] = True
    is_anonymous: t.ClassVar[bool] = False

    @property
    def is_active(self) -> bool:
        """Whether the account may log in: its address is verified."""
        return self.state is UserState.VERIFIED

    def get_id(self) -> str:
        """The primary key, as the string the session keeps."""
        identity = sa.inspect(self).identity
        if identity is None:
            raise ValueError("the user has no primary key yet; flush it first")
        return str(identity[0])


class AnonymousUser:
    """What :data:`~flask_rivo.current_user` is when nobody is logged in."""

    is_authenticated: t.ClassVar[bool] = False
    is_anonymous: t.ClassVar[bool] = True
    is_active: t.ClassVar[bool] = False
    email: t.ClassVar[None] = None

    def get_id(self) -> None:
        return None

    def __bool__(self) -> bool:
        return False


class User(t.Protocol):
    """What the workflows need of a user object (``UserMixin`` provides it)."""

    email: str
    password_hash: str
    state: UserState
    verification_token_hash: str | None
    verification_created_at: datetime | None
    reset_token_hash: str | None
    reset_created_at: datetime | None
    pending_email: str | None
    created_at: datetime
    verified_at: datetime | None
    last_login_at: datetime | None
    totp_secret: str | None
    totp_last_step: int | None
    recovery_codes: str | None
    two_factor_since: datetime | None
    passkey_handle: str | None
    passkeys: str | None

    @property
    def is_authenticated(self) -> bool: ...

    def get_id(self) -> str: ...


class UserStore(t.Protocol):
    """Where users live. The seam for users that are not in SQLAlchemy.

    :class:`~flask_rivo.users.models.SQLAlchemyUserStore` is the default;
    pass another object with these methods as
    ``RivoUsers(app, user_store=...)`` to keep users anywhere else.
    """

    def get(self, user_id: str) -> User | None:
        """The user with this ID, or ``None``."""

    def by_email(self, email: str) -> User | None:
        """The user with this normalized address, or ``None``."""

    def by_token(self, column: str, token_hash: str) -> User | None:
        """The user whose ``verification_token_hash`` or ``reset_token_hash``
        (named by ``column``) is ``token_hash``, or ``None``."""

    def consume_token(self, user: User, column: str, token_hash: str) -> bool:
        """Use up ``user``'s token, as a compare-and-swap on the stored user.

        Clear the creation time of the token in ``column`` only if the stored
        user still holds ``token_hash`` there, unused, and (for a
        verification token) still the ``pending_email`` the object has: the
        address the token was issued for. Two requests with one link, or a
        link replaced by a newer one meanwhile, then cannot both go ahead.
        The stored user stays as it is until :meth:`commit` (a database
        holds a lock on it till then); nothing else is changed.

        :returns: whether the token was still there to use.

        .. versionadded:: 0.1
        """

    def swap(self, user: User, column: str, expected: object, value: object) -> bool:
        """Set ``column`` of the stored ``user`` to ``value``, as a
        compare-and-swap: only if it still holds ``expected``.

        For the second factor's single-use codes: ``totp_last_step`` (the
        last TOTP step accepted) and ``recovery_codes`` (the unused ones).
        Two requests with one code then cannot both go ahead. For
        ``passkeys``, which every change rewrites whole: a log-in that read
        them before a removal cannot write the removed passkey back. And for
        what a workflow checked before a slow step (a password hash, an
        email): ``password_hash`` and ``state``; a swap of a value for itself
        is a check that holds until :meth:`commit`, as the database holds a
        lock on the stored user till then. The check comes before this
        request's other changes are written, which then cannot undo a
        concurrent request's. The object gets ``value`` too; the change is
        saved at :meth:`commit`.

        :returns: whether the stored user still held ``expected`` (``False``
            for a user deleted meanwhile).

        .. versionadded:: 0.2
        """

    def by_passkey_handle(self, handle: str) -> User | None:
        """The user whose ``passkey_handle`` is ``handle``, or ``None``.

        .. versionadded:: 0.1
        """

    def create(self, email: str, password_hash: str) -> User:
        """Make and add a new user in the ``created`` state (not yet saved)."""

    def delete(self, user: User) -> None:
        """Remove a user (at the next :meth:`commit`)."""

    def commit(self) -> None:
        """Save every change made to users in this request.

        :raises ~flask_rivo.users.models.UserConflictError: when another
            request created the same address first (the changes are rolled
            back).
        :raises ~flask_rivo.users.models.UserChangedError: when a user this
            request changed was deleted meanwhile (the changes are rolled
            back).
        """

    def rollback(self) -> None:
        """Drop the changes not yet committed."""


#: Each token column, and the column of its creation time.
_TOKEN_TIMES = {
    "verification_token_hash": "verification_created_at",
    "reset_token_hash": "reset_created_at",
}


#: The columns :meth:`UserStore.swap` may change: the second factor's
#: single-use codes, the passkeys, and the credentials a workflow checks
#: before it writes.
SWAPPABLE = frozenset(
    {"totp_last_step", "recovery_codes", "passkeys", "password_hash", "state"}
)


#: Bits (beside the sign) each integer key type holds: PostgreSQL refuses,
#: with an error, a number its column cannot hold.
_INTEGER_BITS = ((sa.SmallInteger, 15), (sa.BigInteger, 63), (sa.Integer, 31))


def _key_value(column: t.Any, user_id: str) -> object | None:
    """``user_id`` as a value of the primary key ``column``; ``None`` when
    it is none (an administrator's typo, a name that is not an ID).

    An integer or UUID key takes only its own spelling (``str()`` of the
    value gives it back): a database left to convert the string itself
    would fail (PostgreSQL: ``'ann'`` is no integer) or guess (MariaDB
    reads ``'1abc'`` as 1, and ``flask users delete 1abc`` would delete
    user 1).
    """
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return user_id
    if python_type is int:
        try:
            number = int(user_id)
        except ValueError:
            return None
        bits = next(
            (b for kind, b in _INTEGER_BITS if isinstance(column.type, kind)), 63
        )
        if str(number) != user_id or not -(2**bits) <= number < 2**bits:
            return None
        return number
    if issubclass(python_type, uuid.UUID):
        try:
            found = uuid.UUID(user_id)
        except ValueError:
            return None
        return found if str(found) == user_id else None
    return user_id


class SQLAlchemyUserStore:
    """Users as rows of a SQLAlchemy model that has :class:`UserMixin`.

    :param model: the user class.
    :param session: a SQLAlchemy session or ``scoped_session`` (such as
        Flask-SQLAlchemy's ``db.session``).
    """

    def __init__(self, model: type[t.Any], session: t.Any) -> None:
        self.model = model
        self.session = session

    def get(self, user_id: str) -> User | None:
        [column] = sa.inspect(self.model).primary_key
        key = _key_value(column, user_id)
        if key is None:
            return None
        return t.cast("User | None", self.session.get(self.model, key))

    def by_email(self, email: str) -> User | None:
        query = sa.select(self.model).where(self.model.email == email)
        return t.cast("User | None", self.session.scalars(query).first())

    def by_token(self, column: str, token_hash: str) -> User | None:
        if column not in _TOKEN_TIMES:
            raise ValueError(f"not a token column: {column!r}")
        query = sa.select(self.model).where(getattr(self.model, column) == token_hash)
        return t.cast("User | None", self.session.scalars(query).first())

    def by_passkey_handle(self, handle: str) -> User | None:
        query = sa.select(self.model).where(self.model.passkey_handle == handle)
        return t.cast("User | None", self.session.scalars(query).first())

    def consume_token(self, user: User, column: str, token_hash: str) -> bool:
        created = _TOKEN_TIMES.get(column)
        if created is None:
            raise ValueError(f"not a token column: {column!r}")
        model = self.model
        identity = sa.inspect(user).identity
        [key] = sa.inspect(model).primary_key
        conditions = [
            key == identity[0],
            getattr(model, column) == token_hash,
            getattr(model, created).is_not(None),
        ]
        if column == "verification_token_hash":
            pending = model.pending_email
            expected = user.pending_email
            conditions.append(
                pending.is_(None) if expected is None else pending == expected
            )
        # One UPDATE that checks and writes: it takes the row's lock, so the
        # check holds until the commit (the ORM's unit of work would not).
        statement = (
            sa.update(model)
            .where(*conditions)
            .values({created: None})
            .execution_options(synchronize_session=False)
        )
        used = bool(self.session.execute(statement).rowcount == 1)
        if used:
            setattr(user, created, None)
        return used

    def swap(self, user: User, column: str, expected: object, value: object) -> bool:
        if column not in SWAPPABLE:
            raise ValueError(f"not a column to swap: {column!r}")
        model = self.model
        [key] = sa.inspect(model).primary_key
        stored = getattr(model, column)
        statement = (
            sa.update(model)
            .where(
                key == sa.inspect(user).identity[0],
                stored.is_(None) if expected is None else stored == expected,
            )
            .values({column: value})
            # Checked before this request's own pending changes are written:
            # a flush first would overwrite a concurrent request's, or fail
            # on a deleted row, before the check could refuse.
            .execution_options(synchronize_session=False, autoflush=False)
        )
        # One UPDATE that checks and writes, as in consume_token.
        swapped = bool(self.session.execute(statement).rowcount == 1)
        if swapped:
            setattr(user, column, value)
        return swapped

    def create(self, email: str, password_hash: str) -> User:
        user = self.model(
            email=email, password_hash=password_hash, state=UserState.CREATED
        )
        self.session.add(user)
        return t.cast("User", user)

    def delete(self, user: User) -> None:
        self.session.delete(user)

    def commit(self) -> None:
        try:
            self.session.commit()
        except IntegrityError as error:
            self.session.rollback()
            raise UserConflictError(str(error.orig)) from error
        except (StaleDataError, ObjectDeletedError) as error:
            # An UPDATE of a user that another request deleted meanwhile.
            self.session.rollback()
            raise UserChangedError(str(error)) from error

    def rollback(self) -> None:
        self.session.rollback()

"""``flask users`` (issue 10), through Flask's CLI runner, with the users
table on SQLite and on PostgreSQL, and real session stores."""

from __future__ import annotations

import importlib.util
import sys
import typing as t
import uuid
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path

import flask
import flask.cli
import pytest
import sqlalchemy as sa
from backends import POSTGRES_URL
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import CountingStore
from support import FakeClock
from support import require
from users_support import PASSWORD
from users_support import Browser

from flask_rivo import RivoUsers
from flask_rivo import UserMixin
from flask_rivo import cuid
from flask_rivo.ids import is_counter_key
from flask_rivo.users import UserState
from flask_rivo.users import cli as users_cli
from flask_rivo.users.models import SQLAlchemyUserStore
from flask_rivo.users.passwords import hash_password

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    from click.testing import Result


class UsersDB(t.NamedTuple):
    model: type[t.Any]
    session: scoped_session[t.Any]


def _model(table: str) -> type[t.Any]:
    class Base(DeclarativeBase):
        pass

    class Account(UserMixin, Base):
        __tablename__ = table
        id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)

    return Account


@pytest.fixture(params=["sqlite", "postgresql"])
def users_db(request: pytest.FixtureRequest) -> Iterator[UsersDB]:
    """A users table on SQLite, or one of this run's own on PostgreSQL."""
    if request.param == "sqlite":
        engine = sa.create_engine(
            "sqlite://",
            connect_args={"check_same_thread": False},
            poolclass=sa.pool.StaticPool,
        )
    else:
        engine = sa.create_engine(POSTGRES_URL)
        try:
            engine.connect().close()
        except sa.exc.OperationalError as error:
            require(False, f"postgresql: {error}")
    model = _model(f"rivo_cli_users_{uuid.uuid4().hex[:10]}")
    model.metadata.create_all(engine)
    session = scoped_session(sessionmaker(engine))
    yield UsersDB(model, session)
    session.remove()
    model.metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def app(
    make_users_app: Callable[..., flask.Flask], users_db: UsersDB, store: CountingStore
) -> flask.Flask:
    """The users app on ``users_db``, with the store itself, not the counting
    wrapper: purge tells the stores apart."""
    app = make_users_app(
        user_model=users_db.model,
        db_session=users_db.session,
        RIVO_SESSION_STORE=store.inner,
    )

    @app.get("/account")
    def account() -> str:
        from flask_rivo import current_user

        return "in" if current_user.is_authenticated else "out"

    return app


def run(app: flask.Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=["users", *args], input=input)


def add(
    db: UsersDB, email: str, state: UserState = UserState.VERIFIED, **columns: t.Any
) -> str:
    user = db.model(
        email=email,
        password_hash=hash_password(PASSWORD, 4),
        state=state,
        **columns,
    )
    db.session.add(user)
    db.session.commit()
    found = user.get_id()
    db.session.remove()
    return t.cast("str", found)


def get(db: UsersDB, email: str) -> t.Any:
    db.session.remove()
    return db.session.scalars(
        sa.select(db.model).where(db.model.email == email)
    ).first()


def logged_in(app: flask.Flask, email: str) -> Browser:
    browser = Browser(app.test_client())
    assert browser.log_in(email).status_code == 302
    assert browser.get("/account").text == "in"
    return browser


# -- create ------------------------------------------------------------------


def test_create_verified_asks_for_the_password(
    app: flask.Flask, users_db: UsersDB
) -> None:
    result = run(
        app,
        "create",
        "Ann@Example.com",
        "--verified",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created ann@example.com" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    user = get(users_db, "ann@example.com")
    assert user.state is UserState.VERIFIED
    assert user.verified_at is not None
    logged_in(app, "ann@example.com")


def test_create_unverified_cannot_log_in(app: flask.Flask, users_db: UsersDB) -> None:
    result = run(app, "create", "bob@example.com", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert get(users_db, "bob@example.com").state is UserState.CREATED
    assert Browser(app.test_client()).log_in("bob@example.com").status_code == 400


def test_create_has_no_password_option(app: flask.Flask, users_db: UsersDB) -> None:
    result = run(app, "create", "bob@example.com", "--password", PASSWORD)
    assert result.exit_code == 2
    assert get(users_db, "bob@example.com") is None


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("bob@example.com", "password", "The password is refused"),
        ("bob@example.com", "bob@example.com", "The password is refused"),
        ("not an address", PASSWORD, "Not a valid email address"),
        ("ann@example.com", PASSWORD, "has an account already"),
    ],
)
def test_create_refusals(
    app: flask.Flask, users_db: UsersDB, email: str, password: str, message: str
) -> None:
    add(users_db, "ann@example.com")
    result = run(app, "create", email, input=f"{password}\n{password}\n")
    assert result.exit_code == 1
    assert message in result.output
    count = users_db.session.scalar(
        sa.select(sa.func.count()).select_from(users_db.model)
    )
    assert count == 1


# -- list, show ----------------------------------------------------------------


def test_list_pages_and_filters(app: flask.Flask, users_db: UsersDB) -> None:
    base = datetime.now(timezone.utc)
    for n, state in enumerate(
        [UserState.VERIFIED, UserState.CREATED, UserState.EXPIRED]
    ):
        add(
            users_db, f"u{n}@example.com", state, created_at=base + timedelta(seconds=n)
        )
    first = run(app, "list", "--per-page", "2")
    assert first.exit_code == 0, first.output
    assert [line.split()[1] for line in first.output.splitlines()[:2]] == [
        "u0@example.com",
        "u1@example.com",
    ]
    assert "Page 1 of 2 (3 accounts)." in first.output
    second = run(app, "list", "--per-page", "2", "--page", "2")
    assert "u2@example.com" in second.output
    assert "u0@example.com" not in second.output
    created = run(app, "list", "--state", "created")
    assert "u1@example.com" in created.output
    assert "u0@example.com" not in created.output
    assert "(1 accounts)" in created.output
    bad = run(app, "list", "--state", "locked")
    assert bad.exit_code == 2
    assert "'locked' is not one of" in bad.output
    assert run(app, "list", "--page", "0").exit_code == 2


def test_show_by_email_or_id_with_sessions(app: flask.Flask, users_db: UsersDB) -> None:
    user_id = add(users_db, "ann@example.com")
    logged_in(app, "ann@example.com")
    for who in ("ann@example.com", user_id):
        result = run(app, "show", who)
        assert result.exit_code == 0, result.output
        assert f"ID: {user_id}" in result.output
        assert "State: verified" in result.output
        assert "Sessions: 1" in result.output


def test_show_prints_no_escape_sequence_from_an_address(
    app: flask.Flask, users_db: UsersDB
) -> None:
    """A session's address may be header text the client wrote: printed as
    it came, it would drive the administrator's terminal."""
    add(users_db, "ann@example.com")
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = "\x1b]0;owned\x07\x1b[2J10.0.0.1"
    assert browser.log_in("ann@example.com").status_code == 302
    result = run(app, "show", "ann@example.com")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "from an unknown address" in result.output


@pytest.mark.parametrize(
    "command", [["show"], ["set-state", "expired"], ["logout"], ["delete", "--yes"]]
)
def test_unknown_users_are_a_clear_error(app: flask.Flask, command: list[str]) -> None:
    result = run(app, command[0], "nobody@example.com", *command[1:])
    assert result.exit_code == 1
    assert "No user has the email address or ID 'nobody@example.com'" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["set-state", "expired"],
        ["logout"],
        ["delete", "--yes"],
        ["reset-2fa", "--yes"],
        ["remove-passkeys", "--yes"],
    ],
)
@pytest.mark.parametrize(
    "who", ["\udcff", "ann@\udcffexample.com"], ids=["alone", "in-an-address"]
)
def test_a_name_that_is_no_utf_8_is_an_unknown_user(
    app: flask.Flask, command: list[str], who: str
) -> None:
    """``flask users show $'\\xff'``: bytes that are no UTF-8 reach Python as
    lone surrogates, which the database driver cannot send (a traceback)."""
    result = run(app, command[0], who, *command[1:])
    assert result.exit_code == 1
    assert "No user has the email address or ID" in result.output
    assert not isinstance(result.exception, UnicodeError)


# -- set-state, logout, delete: sessions end ----------------------------------


def test_set_state_expired_ends_the_sessions(
    app: flask.Flask, users_db: UsersDB
) -> None:
    add(users_db, "ann@example.com")
    browser = logged_in(app, "ann@example.com")
    result = run(app, "set-state", "ann@example.com", "expired")
    assert result.exit_code == 0, result.output
    assert get(users_db, "ann@example.com").state is UserState.EXPIRED
    # Lifting the lock does not bring the session back: it ended at once.
    assert run(app, "set-state", "ann@example.com", "verified").exit_code == 0
    assert browser.get("/account").text == "out"
    logged_in(app, "ann@example.com")


def test_logout_ends_every_session(
    app: flask.Flask, users_db: UsersDB, store: CountingStore
) -> None:
    add(users_db, "ann@example.com")
    browsers = [logged_in(app, "ann@example.com") for _ in range(2)]
    result = run(app, "logout", "ann@example.com")
    assert result.exit_code == 0, result.output
    assert "Ended 2 sessions of ann@example.com." in result.output
    assert [b.get("/account").text for b in browsers] == ["out", "out"]


def test_delete_asks_first(app: flask.Flask, users_db: UsersDB) -> None:
    add(users_db, "ann@example.com")
    browser = logged_in(app, "ann@example.com")
    kept = run(app, "delete", "ann@example.com", input="n\n")
    assert kept.exit_code == 1
    assert "Aborted" in kept.output
    assert get(users_db, "ann@example.com") is not None
    assert browser.get("/account").text == "in"
    gone = run(app, "delete", "ann@example.com", input="y\n")
    assert gone.exit_code == 0, gone.output
    assert get(users_db, "ann@example.com") is None
    assert browser.get("/account").text == "out"
    add(users_db, "bob@example.com")
    assert run(app, "delete", "bob@example.com", "--yes").exit_code == 0
    assert get(users_db, "bob@example.com") is None


# -- purge ---------------------------------------------------------------------

DAY = 86400.0


def at(clock: FakeClock, days_ago: float) -> datetime:
    return datetime.fromtimestamp(clock.now - days_ago * DAY, tz=timezone.utc)


def token(n: int) -> str:
    return f"{n:064x}"


def fill_users(db: UsersDB, clock: FakeClock) -> None:
    """One account of each kind purge removes, and one of each it keeps."""
    created = UserState.CREATED
    for email, columns in [
        ("old-created", {"state": created, "created_at": at(clock, 8)}),
        ("new-created", {"state": created, "created_at": at(clock, 6)}),
        ("old-verified", {"created_at": at(clock, 30)}),
        # A pending address change whose link died, and one still open.
        ("link-dead", {"verification_token_hash": token(1),
                       "verification_created_at": at(clock, 4)}),
        ("link-open", {"verification_token_hash": token(2),
                       "verification_created_at": at(clock, 2)}),
        # Used links keep their hash (no creation time): "already confirmed".
        ("used-old", {"verification_token_hash": token(3),
                      "verified_at": at(clock, 4)}),
        ("used-new", {"verification_token_hash": token(4),
                      "verified_at": at(clock, 1)}),
        ("reset-dead", {"reset_token_hash": token(5),
                        "reset_created_at": at(clock, 2)}),
        ("reset-open", {"reset_token_hash": token(6),
                        "reset_created_at": at(clock, 0.5)}),
    ]:  # fmt: skip
        add(db, f"{email}@example.com", **columns)


def expired(store: CountingStore, now: float) -> tuple[int, int]:
    """Expired sessions and expired counters in the store."""
    dead = [key for key, r in store.records().items() if r.expires_at <= now]
    counters = sum(1 for key in dead if is_counter_key(key))
    return len(dead) - counters, counters


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
def test_purge(
    app: flask.Flask, users_db: UsersDB, store: CountingStore, clock: FakeClock
) -> None:
    add(users_db, "ann@example.com")
    logged_in(app, "ann@example.com")
    Browser(app.test_client()).log_in("ann@example.com", "wrong password")
    clock.advance(15 * DAY)  # past the idle timeout and the counters' memory
    live = logged_in(app, "ann@example.com")
    fill_users(users_db, clock)
    sessions, counters = expired(store, clock.now)
    assert sessions >= 1 and counters >= 1

    dry = run(app, "purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.splitlines() == [
        f"expired sessions: {sessions} would be removed",
        f"stale throttle counters: {counters} would be removed",
        "never-verified accounts: 1 would be removed",
        "expired verification links: 1 would be removed",
        "used verification links: 1 would be removed",
        "expired password-reset links: 1 would be removed",
    ]
    assert expired(store, clock.now) == (sessions, counters)
    assert get(users_db, "old-created@example.com") is not None
    assert get(users_db, "reset-dead@example.com").reset_token_hash == token(5)

    done = run(app, "purge")
    assert done.exit_code == 0, done.output
    assert done.output == dry.output.replace("would be removed", "removed")
    assert expired(store, clock.now) == (0, 0)
    assert live.get("/account").text == "in"
    assert get(users_db, "old-created@example.com") is None
    assert get(users_db, "new-created@example.com") is not None
    assert get(users_db, "old-verified@example.com") is not None
    dead = get(users_db, "link-dead@example.com")
    assert (dead.verification_token_hash, dead.verification_created_at) == (None, None)
    assert get(users_db, "link-open@example.com").verification_token_hash == token(2)
    assert get(users_db, "used-old@example.com").verification_token_hash is None
    assert get(users_db, "used-new@example.com").verification_token_hash == token(4)
    reset = get(users_db, "reset-dead@example.com")
    assert (reset.reset_token_hash, reset.reset_created_at) == (None, None)
    assert get(users_db, "reset-open@example.com").reset_token_hash == token(6)

    again = run(app, "purge")
    assert all(line.endswith(": 0 removed") for line in again.output.splitlines())


@pytest.mark.parametrize("backend", ["memory", "redis"], indirect=True)
def test_purge_with_a_self_expiring_store(
    app: flask.Flask, users_db: UsersDB, clock: FakeClock
) -> None:
    add(users_db, "old-created@example.com", UserState.CREATED, created_at=at(clock, 8))
    result = run(app, "purge")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "Sessions: the session store drops expired ones by itself."
    )
    assert "never-verified accounts: 1 removed" in result.output
    assert get(users_db, "old-created@example.com") is None


def _benchmark(monkeypatch: pytest.MonkeyPatch) -> t.Any:
    """``benchmarks/purge.py``, which is no package."""
    path = Path(__file__).parents[2] / "benchmarks" / "purge.py"
    spec = importlib.util.spec_from_file_location("purge_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # for its ORM model
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_purge_in_batches_with_a_progress_bar(
    app: flask.Flask,
    store: CountingStore,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The benchmark's fill, small: 2,500 expired sessions go in three
    batches, with a progress bar; the live ones stay."""
    monkeypatch.setattr(users_cli, "PROGRESS_FROM", 100)
    sql = t.cast("t.Any", store.inner)
    fill = _benchmark(monkeypatch).fill
    fill(sql.engine, sql.table, 2500, expires_at=clock.now - 1)
    fill(sql.engine, sql.table, 10, expires_at=clock.now + DAY, start=2500)
    result = run(app, "purge")
    assert result.exit_code == 0, result.output
    assert "expired sessions" in result.output.splitlines()[0]  # the bar's label
    assert "expired sessions: 2500 removed" in result.output
    assert len(store.records()) == 10


# -- without the SQLAlchemy user store, without mail settings ------------------


class OtherStore:
    """A user store of the application's own (here wrapping SQLAlchemy)."""

    def __init__(self, db: UsersDB) -> None:
        self._inner = SQLAlchemyUserStore(db.model, db.session)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._inner, name)


def test_querying_commands_need_the_sqlalchemy_store(
    make_users_app: Callable[..., flask.Flask], users_db: UsersDB, clock: FakeClock
) -> None:
    app = make_users_app()
    app.extensions.pop("rivo_users")
    app.blueprints.pop("rivo_users")
    flask_app = flask.Flask(__name__)
    flask_app.config.update(app.config)
    RivoUsers(flask_app, user_store=t.cast("t.Any", OtherStore(users_db)))
    add(users_db, "old-created@example.com", UserState.CREATED, created_at=at(clock, 8))
    listed = run(flask_app, "list")
    assert listed.exit_code == 1
    assert "needs the SQLAlchemy user store" in listed.output
    purged = run(flask_app, "purge")
    assert purged.exit_code == 0
    assert "purging them needs the SQLAlchemy user store" in purged.output
    assert get(users_db, "old-created@example.com") is not None
    # Commands that only look users up work with any store.
    assert "State: created" in run(flask_app, "show", "old-created@example.com").output


def test_commands_work_without_mail_settings(
    make_users_app: Callable[..., flask.Flask], users_db: UsersDB
) -> None:
    app = make_users_app(
        user_model=users_db.model,
        db_session=users_db.session,
        drop=("RIVO_EXTERNAL_URL", "MAIL_SERVER", "MAIL_PORT", "MAIL_DEFAULT_SENDER"),
    )
    runner = app.test_cli_runner()
    routes = runner.invoke(flask.cli.cli, ["routes"])
    assert routes.exit_code == 0, routes.output
    assert "rivo_users.sessions" in routes.output
    add(users_db, "ann@example.com")
    listed = runner.invoke(flask.cli.cli, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "ann@example.com" in listed.output

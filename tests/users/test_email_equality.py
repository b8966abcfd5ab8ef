"""An email address compares exactly on every database (issue 9, item 2).

MariaDB's default collation (``utf8mb4_general_ci``) treats
``ann@exámple.com`` as ``ann@example.com``. Before the fix, one verified row
answered to every accented spelling of its domain, each spelling with fresh
throttle counters and a mail quota of its own. ``normalize_email`` keeps an
accented domain as it is typed (lower-cased, IDNA-checked), so those
spellings do reach the query; the ``EmailAddress`` column's binary collation
must then find no row. Run on SQLite, PostgreSQL and MariaDB, through the
real blueprint, with CSRF on and the real SMTP server.
"""

from __future__ import annotations

import typing as t
import uuid

import flask
import pytest
import sqlalchemy as sa
from backends import Backend
from backends import use
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from support import CountingStore
from support import FakeClock
from users_support import PASSWORD
from users_support import Browser
from users_support import Mailbox
from users_support import with_account_page

from flask_rivo import UserMixin
from flask_rivo import cuid
from flask_rivo.ids import counter_key
from flask_rivo.users.forms import normalize_email
from flask_rivo.users.throttle import MAIL_PER_HOUR

if t.TYPE_CHECKING:
    from collections.abc import Iterator

OWNER = "ann@example.com"
WRONG = "wrong horse battery"

_ACCENTS = {
    "a": "áàâäãåāăą",
    "e": "éèêëēĕėęě",
}


def accented_spellings() -> list[str]:
    """``ann@exámple.com``, ``ann@exãmple.com``, ``ann@examplé.com`` ...: the
    spellings of the owner's domain that MariaDB's general_ci folds to it."""
    local, domain = OWNER.split("@")
    found: list[str] = []
    for index, letter in enumerate(domain):
        for accented in _ACCENTS.get(letter, ""):
            spelling = f"{local}@{domain[:index]}{accented}{domain[index + 1 :]}"
            found.append(spelling)
    # Two letters at once, for more of them.
    for first in _ACCENTS["a"]:
        for second in _ACCENTS["e"][:4]:
            found.append(f"{local}@ex{first}mpl{second}.com")
    return found


SPELLINGS = accented_spellings()


def test_the_spellings_reach_the_query_as_typed() -> None:
    """The premise: each spelling is a valid address that normalize_email
    keeps (accented, distinct), so it is the database that must tell them
    apart; a spelling refused by the form would prove nothing."""
    assert len(SPELLINGS) >= 40
    assert len(set(SPELLINGS)) == len(SPELLINGS)
    for spelling in SPELLINGS:
        assert normalize_email(spelling) == spelling
        assert normalize_email(spelling.upper()) == spelling
        assert spelling != OWNER


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def users_db(
    request: pytest.FixtureRequest, backends: dict[str, Backend]
) -> Iterator[tuple[str, sa.Engine, type[t.Any], scoped_session[t.Any]]]:
    """A users table of this test's own on one database, dropped after.

    On MariaDB the table's default collation is utf8mb4_general_ci (Debian's
    default), so the email columns' own binary collation is what is tested.
    """
    name = t.cast("str", request.param)
    backend = backends[name]
    use(backend)
    engine = t.cast("t.Any", backend).engine

    class Base(DeclarativeBase):
        pass

    table_args: dict[str, str] = {}
    if name == "mariadb":
        table_args = {
            "mariadb_charset": "utf8mb4",
            "mariadb_collate": "utf8mb4_general_ci",
        }

    class Person(UserMixin, Base):
        __tablename__ = f"rivo_eq_{uuid.uuid4().hex[:12]}"
        __table_args__ = table_args
        id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)

    Base.metadata.create_all(engine)
    session = scoped_session(sessionmaker(engine))
    try:
        yield name, engine, Person, session
    finally:
        session.remove()
        Base.metadata.drop_all(engine)


@pytest.fixture
def eq_app(
    make_users_app: t.Callable[..., flask.Flask],
    users_db: tuple[str, sa.Engine, type[t.Any], scoped_session[t.Any]],
) -> flask.Flask:
    _name, _engine, model, session = users_db
    # Every guess below comes from an address of its own; the per-client
    # counters are tested elsewhere and would only hide the account's.
    app = make_users_app(
        user_model=model, db_session=session, RIVO_COSTLY_POSTS_PER_HOUR=1000
    )

    with_account_page(app)

    return app


def from_address(index: int) -> dict[str, t.Any]:
    return {"environ_overrides": {"REMOTE_ADDR": f"10.9.{index // 250}.{index % 250}"}}


def log_in(app: flask.Flask, address: str, password: str, index: int) -> t.Any:
    """A log-in from a new browser at client address number ``index``."""
    browser = Browser(app.test_client())
    fields = {"email": address, "password": password}
    answer = browser.submit("/login", fields, **from_address(index))
    answer.browser = browser
    return answer


def sign_up(app: flask.Flask, address: str, index: int) -> t.Any:
    fields = {"email": address, "password": PASSWORD, "password_confirm": PASSWORD}
    return Browser(app.test_client()).submit("/signup", fields, **from_address(index))


def recipients(mailbox: Mailbox) -> list[str]:
    return [
        address.addr_spec for m in mailbox.messages for address in m["To"].addresses
    ]


def make_owner(app: flask.Flask, mailbox: Mailbox, clock: FakeClock) -> None:
    """A verified account for OWNER, the mailbox emptied, and an hour gone
    (the sign-up's email was one of the address's quota)."""
    browser = Browser(app.test_client())
    assert browser.sign_up(OWNER).status_code == 200
    confirmed = browser.submit(mailbox.last_link(OWNER), {"password": PASSWORD})
    assert confirmed.status_code == 302
    mailbox.clear()
    clock.advance(3601)


def owner_id(session: scoped_session[t.Any], model: type[t.Any]) -> str:
    found = session.scalars(sa.select(model.id).where(model.email == OWNER)).one()
    session.remove()
    return str(found)


@pytest.mark.parametrize("users_db", ["mariadb"], indirect=True)
def test_mariadb_would_fold_the_spellings_but_the_column_does_not(
    users_db: tuple[str, sa.Engine, type[t.Any], scoped_session[t.Any]],
) -> None:
    """The setting of the issue is really there: the table's default is
    general_ci, which folds every spelling to the owner's address, and the
    email columns have a binary collation of their own."""
    _name, engine, model, _session = users_db
    table = model.__tablename__
    with engine.begin() as connection:
        connection.execute(
            sa.insert(model.__table__).values(
                id="x1", email=OWNER, password_hash="x", state="verified"
            )
        )
        default = connection.execute(
            sa.text(
                "SELECT TABLE_COLLATION FROM information_schema.TABLES"
                " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table},
        ).scalar_one()
        columns = dict(
            connection.execute(
                sa.text(
                    "SELECT COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS"
                    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
                    " AND COLUMN_NAME IN ('email', 'pending_email')"
                ),
                {"t": table},
            ).all()
        )
        folded = exact = 0
        for spelling in SPELLINGS:
            folded += connection.execute(
                sa.text(
                    f"SELECT COUNT(*) FROM {table}"  # noqa: S608 (our own name)
                    " WHERE email = :s COLLATE utf8mb4_general_ci"
                ),
                {"s": spelling},
            ).scalar_one()
            exact += connection.execute(
                sa.select(sa.func.count()).where(model.email == spelling)
            ).scalar_one()
    assert default == "utf8mb4_general_ci"
    assert columns == {"email": "utf8mb4_bin", "pending_email": "utf8mb4_bin"}
    assert folded == len(SPELLINGS)  # the default collation would find the row
    assert exact == 0


def test_accented_spellings_never_log_in(
    eq_app: flask.Flask,
    mailbox: Mailbox,
    clock: FakeClock,
    users_db: tuple[str, sa.Engine, type[t.Any], scoped_session[t.Any]],
) -> None:
    _name, engine, model, session = users_db
    make_owner(eq_app, mailbox, clock)
    queried: list[t.Any] = []

    def record(conn: t.Any, cursor: t.Any, statement: str, params: t.Any, *_: t.Any):
        if model.__tablename__ in statement:
            queried.append(params)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        for index, spelling in enumerate(SPELLINGS[:12]):
            answer = log_in(eq_app, spelling, PASSWORD, index)
            assert answer.status_code == 400, (spelling, answer.status_code)
            assert "Location" not in answer.headers
            assert answer.browser.get("/account").status_code == 302
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    # The spellings reached the database as typed: it told them apart.
    flat = repr(queried)
    for spelling in SPELLINGS[:12]:
        assert spelling in flat, spelling
    # ... and the owner's own spelling still logs in.
    owner = log_in(eq_app, OWNER, PASSWORD, 999)
    assert owner.status_code == 302
    assert owner.browser.get("/account").text == f"Account of {OWNER}"
    session.remove()


def test_accented_guesses_are_counted_as_the_unknown_addresses_they_are(
    eq_app: flask.Flask,
    mailbox: Mailbox,
    clock: FakeClock,
    store: CountingStore,
    users_db: tuple[str, sa.Engine, type[t.Any], scoped_session[t.Any]],
) -> None:
    _name, _engine, model, session = users_db
    make_owner(eq_app, mailbox, clock)
    account = counter_key("account", f"user:{owner_id(session, model)}")
    # 40 guesses, one per spelling, each from an address of its own.
    for index, spelling in enumerate(SPELLINGS[:40]):
        answer = log_in(eq_app, spelling, WRONG, index)
        assert answer.status_code == 400, (spelling, answer.status_code)
        counted = store.load(counter_key("account", f"email:{spelling}"))
        assert counted is not None, spelling
        assert counted.data["count"] == "1"
    # None of them touched the owner's account: its counter does not exist.
    assert store.load(account) is None
    # One spelling, guessed again and again, is throttled as any unknown
    # address is: after the free allowance, even its "right" password waits.
    spelling = SPELLINGS[0]
    free = eq_app.config["RIVO_LOGIN_FREE_ATTEMPTS"]
    for index in range(free - 1):
        assert log_in(eq_app, spelling, WRONG, 100 + index).status_code == 400
    refused = log_in(eq_app, spelling, PASSWORD, 200)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert store.load(account) is None
    # The owner's account was never the one guessed at: it logs in at once.
    assert log_in(eq_app, OWNER, PASSWORD, 300).status_code == 302


def test_accented_sign_ups_send_the_owner_nothing_past_the_quota(
    eq_app: flask.Flask,
    mailbox: Mailbox,
    clock: FakeClock,
    users_db: tuple[str, sa.Engine, type[t.Any], scoped_session[t.Any]],
) -> None:
    _name, _engine, model, session = users_db
    make_owner(eq_app, mailbox, clock)
    spellings = SPELLINGS[:32]
    for index, address in enumerate([OWNER] * MAIL_PER_HOUR + spellings):
        answer = sign_up(eq_app, address, index)
        assert answer.status_code == 200, (address, answer.status_code)
    sent = recipients(mailbox)
    assert sent.count(OWNER) == MAIL_PER_HOUR
    # Every spelling is an address of its own: a new account, whose
    # verification email goes to it (IDNA-encoded), never to the owner.
    rows = session.scalars(sa.select(model.email)).all()
    session.remove()
    assert sorted(rows) == sorted([OWNER, *spellings])
    assert len(sent) == MAIL_PER_HOUR + len(spellings)
    assert all(address.startswith("ann@xn--") for address in sent[MAIL_PER_HOUR:])

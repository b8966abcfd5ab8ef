"""The example application: a tiny shop with user accounts.

It shows what flask_rivo changes for an application. The cart lives in
:data:`flask.session` and messages go through :func:`flask.flash`, exactly as
with Flask's cookie session, yet the browser only ever holds a random
session ID (:class:`flask_rivo.RivoSessions`). :class:`flask_rivo.RivoUsers`
adds sign-up with email verification, log-in and log-out; the shop itself
only adds a user model, a page behind :func:`flask_rivo.login_required`, and
its own ``templates/rivo/base.html``, which replaces flask_rivo's layout so
that the shop and the account pages look alike.

Run it with no setup at all (``make demo`` does the same)::

    flask --app example.app run --debug

Users and sessions go into the SQLite file ``instance/example.sqlite3``
(sessions into Redis if ``REDIS_URL`` is set). With no
``MAIL_SERVER`` in debug mode, emails are written to the terminal instead of
sent: open the link from there to confirm a new account.

Settings come from the environment (``RIVO_*``, ``SECRET_KEY``,
``DATABASE_URL``, ``REDIS_URL``, ``MAIL_SERVER``, ``MAIL_PORT``), then from
the ``config`` given to :func:`create_app`, which wins.
"""

from __future__ import annotations

import math
import os
import secrets
import typing as t
from datetime import datetime
from datetime import timezone
from types import MappingProxyType

import sqlalchemy as sa
from flask import Flask
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_wtf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker

from flask_rivo import RivoSessions
from flask_rivo import RivoUsers
from flask_rivo import UserMixin
from flask_rivo import cuid
from flask_rivo import current_user
from flask_rivo import login_required
from flask_rivo.stores.sqlalchemy import database_url
from flask_rivo.users.errors import error_page

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from werkzeug import Response

#: Environment variables copied into the config under the same name when set.
#: With ``REDIS_URL`` the sessions go to Redis; without it, into the database.
PASSTHROUGH_ENV = ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT")

#: The SQLite file in the instance folder that holds the users when
#: ``DATABASE_URL`` is not set.
DEFAULT_DATABASE = "example.sqlite3"

#: How many of one product a cart may hold, so a script that posts the
#: "Add to cart" form in a loop cannot grow the session record without bound.
MAX_QUANTITY = 99


class Product(t.NamedTuple):
    """One thing the shop sells. Prices are in cents, so sums stay exact."""

    name: str
    price: int


#: The catalogue, keyed by the product ID the forms post. A fixed mapping is
#: enough for a demo, and a read-only one cannot be changed by a view.
PRODUCTS: Mapping[str, Product] = MappingProxyType(
    {
        "tea": Product("Green tea, 100 g", 450),
        "mug": Product("Stoneware mug", 1200),
        "honey": Product("Forest honey, 250 g", 780),
        "biscuits": Product("Oat biscuits", 325),
    }
)


class Base(DeclarativeBase):
    """The base of the shop's models (plain SQLAlchemy, no Flask-SQLAlchemy)."""


class User(UserMixin, Base):
    """A customer. :class:`~flask_rivo.UserMixin` brings the columns the
    account pages need (email, password hash, state, tokens, timestamps);
    the primary key is ours: a CUID, which reveals nothing about how many
    customers the shop has, unlike 1, 2, 3."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(25), primary_key=True, default=cuid)


class Database(t.NamedTuple):
    """The app's database: kept in ``app.extensions["example_db"]``."""

    engine: sa.Engine
    session: scoped_session[t.Any]


def env_value(text: str) -> bool | int | float | str | None:
    """Turn an environment string into the Python value a config key expects.

    Environment variables are always strings, but the settings they feed are
    not: ``RIVO_SESSION_IDLE_TIMEOUT=120`` must reach flask_rivo as the number
    120, which rejects the string ``"120"``. Whole numbers become ``int``,
    other finite numbers ``float``, ``true``/``false`` (any case) ``bool``,
    ``none`` ``None`` (for the keys where ``None`` means "no limit"), and
    everything else stays the string it was.
    """
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        number = float(stripped)
    except ValueError:
        return text
    # "nan" and "inf" parse as floats, but nobody means a number by them.
    return number if math.isfinite(number) else text


def config_from_env(environ: Mapping[str, str]) -> dict[str, t.Any]:
    """Collect the settings this application takes from ``environ``.

    Every ``RIVO_*`` variable is read through :func:`env_value`; ``MAIL_PORT``
    too, since a port is a number. The URLs and the mail server stay strings.
    """
    config: dict[str, t.Any] = {}
    for key, value in environ.items():
        if key.startswith("RIVO_"):
            config[key] = env_value(value)
    for key in PASSTHROUGH_ENV:
        if key in environ:
            value = environ[key]
            config[key] = env_value(value) if key == "MAIL_PORT" else value
    if "SECRET_KEY" in environ:
        config["SECRET_KEY"] = environ["SECRET_KEY"]
    return config


def money(cents: int) -> str:
    """Format an amount in cents for display, e.g. ``1234`` as ``$12.34``."""
    return f"${cents // 100:,}.{cents % 100:02d}"


def cart_lines(cart: Mapping[str, int]) -> list[tuple[str, Product, int]]:
    """List the cart as (product ID, product, quantity), in catalogue order.

    IDs no longer in the catalogue are skipped, so a product withdrawn while
    it sat in somebody's cart does not break their page.
    """
    return [
        (product_id, product, cart[product_id])
        for product_id, product in PRODUCTS.items()
        if cart.get(product_id, 0) > 0
    ]


def when(moment: datetime | None) -> str:
    """Format a stored time for display, e.g. ``3 May 2025, 14:05 UTC``.

    SQLite hands back times without their time zone; flask_rivo stores them
    in UTC, so a naive time is read as UTC.
    """
    if moment is None:
        return "never"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def open_database(url: str) -> Database:
    """An engine for ``url`` and a request-scoped SQLAlchemy session on it.

    Connecting waits until the first query, so a bad configuration found
    later in :func:`create_app` leaves no database file behind.
    """
    engine = sa.create_engine(url)
    return Database(engine, scoped_session(sessionmaker(engine)))


def create_app(config: Mapping[str, t.Any] | None = None) -> Flask:
    """Build the example application.

    :param config: settings applied last, over the defaults and the
        environment; tests pass ``{"TESTING": True}`` and the like here.
    :raises flask_rivo.ConfigError: for a bad ``RIVO_*`` value.
    """
    app = Flask(__name__)
    # Defaults that make ``flask run`` work with no environment at all. The
    # session needs no secret key (its cookie is a random ID, not signed
    # data), but Flask-WTF signs its CSRF tokens with one. A key made up at
    # start invalidates open forms on every restart, which is fine for a
    # demo; set SECRET_KEY when running more than one process.
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["RIVO_SITE_NAME"] = "Rivo Shop"
    # RIVO_EXTERNAL_URL is not set here. In debug mode (``flask run
    # --debug``) links in emails follow the host and port the browser used.
    # Anywhere else, without RIVO_EXTERNAL_URL or SERVER_NAME,
    # the pages that email links answer 503 and the log says what to set: a
    # guessed address would send customers' verification and reset links
    # astray. The app itself, and its flask commands, start without it.
    app.config.update(config_from_env(os.environ))
    if config is not None:
        app.config.update(config)
    default_database = "DATABASE_URL" not in app.config
    if default_database:
        path = os.path.join(app.instance_path, DEFAULT_DATABASE)
        app.config["DATABASE_URL"] = f"sqlite:///{path}"
    # Sessions live beside the users, so they survive restarts (the debug
    # reloader restarts on every edit), or in Redis when REDIS_URL says where.
    # RIVO_SESSION_STORE in the environment or the config wins.
    if "REDIS_URL" in app.config:
        app.config.setdefault("RIVO_SESSION_STORE", "redis")
        app.config.setdefault("RIVO_SESSION_STORE_URL", app.config["REDIS_URL"])
    else:
        app.config.setdefault("RIVO_SESSION_STORE", "sqlalchemy")
        app.config.setdefault("RIVO_SESSION_STORE_URL", app.config["DATABASE_URL"])

    # A relative SQLite path means the instance folder, for the users as for
    # the sessions (and as with Flask-SQLAlchemy), so both use one file.
    database = open_database(
        database_url(app.config["DATABASE_URL"], app.instance_path)
    )
    app.extensions["example_db"] = database

    @app.teardown_appcontext
    def remove_db_session(error: BaseException | None) -> None:
        """End the request's SQLAlchemy session, committed or not."""
        database.session.remove()

    CSRFProtect(app)
    RivoSessions(app)
    RivoUsers(app, user_model=User, db_session=database.session)
    # The shop's 404s in the site's layout, as the account pages' own are.
    app.register_error_handler(404, error_page)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["when"] = when

    # Creating the tables at start is fine for a demo. A real site changes
    # its schema with migrations (such as Alembic) instead.
    if default_database:
        os.makedirs(app.instance_path, exist_ok=True)
    Base.metadata.create_all(database.engine)

    @app.get("/")
    def index() -> str:
        """Who is logged in, the catalogue with an "Add to cart" form for
        each product, and the cart."""
        lines = cart_lines(session.get("cart", {}))
        total = sum(product.price * quantity for _, product, quantity in lines)
        return render_template(
            "index.html",
            products=PRODUCTS,
            lines=lines,
            total=total,
            max_quantity=MAX_QUANTITY,
        )

    @app.get("/account")
    @login_required
    def account() -> str:
        """The logged-in customer's own page; others go to the log-in page."""
        return render_template("account.html", user=current_user)

    @app.post("/cart/add")
    def cart_add() -> Response:
        """Put one more of the posted product into the cart.

        The product ID comes from the client, so anything not in the
        catalogue is a bad request (400), never an error of ours (500).
        """
        product_id = request.form.get("product", "")
        product = PRODUCTS.get(product_id)
        if product is None:
            abort(400)
        # A copy, assigned back: changing the stored dict in place would not
        # tell the session that anything changed.
        cart: dict[str, int] = dict(session.get("cart", {}))
        quantity = cart.get(product_id, 0)
        if quantity >= MAX_QUANTITY:
            flash(
                f"Your cart already holds {MAX_QUANTITY} of {product.name},"
                " the most one order may have.",
                "error",
            )
        else:
            cart[product_id] = quantity + 1
            session["cart"] = cart
            flash(f"Added {product.name} to your cart.", "success")
        return redirect(url_for("index"))

    @app.post("/cart/clear")
    def cart_clear() -> Response:
        """Empty the cart by removing it from the session altogether."""
        session.pop("cart", None)
        flash("Your cart is empty now.", "success")
        return redirect(url_for("index"))

    return app

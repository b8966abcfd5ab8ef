"""The example application: a tiny shop whose cart lives in the session.

It shows what :class:`flask_rivo.RivoSessions` changes for an application:
nothing. The views use :data:`flask.session` and :func:`flask.flash` as they
would with Flask's cookie session, yet the browser only ever holds a random
session ID; the cart itself stays on the server.

Run it with no setup at all::

    flask --app example.app run --debug

Settings come from the environment (``RIVO_*``, ``SECRET_KEY``, and for later
releases ``DATABASE_URL``, ``REDIS_URL``, ``MAIL_SERVER``, ``MAIL_PORT``),
then from the ``config`` given to :func:`create_app`, which wins.
"""

from __future__ import annotations

import math
import os
import secrets
import typing as t
from types import MappingProxyType

from flask import Flask
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_wtf import CSRFProtect

from flask_rivo import RivoSessions

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    from werkzeug import Response

#: Environment variables copied into the config under the same name when set.
#: Later releases use them; this one only passes them through.
PASSTHROUGH_ENV = ("DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "MAIL_PORT")

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


def create_app(config: Mapping[str, t.Any] | None = None) -> Flask:
    """Build the example application.

    :param config: settings applied last, over the defaults and the
        environment; tests pass ``{"TESTING": True}`` and the like here.
    """
    app = Flask(__name__)
    # Defaults that make ``flask run`` work with no environment at all. The
    # session needs no secret key (its cookie is a random ID, not signed
    # data), but Flask-WTF signs its CSRF tokens with one. A key made up at
    # start invalidates open forms on every restart, which is fine for a
    # demo; set SECRET_KEY when running more than one process.
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["RIVO_SITE_NAME"] = "Rivo Shop"
    app.config.update(config_from_env(os.environ))
    if config is not None:
        app.config.update(config)

    CSRFProtect(app)
    RivoSessions(app)
    app.jinja_env.filters["money"] = money

    @app.get("/")
    def index() -> str:
        """The catalogue, each product with its own "Add to cart" form, and the cart."""
        lines = cart_lines(session.get("cart", {}))
        total = sum(product.price * quantity for _, product, quantity in lines)
        return render_template(
            "index.html",
            products=PRODUCTS,
            lines=lines,
            total=total,
            max_quantity=MAX_QUANTITY,
        )

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

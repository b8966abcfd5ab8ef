"""RivoSessions as a drop-in for Flask's own session."""

from __future__ import annotations

import json
import re
import typing as t
import uuid
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import flask
import pytest
from markupsafe import Markup
from support import CountingStore
from support import cookie_value

from flask_rivo import RivoSessions

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient


@pytest.mark.every_store
def test_tagged_types_survive_the_store(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    now = datetime(2026, 11, 26, 12, 30, tzinfo=timezone.utc)
    ident = uuid.uuid4()
    values = {
        "tuple": (1, 2, 3),
        "bytes": b"\x00\xff binary",
        "markup": Markup("<b>bold</b>"),
        "uuid": ident,
        "datetime": now,
        "nested": {" t": ["looks", "like", "a", "tag"], "list": [1, (2, 3)]},
        "unicode": "Grüße, 世界 🎉",
        "number": 1.5,
        "none": None,
    }

    @app.get("/put")
    def put() -> str:
        flask.session.update(values)
        return "ok"

    @app.get("/check")
    def check() -> str:
        got = {key: flask.session[key] for key in values}
        return "same" if got == values and type(got["tuple"]) is tuple else repr(got)

    client.get("/put")
    assert client.get("/check").text == "same"
    client.get("/put")  # unchanged values: no write, still the same
    assert client.get("/check").text == "same"
    stored = json.dumps(dict(next(iter(store.records().values())).data))
    assert "pickle" not in stored and "\\u0080" not in stored
    for value in next(iter(store.records().values())).data.values():
        json.loads(value)  # every value is JSON text, never pickle


def test_flash_messages(app: flask.Flask, client: FlaskClient) -> None:
    @app.get("/flash")
    def flash() -> str:
        flask.flash("Saved", "info")
        flask.flash(Markup("<em>Careful</em>"), "warning")
        return "ok"

    @app.get("/messages")
    def messages() -> str:
        return json.dumps(flask.get_flashed_messages(with_categories=True))

    client.get("/flash")
    assert json.loads(client.get("/messages").text) == [
        ["info", "Saved"],
        ["warning", "<em>Careful</em>"],
    ]
    assert client.get("/messages").text == "[]"


def expires_of(header: str) -> datetime | None:
    match = re.search(r"Expires=([^;]+)", header)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=timezone.utc
    )


def test_permanent_session_cookie_lives_for_the_permanent_lifetime(
    app: flask.Flask, client: FlaskClient
) -> None:
    app.permanent_session_lifetime = timedelta(days=3)

    @app.get("/remember")
    def remember() -> str:
        flask.session.permanent = True
        flask.session["user"] = "ann"
        return "ok"

    expires = expires_of(client.get("/remember").headers["Set-Cookie"])
    assert expires is not None
    expected = datetime.now(timezone.utc) + timedelta(days=3)
    assert abs((expires - expected).total_seconds()) < 60
    # Refreshed on each request by default, as Flask does:
    assert "Set-Cookie" in client.get("/get/user").headers
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert "Set-Cookie" not in client.get("/get/user").headers


def test_plain_session_cookie_ends_with_the_browser(client: FlaskClient) -> None:
    header = client.get("/set/a/1").headers["Set-Cookie"]
    assert expires_of(header) is None
    assert "Set-Cookie" not in client.get("/get/a").headers


def test_vary_cookie_whenever_the_session_is_read(
    app: flask.Flask, client: FlaskClient
) -> None:
    @app.get("/has")
    def has() -> str:
        return str("a" in flask.session)

    client.get("/set/a/1")
    for path in ("/get/a", "/has", "/set/a/2"):
        assert client.get(path).headers["Vary"] == "Cookie"
    assert "Vary" not in client.get("/nothing").headers


@pytest.mark.parametrize(
    "own",
    [
        ["Accept-Language"],
        ["Cookie"],
        ["Accept-Language", "Accept-Encoding"],
        ["Accept-Language", "Cookie"],
        ["accept-language, cookie"],
    ],
)
def test_vary_cookie_joins_the_views_own_vary(
    app: flask.Flask, client: FlaskClient, own: list[str]
) -> None:
    """A view's own ``Vary`` headers stay, joined into one with ``Cookie``
    named once (Werkzeug's ``vary.add`` would keep only the first)."""

    @app.get("/varies")
    def varies() -> flask.Response:
        response = flask.make_response(str(flask.session.get("a")))
        for name in own:
            response.headers.add("Vary", name)
        return response

    client.get("/set/a/1")
    [header] = client.get("/varies").headers.getlist("Vary")  # one, as Flask's
    named = [name.strip().lower() for name in header.split(",")]
    expected = {n.strip().lower() for names in own for n in names.split(",")}
    assert sorted(named) == sorted(expected | {"cookie"})


def test_vary_star_stays_alone(app: flask.Flask, client: FlaskClient) -> None:
    """``Vary: *`` already covers the cookie, and may not be listed with
    other names (RFC 9110, 12.5.5)."""

    @app.get("/varies-all")
    def varies_all() -> flask.Response:
        response = flask.make_response(str(flask.session.get("a")))
        response.headers.add("Vary", "Accept-Language")
        response.headers.add("Vary", "*")
        return response

    client.get("/set/a/1")
    assert client.get("/varies-all").headers.getlist("Vary") == ["*"]


def test_session_transaction(client: FlaskClient) -> None:
    with client.session_transaction() as session:
        session["basket"] = ["tea"]
    assert client.get("/get/basket").text == "['tea']"
    with client.session_transaction() as session:
        assert session["basket"] == ["tea"]
        session["basket"] = ["tea", "milk"]
    assert client.get("/get/basket").text == "['tea', 'milk']"


def test_no_secret_key_needed() -> None:
    app = flask.Flask(__name__)
    assert app.secret_key is None
    RivoSessions(app)

    @app.get("/")
    def index() -> str:
        flask.session["n"] = flask.session.get("n", 0) + 1
        return str(flask.session["n"])

    client = app.test_client()
    assert client.get("/").text == "1"
    assert client.get("/").text == "2"


def test_config_completed_after_init_is_honoured(clock: t.Any) -> None:
    app = flask.Flask(__name__)
    RivoSessions(app)
    app.extensions["rivo_sessions"].clock = clock
    app.config.update(
        SESSION_COOKIE_NAME="late",
        RIVO_SESSION_IDLE_TIMEOUT=timedelta(minutes=5),
    )

    @app.get("/")
    def index() -> str:
        flask.session["n"] = flask.session.get("n", 0) + 1
        return str(flask.session["n"])

    client = app.test_client()
    response = client.get("/")
    assert cookie_value(response, "late")
    assert client.get("/").text == "2"
    clock.advance(301)
    assert client.get("/").text == "1"


def test_one_extension_serves_several_apps() -> None:
    ext = RivoSessions()
    apps = [flask.Flask(f"app{i}") for i in range(2)]
    for app in apps:
        ext.init_app(app)

        @app.get("/")
        def index() -> str:
            flask.session["n"] = flask.session.get("n", 0) + 1
            return str(flask.session["n"])

    first, second = (app.test_client() for app in apps)
    assert first.get("/").text == "1"
    assert first.get("/").text == "2"
    assert second.get("/").text == "1"
    stores = [app.extensions["rivo_sessions"].configure(app.config)[1] for app in apps]
    assert stores[0] is not stores[1]
    assert len(stores[0]) == len(stores[1]) == 1  # type: ignore[arg-type]


def test_custom_interface_picks_the_cookie_name_per_request() -> None:
    from flask_rivo import RivoSessionInterface

    class ByPath(RivoSessionInterface):
        def get_cookie_name(self, app: flask.Flask) -> str:
            return "admin" if flask.request.path.startswith("/admin") else "public"

    class Sessions(RivoSessions):
        interface_class = ByPath

    app = flask.Flask(__name__)
    Sessions(app)

    @app.get("/<path:anything>")
    def index(anything: str) -> str:
        flask.session["where"] = anything
        return "ok"

    client = app.test_client()
    assert cookie_value(client.get("/admin/x"), "admin")
    assert cookie_value(client.get("/shop"), "public")


@pytest.mark.parametrize("seconds", [30, 30.5, timedelta(seconds=30)])
def test_durations_accept_numbers_and_timedeltas(seconds: object) -> None:
    app = flask.Flask(__name__)
    app.config["RIVO_SESSION_ID_GRACE"] = seconds
    RivoSessions(app)
    settings, _ = app.extensions["rivo_sessions"].configure(app.config)
    assert settings.id_grace == pytest.approx(
        float(getattr(seconds, "total_seconds", lambda: seconds)())
    )

"""The fast codec writes exactly what Flask's serializer writes, and reads it back."""

from __future__ import annotations

import datetime
import typing as t
import uuid

import flask
import pytest
from flask.json.provider import DefaultJSONProvider
from flask.json.tag import JSONTag
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import session_json_serializer
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from markupsafe import Markup

from flask_rivo.codec import Codecs

if t.TYPE_CHECKING:
    from support import CountingStore

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.uuids()
    | st.builds(Markup, st.text())
    | st.datetimes(timezones=st.just(datetime.timezone.utc)).map(
        lambda d: d.replace(microsecond=0)
    )
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def app_with(**provider: t.Any) -> flask.Flask:
    app = flask.Flask(__name__)
    for name, value in provider.items():
        setattr(app.json, name, value)
    return app


@settings(max_examples=300, deadline=None)
@given(value=values, ensure_ascii=st.booleans(), sort_keys=st.booleans())
def test_the_text_is_flasks_byte_for_byte_and_reads_back(
    value: t.Any, ensure_ascii: bool, sort_keys: bool
) -> None:
    app = app_with(ensure_ascii=ensure_ascii, sort_keys=sort_keys)
    codec = Codecs()(session_json_serializer, app.json)
    with app.app_context():
        expected = session_json_serializer.dumps(value)
        assert codec.dumps(value) == expected
        assert codec.loads(expected) == session_json_serializer.loads(expected)


def test_a_change_of_the_providers_settings_is_followed() -> None:
    app, codecs = app_with(), Codecs()
    value = {"b": "é", "a": 1}
    assert codecs(session_json_serializer, app.json).dumps(value) == (
        '{"a":1,"b":"\\u00e9"}'
    )
    app.json.ensure_ascii, app.json.sort_keys = False, False  # type: ignore[attr-defined]
    assert codecs(session_json_serializer, app.json).dumps(value) == '{"b":"é","a":1}'


class Shouting(DefaultJSONProvider):
    """A provider of the application's own: it must be used as it is."""

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        return super().dumps(obj, **kwargs).upper()


def test_a_provider_of_the_apps_own_is_used_as_it_is() -> None:
    app = flask.Flask(__name__)
    app.json = Shouting(app)
    codec = Codecs()(session_json_serializer, app.json)
    with app.app_context():
        assert codec.dumps("quiet") == '"QUIET"'


class Everything(JSONTag):
    """A tag of the application's own that claims every string."""

    key = " s"

    def check(self, value: t.Any) -> bool:
        return isinstance(value, str)

    def to_json(self, value: t.Any) -> t.Any:
        return value[::-1]

    def to_python(self, value: t.Any) -> t.Any:
        return value[::-1]


def test_tags_the_application_registers_apply_to_plain_values_too() -> None:
    serializer = TaggedJSONSerializer()
    serializer.register(Everything, index=0)
    app = flask.Flask(__name__)
    codec = Codecs()(serializer, app.json)
    with app.app_context():
        assert codec.dumps("abc") == serializer.dumps("abc") == '{" s":"cba"}'
        assert codec.loads('{" s":"cba"}') == "abc"


def test_changes_in_place_and_to_equal_values_of_other_types_are_saved(
    client: t.Any, app: flask.Flask, store: CountingStore
) -> None:
    """A value that is still the object loaded is not encoded again: only
    immutable ones, so a list changed in place is written, and so is a value
    swapped for an equal one that reads back as another type."""

    @app.get("/fill")
    def fill() -> str:
        flask.session.update(items=[1], flag=True, name="ann", n=1)
        return "ok"

    @app.get("/change")
    def change() -> str:
        flask.session["items"].append(2)
        flask.session["flag"] = 1  # == True, but not the same value
        flask.session["name"] = "".join(["a", "nn"])  # equal, another object
        flask.session.modified = True
        return "ok"

    @app.get("/show")
    def show() -> str:
        return repr(sorted(flask.session.items()))

    client.get("/fill")
    store.calls.clear()
    client.get("/change")
    assert store.calls == ["load", "save"]
    assert client.get("/show").text == repr(
        [("flag", 1), ("items", [1, 2]), ("n", 1), ("name", "ann")]
    )


@pytest.mark.parametrize("value", [uuid.UUID(int=7), b"\x00", ("a", 1)])
def test_tagged_values_keep_their_type_through_a_store(
    client: t.Any, app: flask.Flask, value: object
) -> None:
    @app.get("/put")
    def put() -> str:
        flask.session["v"] = value
        return "ok"

    @app.get("/type")
    def type_() -> str:
        got = flask.session["v"]
        return f"{type(got).__name__} {got == value}"

    client.get("/put")
    assert client.get("/type").text == f"{type(value).__name__} True"

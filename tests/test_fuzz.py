"""Hostile input never gives a 5xx."""

from __future__ import annotations

import dataclasses
import typing as t

import flask
from flask.sessions import session_json_serializer
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from flask_rivo.ids import new_session_id
from flask_rivo.ids import session_key

#: What may arrive in a Cookie header: any byte, as WSGI hands it over
#: (latin-1 decoded), short or huge.
cookie_values = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(max_size=300),
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=43,
        max_size=43,
    ),
    st.integers(1, 20000).map(lambda n: "A" * n),
    st.builds(lambda s: s[:-1] + "é", st.just(new_session_id())),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=cookie_values)
def test_garbage_cookie_values_never_give_a_5xx(app: flask.Flask, value: str) -> None:
    client = app.test_client()
    header = "session=" + value.replace("\r", "").replace("\n", "")
    for path in ("/get/a", "/set/a/1", "/nothing"):
        response = client.get(path, environ_overrides={"HTTP_COOKIE": header})
        assert response.status_code < 500
    # A session that was begun anyway got a fresh ID, never the one sent.
    cookie = client.get_cookie("session")
    assert cookie is None or cookie.value != value


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key=st.text(min_size=1, max_size=50).filter(lambda k: "/" not in k),
    value=st.text(min_size=1, max_size=200).filter(lambda v: "/" not in v),
)
def test_any_text_round_trips(app: flask.Flask, key: str, value: str) -> None:
    client = app.test_client()
    with client.session_transaction() as session:
        session[key] = value
    with client.session_transaction() as session:
        assert session[key] == value


#: Stored values Flask's tagged JSON cannot decode: each tag's decoder fails
#: its own way (TypeError, AttributeError, ValueError ...).
stored_values = st.one_of(
    st.sampled_from(['{" di": 5}', '{" u": [1]}', '{" d": 7}', '{" b": 5}', "{"]),
    st.builds(
        lambda tag, inner: '{"%s": %s}' % (tag, inner),  # noqa: UP031
        st.sampled_from([" t", " di", " b", " m", " u", " d", " l"]),
        st.sampled_from(["5", "[1]", "{}", '"x"', "null", "[[1,2]]", '"!!"']),
    ),
)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=stored_values)
def test_an_unreadable_stored_value_never_gives_a_5xx(
    app: flask.Flask, store: t.Any, stored: str
) -> None:
    client = app.test_client()
    client.get("/set/cart/apples")
    cookie = client.get_cookie("session")
    assert cookie is not None
    key = session_key(cookie.value)  # the store is shared by the examples
    record = store.inner.load(key)
    broken = dataclasses.replace(
        record, data={**record.data, "cart": stored}, version=record.version + 1
    )
    store.inner.save(key, broken, record.version)
    response = client.get("/get/cart")
    assert response.status_code == 200
    try:
        readable = repr(session_json_serializer.loads(stored))
    except Exception:
        assert response.text == "None"
        assert store.inner.load(key) is None  # dropped, not served half-read
    else:
        assert response.text == readable

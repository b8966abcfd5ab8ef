"""Hostile input never gives a 5xx."""

from __future__ import annotations

import flask
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from flask_rivo.ids import new_session_id

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

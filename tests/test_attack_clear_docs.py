"""Attack: the docs said ``session.clear()`` keeps ``session.user_id`` (so
the session lives on, still the user's), but the code detaches the user, as
Flask applications log out with ``clear()``. An application written to the
docs (``clear()`` to reset a logged-in user's data, keeping them logged in)
logged its users out; one auditing its log-out trusted the wrong rule."""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

import flask

if t.TYPE_CHECKING:
    from flask.testing import FlaskClient
    from support import CountingStore

DOCS = Path(__file__).parent.parent / "docs"


def test_clear_detaches_the_user_even_when_data_follows(
    app: flask.Flask, client: FlaskClient, store: CountingStore
) -> None:
    @app.get("/clear-and-flash")
    def clear_and_flash() -> str:
        flask.session.clear()
        flask.flash("bye")
        return repr(flask.session.user_id)

    client.get("/login/9")
    assert client.get("/clear-and-flash").text == "None"
    assert store.user_sessions("9") == []


def test_the_docs_say_what_clear_does() -> None:
    for page in ("sessions.rst", "quickstart.rst"):
        text = " ".join((DOCS / page).read_text().split())
        wrong = re.search(r"clear\(\)`` empties the data but (keeps|leaves)", text)
        assert wrong is None, page

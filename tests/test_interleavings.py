"""Two requests of one session, run concurrently, every combination.

Each request opens the session, does one thing, and saves; the two saves
happen in either order, with the ID due for rotation or not, for an
anonymous and a logged-in session. The browser keeps whatever cookie the
responses leave, in the order they were saved. Whatever happens, the rules
hold: a destroyed session never comes back, a log-in is never undone by a
parallel request, and changes to different keys are never lost.
"""

from __future__ import annotations

import itertools
import typing as t

import flask
import pytest
from support import CountingStore
from support import FakeClock
from support import cookie_value
from support import open_session
from support import save_session

OPS = ("nothing", "set", "pop", "regenerate", "login", "destroy")

# Every test here runs on every store.
pytestmark = pytest.mark.every_store


def act(session: t.Any, op: str, name: str) -> None:
    if op == "set":
        session[f"own_{name}"] = name
    elif op == "pop":
        session.pop("shared", None)
    elif op == "regenerate":  # a change of privilege that keeps the user
        session.regenerate()
        session[f"own_{name}"] = name
    elif op == "login":
        session.regenerate()
        session.user_id = f"u_{name}"
        session[f"own_{name}"] = name
    elif op == "destroy":
        session.destroy()


CASES = [
    (a, b, order, rotate, user)
    for a, b in itertools.product(OPS, OPS)
    for order, rotate, user in itertools.product(
        ("AB", "BA"), (False, True), (None, "u0")
    )
]


@pytest.mark.parametrize(("op_a", "op_b", "order", "rotate", "user"), CASES)
def test_two_concurrent_requests(
    app: flask.Flask,
    store: CountingStore,
    clock: FakeClock,
    op_a: str,
    op_b: str,
    order: str,
    rotate: bool,
    user: str | None,
) -> None:
    client = app.test_client()
    if user is not None:
        client.get(f"/login/{user}")
    client.get("/set/shared/1")
    cookie = client.get_cookie("session")
    assert cookie is not None
    browser = cookie.value
    if rotate:
        clock.advance(3601)
    sessions = {"A": open_session(app, browser), "B": open_session(app, browser)}
    ops = {"A": op_a, "B": op_b}
    for name in "AB":
        act(sessions[name], ops[name], name)
    for name in order:
        value = cookie_value(save_session(app, sessions[name]))
        if value is not None:
            browser = value  # "" when the response deleted the cookie

    final = open_session(app, browser) if browser else None
    data = {} if final is None else dict(final)
    final_user = None if final is None else final.user_id
    last = order[1]
    by_op = {op: name for name, op in ops.items()}

    # 1. A destroyed session never comes back: not its data, not its user.
    if "destroy" in by_op:
        assert "shared" not in data
        if user is not None:
            assert final_user != user

    # 2. A log-in is never undone by a parallel request of the old session.
    logins = [name for name in "AB" if ops[name] == "login"]
    if logins:
        # Two log-ins at once (a double submit): the later response wins.
        winner = last if len(logins) == 2 else logins[0]
        if "destroy" not in by_op or by_op["destroy"] == order[0]:
            assert final_user == f"u_{winner}"
            assert data.get(f"own_{winner}") == winner

    # 3. Without a change of privilege, no change is lost.
    privileged = {"regenerate", "login", "destroy"}
    if not privileged & set(ops.values()):
        for name in "AB":
            if ops[name] == "set":
                assert data.get(f"own_{name}") == name, data
        assert ("shared" in data) == ("pop" not in ops.values())
        assert final_user == user

    # 4. A privilege change that saves last carries the other's change over.
    for name, other in (("A", "B"), ("B", "A")):
        if (
            ops[name] == "regenerate"
            and name == last
            and ops[other] in ("set", "nothing")
        ):
            assert data.get(f"own_{name}") == name
            if ops[other] == "set":
                assert data.get(f"own_{other}") == other
            assert final_user == user

"""The ``any_store`` fixture: one conformance suite, run against every store."""

from __future__ import annotations

import time
import typing as t

import pytest
from backends import ALL
from backends import Backend
from backends import use

from flask_rivo.stores import SessionStore


@pytest.fixture(params=ALL)
def any_store(
    request: pytest.FixtureRequest, backends: dict[str, Backend]
) -> t.Iterator[SessionStore]:
    kind = backends[request.param]
    use(kind)
    store = kind.make(time.time)
    yield store
    kind.clear(store)
    store.close()

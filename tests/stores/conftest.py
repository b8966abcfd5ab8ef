"""The ``any_store`` fixture: one conformance suite, run against every store.

The store issue adds SQLite, PostgreSQL, MariaDB and Redis to ``STORES``.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_rivo.stores import MemoryStore
from flask_rivo.stores import SessionStore

STORES: dict[str, t.Callable[[], SessionStore]] = {
    "memory": MemoryStore,
}


@pytest.fixture(params=sorted(STORES))
def any_store(request: pytest.FixtureRequest) -> t.Iterator[SessionStore]:
    store = STORES[request.param]()
    yield store
    store.close()

"""Session stores: the public interface and the stores that ship with flask_rivo.

:class:`SQLAlchemyStore` and :class:`RedisStore` are imported on first use,
so an application on the memory store never loads SQLAlchemy's dialects or
needs the ``redis`` package.
"""

from __future__ import annotations

import importlib
import typing as t

from .base import Record as Record
from .base import SessionStore as SessionStore
from .memory import MemoryStore as MemoryStore

if t.TYPE_CHECKING:
    from .redis import RedisStore as RedisStore
    from .sqlalchemy import SQLAlchemyStore as SQLAlchemyStore

__all__ = ["MemoryStore", "Record", "RedisStore", "SQLAlchemyStore", "SessionStore"]

_LAZY = {"SQLAlchemyStore": ".sqlalchemy", "RedisStore": ".redis"}


def __getattr__(name: str) -> t.Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(_LAZY[name], __name__)
    except ImportError as error:
        raise ImportError(
            f"{name} needs the {error.name!r} package;"
            ' for Redis, install "flask-rivo[redis]"',
            name=error.name,
        ) from error
    return getattr(module, name)

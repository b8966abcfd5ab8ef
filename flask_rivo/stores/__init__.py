"""Session stores: the public interface and the stores that ship with flask_rivo."""

from __future__ import annotations

from .base import Record as Record
from .base import SessionStore as SessionStore
from .memory import MemoryStore as MemoryStore

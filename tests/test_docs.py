"""The docs agree with the code: the configuration table lists every default."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from flask_rivo.settings import SESSION_DEFAULTS
from flask_rivo.settings import USERS_DEFAULTS

CONFIG_PAGE = Path(__file__).resolve().parents[1] / "docs" / "config.rst"
#: A list-table row: ``* - ``KEY``  then  ``- ``DEFAULT`` on the next line.
ROW = re.compile(r"\* - ``(RIVO_[A-Z0-9_]+)``\s*\n\s*- ``([^`]*)``")


@pytest.mark.skipif(not CONFIG_PAGE.exists(), reason="docs/ is not in this checkout")
def test_config_tables_match_the_defaults() -> None:
    rows = ROW.findall(CONFIG_PAGE.read_text())
    documented = {key: eval(literal, {"timedelta": timedelta}) for key, literal in rows}  # noqa: S307
    defaults = {**SESSION_DEFAULTS, **USERS_DEFAULTS}
    assert list(documented) == list(defaults)
    assert documented == defaults

"""The docs agree with the code: the configuration table lists every default."""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import sys
import typing as t
from datetime import timedelta
from pathlib import Path

import pytest

from flask_rivo.settings import SESSION_DEFAULTS
from flask_rivo.users.settings import USERS_DEFAULTS

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


USERS_PAGE = CONFIG_PAGE.parent / "users.rst"
USERS_APP = CONFIG_PAGE.parent / "examples" / "users_app.py"
#: The verification link the debug log prints (the test client's host).
LOGGED_LINK = re.compile(r"http://localhost(/verify\?token=\S+)")


def load_users_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> t.Any:
    """docs/examples/users_app.py, imported from a copy, so that its instance
    folder (and SQLite file) is in ``tmp_path``."""
    copy = tmp_path / "users_app.py"
    shutil.copy(USERS_APP, copy)
    spec = importlib.util.spec_from_file_location("docs_users_app", copy)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Flask finds the instance folder through sys.modules.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not USERS_APP.exists(), reason="docs/ is not in this checkout")
def test_users_page_shows_the_setup_that_is_tested() -> None:
    assert ".. literalinclude:: examples/users_app.py" in USERS_PAGE.read_text()


@pytest.mark.skipif(not USERS_APP.exists(), reason="docs/ is not in this checkout")
def test_users_setup_runs_as_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copied verbatim and run with ``flask run --debug``: sign up, follow
    the printed link, confirm, log in, and land on ``/``."""
    from users_support import PASSWORD
    from users_support import Browser

    module = load_users_app(tmp_path, monkeypatch)
    app = module.app
    app.debug = True  # what ``flask run --debug`` does
    app.config["RIVO_BCRYPT_ROUNDS"] = 4
    browser = Browser(app.test_client())
    address = "ann@example.com"
    assert "Sign up" in browser.get("/").text

    with caplog.at_level(logging.WARNING, logger=app.logger.name):
        response = browser.sign_up(address)
    assert response.status_code == 200, response.text
    printed = [r.getMessage() for r in caplog.records if address in r.getMessage()]
    assert len(printed) == 1
    found = LOGGED_LINK.search(printed[0])
    assert found is not None, printed[0]
    assert "Ann's Shop" in printed[0]

    confirmed = browser.submit(found.group(1), {"password": PASSWORD})
    assert confirmed.status_code == 302
    browser.log_out()
    response = browser.log_in(address)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = browser.get("/")
    assert page.status_code == 200
    assert f"Hello, {address}." in page.text
    assert (tmp_path / "instance" / "site.db").exists()


USER_MIGRATION = CONFIG_PAGE.parent / "examples" / "user_migration.py"


@pytest.mark.skipif(not USER_MIGRATION.exists(), reason="docs/ is not in this checkout")
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_user_migration_matches_the_model(
    dialect: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backends: dict[str, t.Any],
) -> None:
    """The hand-written migration of users.rst makes exactly the table of
    the documented model: autogenerate then finds nothing to add or change
    (as tests/stores/test_sqlalchemy.py checks for the session table)."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from backends import use

    module = load_users_app(tmp_path, monkeypatch)
    metadata = module.db.metadata
    assert set(metadata.tables) == {"user"}
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        use(backends[dialect])
        url = backends[dialect].url
    spec = importlib.util.spec_from_file_location("docs_user_migration", USER_MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)

    engine = sa.create_engine(url)
    only_user = {"include_name": lambda n, kind, _: kind != "table" or n == "user"}
    try:
        with engine.begin() as connection:
            connection.execute(sa.text('DROP TABLE IF EXISTS "user"'))
            context = MigrationContext.configure(connection, opts=only_user)
            with Operations.context(context):
                migration.upgrade()
            diff = compare_metadata(
                MigrationContext.configure(
                    connection, opts={**only_user, "compare_type": True}
                ),
                metadata,
            )
            assert diff == []
            with Operations.context(context):
                migration.downgrade()
            assert not sa.inspect(connection).has_table("user")
    finally:
        engine.dispose()

"""The installed package: what a user's ``pip install`` gets."""

from __future__ import annotations

import os
import sysconfig
from importlib import resources
from pathlib import Path

import pytest

import flask_rivo


@pytest.mark.skipif(
    os.environ.get("RIVO_TEST_INSTALLED") != "1",
    reason="set RIVO_TEST_INSTALLED=1 (as make test does) to check the install",
)
def test_tests_run_against_the_installed_package() -> None:
    installed = Path(sysconfig.get_paths()["purelib"]).resolve()
    assert installed in Path(flask_rivo.__file__).resolve().parents


def test_package_ships_its_type_marker() -> None:
    assert resources.files("flask_rivo").joinpath("py.typed").is_file()


def test_public_names() -> None:
    for name in (
        "RivoSessions",
        "cuid",
        "random_id",
        "ConfigError",
        "StoreUnavailable",
    ):
        assert hasattr(flask_rivo, name)
    from flask_rivo.stores import MemoryStore
    from flask_rivo.stores import SessionStore

    assert issubclass(MemoryStore, SessionStore)


@pytest.mark.parametrize("lang", ["de", "fr"])
def test_package_ships_its_compiled_catalogs(lang: str) -> None:
    catalogs = resources.files("flask_rivo").joinpath("translations")
    assert catalogs.joinpath(lang, "LC_MESSAGES", "flask_rivo.mo").is_file()

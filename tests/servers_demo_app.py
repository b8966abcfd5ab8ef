"""A tiny app for ``AppProcess`` to serve in tests/test_servers.py."""

from __future__ import annotations

import os

import flask


def create_app() -> flask.Flask:
    """The app, configured from the environment as ``AppProcess`` passes it."""
    app = flask.Flask(__name__)
    app.config["GREETING"] = os.environ["DEMO_GREETING"]

    @app.get("/")
    def index() -> str:
        return str(app.config["GREETING"])

    return app

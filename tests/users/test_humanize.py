"""Durations and moments in words (Babel), as pages and emails show them."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone

import flask
import pytest

from flask_rivo.users import humanize


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(hours=24), "24 hours"),  # one day: as people say of links
        (timedelta(hours=36), "36 hours"),  # never rounded to "2 days"
        (timedelta(days=3), "3 days"),
        (timedelta(minutes=1), "1 minute"),
        (90, "90 seconds"),
        (1.4, "1 second"),
    ],
)
def test_duration_is_exact(span: timedelta | float, words: str) -> None:
    assert humanize.duration(span) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.2, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),  # rounded up: never too early
        (900, "15 minutes"),
        (3600, "1 hour"),
    ],
)
def test_wait_rounds_up(seconds: float, words: str) -> None:
    assert humanize.wait(seconds) == words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (5, "just now"),
        (60, "1 minute ago"),
        (7200, "2 hours ago"),
        (86400 * 3, "3 days ago"),
    ],
)
def test_ago(seconds: int, words: str) -> None:
    assert humanize.ago(timedelta(seconds=seconds)) == words


def test_moment_names_utc_and_reads_naive_times_as_utc() -> None:
    aware = datetime(2024, 5, 1, 14, 3, tzinfo=timezone(timedelta(hours=2)))
    # CLDR puts a narrow no-break space before PM: it never breaks the line.
    assert humanize.moment(aware) == "May 1, 2024, 12:03\u202fPM UTC"
    naive = datetime(2024, 5, 1, 14, 3)
    assert humanize.moment(naive) == "May 1, 2024, 2:03\u202fPM UTC"


def test_the_language_is_flask_babels_when_installed() -> None:
    flask_babel = pytest.importorskip("flask_babel")
    app = flask.Flask(__name__)
    with app.test_request_context():
        assert str(humanize.locale()) == "en"  # no Flask-Babel on the app
    flask_babel.Babel(app, locale_selector=lambda: "de")
    with app.test_request_context():
        assert str(humanize.locale()) == "de"
        assert humanize.duration(timedelta(days=3)) == "3 Tage"

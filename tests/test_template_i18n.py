"""Translations in templates: markup stays markup, filled-in values are text.

The reauthentication page once showed ``<strong>ada@example.com</strong>``
literally: its ``{% trans %}`` block was escaped as a whole.
"""

from __future__ import annotations

import flask

from flask_rivo import i18n

BLOCK = (
    "{% trans email=email %}Logged in as <strong>{{ email }}</strong>.{% endtrans %}"
)


def render(source: str, **context: object) -> str:
    app = flask.Flask(__name__)
    i18n.install(app)
    with app.test_request_context():
        return flask.render_template_string(source, **context)


def test_a_trans_block_keeps_its_tags_and_escapes_its_values() -> None:
    page = render(BLOCK, email="<script>@example.com")
    assert page == "Logged in as <strong>&lt;script&gt;@example.com</strong>."


def test_gettext_fills_and_escapes_new_style_placeholders() -> None:
    page = render('{{ _("Hi %(name)s & bye", name=name) }}', name="<b>")
    assert page == "Hi &lt;b&gt; & bye"
    plural = render('{{ ngettext("%(num)d tag", "%(num)d tags", 2) }}')
    assert plural == "2 tags"
    assert render('{{ pgettext("verb", "Close") }}') == "Close"


def test_without_autoescape_nothing_is_escaped() -> None:
    page = render("{% autoescape false %}" + BLOCK + "{% endautoescape %}", email="<i>")
    assert page == "Logged in as <strong><i></strong>."


def test_a_percent_sign_is_written_twice_as_in_jinja() -> None:
    assert render('{{ _("100%% sure") }}') == "100% sure"
    assert render("{% trans %}100% sure{% endtrans %}") == "100% sure"

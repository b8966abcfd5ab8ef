"""flask_rivo's own translations: gettext for pages, emails and messages.

flask_rivo ships its catalogs under ``flask_rivo/translations`` in the
gettext domain ``flask_rivo``, apart from the application's own ``messages``
domain, so an application's catalogs and ours never mix. Flask-Babel (the
``babel`` extra) chooses the language; without it every string is English.

Python code marks strings with :func:`gettext` (``_``) or, at import time
(form labels, validator messages), :func:`lazy_gettext`; a constant that is
translated where it is used is marked with :func:`gettext_noop`.

Templates use ``{{ _("...") }}`` and ``{% trans %}`` blocks. Flask-Babel puts
its own ``gettext`` in the Jinja globals, bound to the application's
``messages`` domain, and a template finds globals last: so flask_rivo
renders its pages and emails with :func:`render_template`, which hands the
template flask_rivo's callables in its context, where they come before any
global. The application's own templates keep Flask-Babel's.
"""

from __future__ import annotations

import functools
import importlib
import typing as t
from pathlib import Path

import flask
from babel import Locale
from babel.support import LazyProxy
from babel.support import NullTranslations
from babel.support import Translations
from flask import current_app
from flask import has_app_context
from flask import has_request_context
from flask import request
from jinja2 import pass_context
from markupsafe import Markup

if t.TYPE_CHECKING:
    from flask import Flask
    from jinja2 import Template
    from jinja2.runtime import Context

#: The gettext domain of flask_rivo's catalogs.
DOMAIN = "flask_rivo"
#: Where the compiled catalogs live: ``<locale>/LC_MESSAGES/flask_rivo.mo``.
TRANSLATIONS = Path(__file__).parent / "translations"
#: The language of the source strings, used without Flask-Babel.
DEFAULT_LOCALE = "en"


def languages() -> list[str]:
    """The languages flask_rivo speaks: English and each shipped catalog."""
    return list(_shipped())


@functools.cache
def _shipped() -> tuple[str, ...]:
    """The catalogs in the package (looked for once: they never change)."""
    found = TRANSLATIONS.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")
    return (DEFAULT_LOCALE, *sorted(path.parent.parent.name for path in found))


def _flask_babel() -> t.Any:
    """The flask_babel module if the current application installed it.

    Flask-Babel is optional (the ``babel`` extra), so it is looked up, not
    imported at the top.
    """
    if not has_app_context() or "babel" not in current_app.extensions:
        return None
    try:
        return importlib.import_module("flask_babel")
    except ImportError:  # pragma: no cover - the extension implies the package
        return None


def locale() -> Locale:
    """The language of the current page: Flask-Babel's choice, else English.

    Pages, emails, durations and dates all ask this one function, so that a
    page never mixes two languages.
    """
    flask_babel = _flask_babel()
    if flask_babel is not None:
        _give_babel_a_selector(current_app._get_current_object())  # type: ignore[attr-defined]
        chosen = flask_babel.get_locale()
        if chosen is not None:
            return Locale.parse(chosen)
    return Locale.parse(DEFAULT_LOCALE)


def language_tag() -> str:
    """The page's language as HTML's ``lang`` wants it: ``"de"``, ``"pt-BR"``."""
    return str(locale()).replace("_", "-")


def best_locale() -> str | None:
    """The visitor's language by their browser's ``Accept-Language``.

    A locale selector for Flask-Babel (``Babel(app, locale_selector=
    best_locale)``), which :class:`~flask_rivo.RivoUsers` installs when the
    application gave Flask-Babel none. It picks among the languages someone
    translated: English, flask_rivo's catalogs and the application's own.
    The browser's languages are taken in its order of preference, each
    matching a translation of its own or of its main language (``fr-CA``
    takes ``fr``), so that ``fr-CA,en;q=0.5`` gets French, not English.

    :returns: a locale tag such as ``"de"``, or ``None`` (no request, or
        nothing acceptable) for Flask-Babel's ``BABEL_DEFAULT_LOCALE``.
    """
    if not has_request_context():
        return None
    candidates = languages()
    flask_babel = _flask_babel()
    if flask_babel is not None:
        own = flask_babel.get_babel().instance.list_translations()
        candidates += [str(tag) for tag in own if str(tag) not in candidates]
    known = {_normal(tag): tag for tag in candidates}
    for accepted, quality in request.accept_languages:
        if quality <= 0:
            continue
        tag = _normal(accepted)
        for wanted in (tag, tag.split("-")[0]):
            if wanted in known:
                return known[wanted]
    return None


def _normal(tag: str) -> str:
    return tag.replace("_", "-").lower()


@functools.cache
def _catalog(tag: str) -> NullTranslations:
    """The compiled catalog for a language (read once), or no translation."""
    return Translations.load(str(TRANSLATIONS), [tag], domain=DOMAIN)


def translations() -> NullTranslations:
    """flask_rivo's catalog for the current page's language."""
    return _catalog(str(locale()))


def _app_translations() -> NullTranslations | None:
    """The application's own catalog (Flask-Babel's), if it installed one."""
    flask_babel = _flask_babel()
    return None if flask_babel is None else flask_babel.get_translations()


def _lookup(message: str) -> str:
    """``message`` from flask_rivo's catalog, else from the application's.

    The second lets a template that overrides one of flask_rivo's say
    things flask_rivo's catalog does not have, translated by the
    application's own catalog.
    """
    text: str = translations().ugettext(message)
    if text == message:
        app = _app_translations()
        if app is not None:
            text = app.ugettext(message)
    return text


def _nlookup(singular: str, plural: str, num: int) -> str:
    """:func:`_lookup` for a message with plural forms."""
    text: str = translations().ungettext(singular, plural, num)
    if text in (singular, plural):
        app = _app_translations()
        if app is not None:
            text = app.ungettext(singular, plural, num)
    return text


def _plookup(context: str, message: str) -> str:
    """:func:`_lookup` for a message with a context."""
    text: str = translations().upgettext(context, message)
    if text == message:
        app = _app_translations()
        if app is not None:
            text = app.upgettext(context, message)
    return text


def gettext(message: str, /, **variables: t.Any) -> str:
    """``message`` in the page's language, with ``%(name)s`` filled in."""
    text = _lookup(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, /, **variables: t.Any) -> str:
    """The singular or plural form for ``num`` (``%(num)d`` is available)."""
    variables.setdefault("num", num)
    return _nlookup(singular, plural, num) % variables


def pgettext(context: str, message: str, /, **variables: t.Any) -> str:
    """:func:`gettext` with a context, for a word with two meanings."""
    text = _plookup(context, message)
    return text % variables if variables else text


def lazy_gettext(message: str, /, **variables: t.Any) -> LazyProxy:
    """:func:`gettext` deferred to when the string is used (in a request).

    For strings made at import time: form labels, validator messages.
    """
    return LazyProxy(gettext, message, enable_cache=False, **variables)


def gettext_noop(message: str) -> str:
    """Mark ``message`` for the catalogs and return it untranslated.

    For a constant that is translated where it is shown
    (``gettext(CONSTANT)``), and that code and tests compare as it is.
    """
    return message


# The templates' callables, with the behaviour of Jinja's "new style"
# gettext (which Flask-Babel uses too): the result is always a format string,
# and in an HTML template it is markup whose variables are escaped.


def _markup(context: Context, text: str) -> str:
    # The text is a msgid of a template or its translation in a catalog
    # shipped with it, both trusted as the template is; the variables that
    # fill it in are escaped by Markup's ``%``.
    return Markup(text) if context.eval_ctx.autoescape else text  # noqa: S704


@pass_context
def _template_gettext(context: Context, message: str, /, **variables: t.Any) -> str:
    return _markup(context, _lookup(message)) % variables


@pass_context
def _template_ngettext(
    context: Context, singular: str, plural: str, num: int, /, **variables: t.Any
) -> str:
    variables.setdefault("num", num)
    return _markup(context, _nlookup(singular, plural, num)) % variables


@pass_context
def _template_pgettext(
    context: Context, msgctxt: str, message: str, /, **variables: t.Any
) -> str:
    return _markup(context, _plookup(msgctxt, message)) % variables


#: What flask_rivo's templates find in their context: ``_()``, and the
#: names ``{% trans %}`` blocks call, bound to flask_rivo's catalogs.
TEMPLATE_CONTEXT: t.Mapping[str, t.Callable[..., str]] = {
    "_": _template_gettext,
    "gettext": _template_gettext,
    "ngettext": _template_ngettext,
    "pgettext": _template_pgettext,
}


def render_template(
    template: str | Template | list[str | Template], **context: t.Any
) -> str:
    """Flask's ``render_template`` with flask_rivo's catalogs in the context.

    Every page and email of flask_rivo is rendered through this, so that its
    ``_()`` and ``{% trans %}`` find flask_rivo's catalogs whatever the
    application put in the Jinja globals; templates it includes see them
    too, and macros imported ``with context``. An application that renders a
    template extending ``rivo/base.html`` may use it as well, to have the
    layout's words translated (its own strings fall back to its catalog).
    """
    return flask.render_template(template, **{**TEMPLATE_CONTEXT, **context})


def _give_babel_a_selector(app: Flask) -> None:
    """Let the browser's language choose when the application did not.

    Flask-Babel without a ``locale_selector`` always answers
    ``BABEL_DEFAULT_LOCALE``: then :func:`best_locale` becomes its selector,
    for the whole site, so that the application's pages and flask_rivo's
    agree. An application's own selector is never replaced.
    """
    config = app.extensions.get("babel")
    if config is not None and getattr(config, "locale_selector", True) is None:
        config.locale_selector = best_locale


def install(app: Flask) -> None:
    """Let flask_rivo's templates use ``_()`` and ``{% trans %}``.

    Adds Jinja's i18n extension (new style: ``%(name)s`` placeholders are
    filled by the call, as with Flask-Babel) when the application has not,
    and gives templates that are not rendered by :func:`render_template`
    (an application's page extending ``rivo/base.html``) flask_rivo's
    ``gettext`` when nothing else provides one. With Flask-Babel and no
    locale selector, :func:`best_locale` chooses the language (also when
    Flask-Babel is installed after RivoUsers: checked before each request).
    """
    if "jinja2.ext.InternationalizationExtension" not in app.jinja_env.extensions:
        app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.newstyle_gettext = True  # type: ignore[attr-defined]
    for name, function in TEMPLATE_CONTEXT.items():
        app.jinja_env.globals.setdefault(name, function)
    app.jinja_env.globals["rivo_language"] = language_tag
    _give_babel_a_selector(app)
    app.before_request(_before_request)


def _before_request() -> None:
    _give_babel_a_selector(current_app._get_current_object())  # type: ignore[attr-defined]
